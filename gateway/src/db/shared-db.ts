import { Kysely, type QueryExecutorProvider, SqliteDialect, sql } from 'kysely'
import type { Db } from './sqlite.js'

/** Which engine holds the state the gateways share. */
export type SharedDialect = 'sqlite' | 'postgres'

/** Kysely with no tables known: each feature names its own with `tables<T>()`. */
type Untyped = Record<never, never>

/**
 * The database a feature's shared state lives in: SQLite in the gateway's own file on one machine,
 * PostgreSQL when several gateways share it (`DOORSTEP_DATABASE_URL`). A feature writes its queries
 * once, with Kysely, and they run on either; what differs (a migration's column types, how another
 * node's change is heard) is asked of this object rather than tested for in the feature.
 */
export interface SharedDb {
  readonly dialect: SharedDialect
  /** The query builder over this database, typed with the feature's own tables. */
  tables<T>(): Kysely<T>
  /**
   * Runs `fn` in a transaction that holds the write lock from its first statement: on SQLite BEGIN
   * IMMEDIATE (the file has a second writer on the ingest worker's thread, and a deferred transaction
   * that read first could then fail on a stale snapshot), on PostgreSQL a plain transaction. `fn` gets
   * the query builder bound to that transaction; what it passes on (an audit append, a custody entry)
   * joins it. On SQLite `fn` must await nothing but its queries: the handle is the gateway's, and
   * synchronous writers of other features would otherwise run inside it.
   */
  write<T, R>(fn: (trx: Kysely<T>) => Promise<R>): Promise<R>
  /**
   * The SQLite handle under the query builder, for what has no portable form yet (the per-feature
   * migrations of `migrate`); null on PostgreSQL.
   */
  readonly sqlite: Db | null
  /**
   * Tells the other gateways that `payload` on `channel` changed (PostgreSQL NOTIFY, sent when the
   * transaction `within` commits, or at once without one). Nothing to tell on SQLite: one gateway.
   */
  notify(channel: string, payload: string, within?: QueryExecutorProvider): Promise<void>
  /**
   * Calls `onChange` with each payload another gateway (or this one) notifies on `channel`, and
   * `onResync` after a lost connection to the database comes back: what was said meanwhile is gone,
   * so the listener reloads what it keeps. Resolves once the channel is listened to: what is read after
   * it misses no change. Nothing to hear on SQLite.
   */
  listen(channel: string, onChange: (payload: string) => void, onResync: () => void): Promise<void>
  /**
   * Whether the database is reachable as far as this gateway last saw: on PostgreSQL, whether the
   * connection that listens for other gateways' changes is up (it is the first to hear of the server
   * going away, and reconnects by itself). Always true on SQLite. Read by `doorstep_database_up`.
   */
  up(): boolean
  /** Ends the connections this object opened (the SQLite handle belongs to its opener). */
  close(): Promise<void>
}

/** The shared state in the gateway's own SQLite file: the single-machine default. */
export function sqliteSharedDb(db: Db): SharedDb {
  const kysely = new Kysely<Untyped>({ dialect: new SqliteDialect({ database: db }) })
  return {
    dialect: 'sqlite',
    sqlite: db,
    tables: <T>() => kysely as unknown as Kysely<T>,
    write: <T, R>(fn: (trx: Kysely<T>) => Promise<R>) =>
      // One connection held throughout: Kysely's SQLite driver has only the one, behind a mutex.
      kysely.connection().execute(async (conn) => {
        await sql`BEGIN IMMEDIATE`.execute(conn)
        try {
          const out = await fn(conn as unknown as Kysely<T>)
          await sql`COMMIT`.execute(conn)
          return out
        } catch (err) {
          if (db.inTransaction) await sql`ROLLBACK`.execute(conn)
          throw err
        }
      }),
    notify: async () => {},
    listen: async () => {},
    up: () => true,
    // Kysely's SQLite driver would close the handle, which the gateway closes itself, later.
    close: async () => {},
  }
}

/**
 * A write refused because a UNIQUE or PRIMARY KEY constraint already holds the value, on either
 * engine (SQLite's SQLITE_CONSTRAINT_* codes, PostgreSQL's SQLSTATE 23505).
 */
export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}
