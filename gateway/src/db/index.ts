/** The db feature's public surface: other features import only this file. */
export { isDatabaseUnreachable, openPostgres, type PostgresOptions, postgresTarget } from './postgres.js'
export { isUniqueViolation, type SharedDb, type SharedDialect, sqliteSharedDb } from './shared-db.js'
export { sharedDbFromEnv } from './shared-from-env.js'
export { migrateShared, type SharedSchema } from './shared-migrate.js'
export {
  type Db,
  migrate,
  openDb,
  PAGE_SIZE,
  STATEMENT_CACHE_MAX,
  type StatementCache,
  statementCache,
  writeTransaction,
} from './sqlite.js'
