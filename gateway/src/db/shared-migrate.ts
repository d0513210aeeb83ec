import { sql } from 'kysely'
import type { SharedDb } from './shared-db.js'
import { migrate } from './sqlite.js'

/**
 * A feature's migrations for each engine. Both lists must lead to the same tables and columns (the
 * feature's queries are written once); they differ in types: PostgreSQL's BIGINT for milliseconds,
 * DOUBLE PRECISION for REAL, BYTEA for BLOB. Steps are frozen text, as with `migrate`.
 */
export interface SharedSchema {
  sqlite: readonly string[]
  postgres: readonly string[]
}

/**
 * Any fixed number works, as long as every release uses the same: the gateways starting at once
 * after an upgrade take this lock, so one migrates and the others then find nothing to do.
 */
const MIGRATION_LOCK = 7_310_582_193

/**
 * Brings `feature`'s tables to the newest step on the shared database. On SQLite this is `migrate`.
 * On PostgreSQL the steps and the version row go in one transaction, under an advisory lock held to
 * its end, so that several gateways starting together never run a step twice.
 */
export async function migrateShared(shared: SharedDb, feature: string, schema: SharedSchema): Promise<void> {
  if (shared.sqlite) {
    migrate(shared.sqlite, feature, schema.sqlite)
    return
  }
  const steps = schema.postgres
  await shared
    .tables<Record<never, never>>()
    .transaction()
    .execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx)
      await sql`CREATE TABLE IF NOT EXISTS schema_versions (feature TEXT PRIMARY KEY, version INTEGER NOT NULL)`.execute(
        trx,
      )
      const found = await sql<{
        version: number
      }>`SELECT version FROM schema_versions WHERE feature = ${feature}`.execute(trx)
      const from = found.rows[0]?.version ?? 0
      if (from >= steps.length) return
      // No parameters: the driver sends each step as a simple query, which may hold several statements.
      for (let v = from; v < steps.length; v++) await sql.raw(steps[v] as string).execute(trx)
      await sql`INSERT INTO schema_versions (feature, version) VALUES (${feature}, ${steps.length})
        ON CONFLICT (feature) DO UPDATE SET version = excluded.version`.execute(trx)
    })
}
