/** The db feature's public surface: other features import only this file. */
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
