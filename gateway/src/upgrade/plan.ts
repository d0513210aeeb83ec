import fs from 'node:fs'
import Database from 'better-sqlite3'

/** What a database file says of itself: the release that last started on it and each feature's version. */
export interface DatabaseState {
  /** null: written by a release before releases were recorded. */
  release: string | null
  versions: Record<string, number>
}

/** A feature whose version in the database differs from this release's. */
export interface Drift {
  feature: string
  database: number
  release: number
}

export type Plan =
  /** No file, or no feature has migrated in it yet: nothing to keep, nothing to refuse. */
  | { kind: 'fresh' }
  | { kind: 'current' }
  | { kind: 'upgrade'; behind: Drift[] }
  /** A newer release wrote it: `ahead` lists the features past this release's versions. */
  | { kind: 'downgrade'; ahead: Drift[] }

/**
 * Reads a database's versions over a read-only connection, so that a refused start leaves the
 * file as it found it (a read/write open could checkpoint a WAL or change the journal mode).
 * null when there is no file.
 */
export function readState(file: string): DatabaseState | null {
  if (!fs.existsSync(file)) return null
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    const has = (table: string) =>
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined
    const versions: Record<string, number> = {}
    if (has('schema_versions')) {
      const rows = db.prepare('SELECT feature, version FROM schema_versions').all() as Array<{
        feature: string
        version: number
      }>
      for (const r of rows) versions[r.feature] = r.version
    }
    const row = has('schema_release')
      ? (db.prepare('SELECT release FROM schema_release WHERE id = 1').get() as
          | { release: string }
          | undefined)
      : undefined
    return { release: row?.release ?? null, versions }
  } finally {
    db.close()
  }
}

/**
 * What to do with a database this release knows as `known` (feature → version). A feature the
 * database has and this release does not know is ahead too: a later release added it.
 */
export function plan(state: DatabaseState | null, known: Record<string, number>): Plan {
  if (!state || Object.keys(state.versions).length === 0) return { kind: 'fresh' }
  const features = [...new Set([...Object.keys(known), ...Object.keys(state.versions)])].sort()
  const drift = features
    .map((feature) => ({ feature, database: state.versions[feature] ?? 0, release: known[feature] ?? 0 }))
    .filter((d) => d.database !== d.release)
  const ahead = drift.filter((d) => d.database > d.release)
  if (ahead.length > 0) return { kind: 'downgrade', ahead }
  if (drift.length > 0) return { kind: 'upgrade', behind: drift }
  return { kind: 'current' }
}

/**
 * The features whose tables are in the PostgreSQL that gateways share, when one is configured
 * (`DOORSTEP_DATABASE_URL`); the rest stay in each gateway's own file.
 */
export const POSTGRES_FEATURES: readonly string[] = [
  'registry',
  'tokens',
  'audit',
  'clips',
  'cases',
  'firmware',
]
