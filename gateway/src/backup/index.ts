/**
 * The backup feature's public surface: the CLI commands, the state file a running gateway writes,
 * and the databases-only backup the gateway takes before it upgrades a schema.
 */

export { fmtBytes } from './backup.js'
export { BACKUP_USAGE, RESTORE_USAGE, runBackupCli, runRestoreCli } from './cli.js'
export { backupDatabases, databaseBytes } from './database-backup.js'
export { type Manifest, readManifest, verifyFiles } from './manifest.js'
export { markStopped, RUN_STATE_FILE, writeRunState } from './run-state.js'
export { DATABASES, type DatabaseFile } from './sources.js'
