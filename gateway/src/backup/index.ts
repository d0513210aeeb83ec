/** The backup feature's public surface: the CLI commands, and the state file a running gateway writes. */
export { BACKUP_USAGE, RESTORE_USAGE, runBackupCli, runRestoreCli } from './cli.js'
export { RUN_STATE_FILE, removeRunState, writeRunState } from './run-state.js'
