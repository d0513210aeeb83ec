/** The backup feature's public surface: the CLI commands, and the state file a running gateway writes. */
export { BACKUP_USAGE, RESTORE_USAGE, runBackupCli, runRestoreCli } from './cli.js'
export { markStopped, RUN_STATE_FILE, writeRunState } from './run-state.js'
