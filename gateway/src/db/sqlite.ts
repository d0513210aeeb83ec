import fs from 'node:fs'
import path from 'node:path'
import Database, { type Statement } from 'better-sqlite3'

export type Db = Database.Database

/**
 * The page size of a database this version creates. The event index's id
 * key is random, so each new event dirties a page of it, and every dirty
 * page is one WAL frame (a write and a checksum) per group commit. With 16
 * KiB pages there are a quarter as many frames for the same index: the
 * spool's commit cost about 15% less per event on a fresh index, and about
 * 40% less once it held 300,000 events from 2,896 units (see
 * gateway/README.md). A database made before keeps its page size.
 */
export const PAGE_SIZE = 16_384

/**
 * Opens a SQLite database in WAL mode. `synchronous` is FULL where a commit
 * must survive power loss (the spool); NORMAL elsewhere, which in WAL mode
 * still survives a killed process.
 */
export function openDb(file: string, opts: { synchronous?: 'FULL' | 'NORMAL' } = {}): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true })
  const db = new Database(file)
  // Takes effect only while the file is still empty; WAL mode fixes it from then on.
  db.pragma(`page_size = ${PAGE_SIZE}`)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`)
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  return db
}

/** Statements one cache keeps: each holds compiled bytecode, and a dropped table's would never be used again. */
export const STATEMENT_CACHE_MAX = 256

/** A statement per SQL text; `size` is how many are kept. */
export type StatementCache = ((sql: string) => Statement) & { readonly size: number }

/**
 * A statement per SQL text, prepared the first time it is asked for and
 * reused after: some queries run on every connect and disconnect of a unit.
 * Most texts are fixed, but some name a table (the event index's months) or
 * the columns of an update, so the set grows with time; past `max` the least
 * recently used statement is dropped (a Map keeps insertion order, and a hit
 * moves its entry to the end).
 */
export function statementCache(db: Db, max = STATEMENT_CACHE_MAX): StatementCache {
  const stmts = new Map<string, Statement>()
  const get = (sql: string): Statement => {
    let st = stmts.get(sql)
    if (st) {
      stmts.delete(sql)
    } else {
      st = db.prepare(sql)
      if (stmts.size >= max) {
        const oldest = stmts.keys().next().value
        if (oldest !== undefined) stmts.delete(oldest)
      }
    }
    stmts.set(sql, st)
    return st
  }
  return Object.defineProperty(get, 'size', { get: () => stmts.size }) as StatementCache
}

/**
 * Runs `fn` in a transaction that takes the write lock at BEGIN (IMMEDIATE).
 * The database has a second writer on another thread (the event index, from
 * the ingest worker): a deferred transaction that read first could then fail
 * on a stale snapshot, where this one waits its turn under busy_timeout.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate()
}

/**
 * Each feature owns its tables and migrates them itself: `steps[i]` takes the
 * feature's schema from version i to i+1. Versions are kept per feature, so
 * features never edit one shared migration list. Steps are frozen text (a change
 * is a new step): `upgrade/` compares a database's versions with the release's
 * before any feature migrates, and a fixture rebuilds an old release's schema
 * from the first steps of each list.
 */
export function migrate(db: Db, feature: string, steps: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_versions (feature TEXT PRIMARY KEY, version INTEGER NOT NULL)')
  const row = db.prepare('SELECT version FROM schema_versions WHERE feature = ?').get(feature) as
    | { version: number }
    | undefined
  const from = row?.version ?? 0
  if (from >= steps.length) return
  writeTransaction(db, () => {
    for (let v = from; v < steps.length; v++) db.exec(steps[v] as string)
    db.prepare(
      'INSERT INTO schema_versions (feature, version) VALUES (?, ?) ON CONFLICT(feature) DO UPDATE SET version = excluded.version',
    ).run(feature, steps.length)
  })
}
