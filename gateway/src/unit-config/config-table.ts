import { type ConfigReported, UnitConfig, UnitConfigPatch } from '@doorstep/proto'
import { type Db, migrate, statementCache, writeTransaction } from '../db/index.js'

/**
 * The feature's migrations (`migrate(db, 'unit-config', ...)`), frozen text: a change is a new step.
 * One row per unit in each table: the latest desired version (older ones are in the audit log's
 * changes) and the unit's latest answer. Step 2: the fleet's and each district's changes merged into
 * one patch per scope (`fleet`, `district:<n>`), which a unit joining later starts from.
 */
export const UNIT_CONFIG_SCHEMA = [
  `CREATE TABLE unit_config_desired (
    device_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 1),
    config TEXT NOT NULL,
    set_at INTEGER NOT NULL,
    set_by TEXT NOT NULL,
    scope TEXT NOT NULL
  );
  CREATE TABLE unit_config_reported (
    device_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    reason TEXT,
    running_version INTEGER NOT NULL,
    running TEXT NOT NULL,
    reported_at INTEGER NOT NULL
  );`,
  `CREATE TABLE unit_config_layers (
    scope TEXT PRIMARY KEY,
    patch TEXT NOT NULL,
    set_at INTEGER NOT NULL,
    set_by TEXT NOT NULL
  );`,
]

export interface DesiredRow {
  deviceId: string
  version: number
  config: UnitConfig
  at: number
  by: string
  /** `device`, `district:<n>` or `fleet`: which change set it. */
  scope: string
}

export interface ReportedRow {
  deviceId: string
  version: number
  applied: boolean
  reason: string | null
  runningVersion: number
  running: UnitConfig
  at: number
}

interface DesiredSql {
  device_id: string
  version: number
  config: string
  set_at: number
  set_by: string
  scope: string
}

interface ReportedSql {
  device_id: string
  version: number
  applied: number
  reason: string | null
  running_version: number
  running: string
  reported_at: number
}

// Rows were validated on the way in; parsing again fills defaults a later version of the schema adds.
const desiredOf = (r: DesiredSql): DesiredRow => ({
  deviceId: r.device_id,
  version: r.version,
  config: UnitConfig.parse(JSON.parse(r.config)),
  at: r.set_at,
  by: r.set_by,
  scope: r.scope,
})

const reportedOf = (r: ReportedSql): ReportedRow => ({
  deviceId: r.device_id,
  version: r.version,
  applied: r.applied === 1,
  reason: r.reason,
  runningVersion: r.running_version,
  running: UnitConfig.parse(JSON.parse(r.running)),
  at: r.reported_at,
})

/** The desired and reported tables on the gateway's connection. */
export class ConfigTable {
  readonly #db: Db
  readonly #st: ReturnType<typeof statementCache>

  constructor(db: Db) {
    this.#db = db
    this.#st = statementCache(db)
  }

  migrate(): void {
    migrate(this.#db, 'unit-config', UNIT_CONFIG_SCHEMA)
  }

  desired(deviceId: string): DesiredRow | null {
    const r = this.#st('SELECT * FROM unit_config_desired WHERE device_id = ?').get(deviceId) as
      | DesiredSql
      | undefined
    return r ? desiredOf(r) : null
  }

  allDesired(): DesiredRow[] {
    return (this.#st('SELECT * FROM unit_config_desired').all() as DesiredSql[]).map(desiredOf)
  }

  reported(deviceId: string): ReportedRow | null {
    const r = this.#st('SELECT * FROM unit_config_reported WHERE device_id = ?').get(deviceId) as
      | ReportedSql
      | undefined
    return r ? reportedOf(r) : null
  }

  allReported(): ReportedRow[] {
    return (this.#st('SELECT * FROM unit_config_reported').all() as ReportedSql[]).map(reportedOf)
  }

  /** The fleet's and the districts' merged changes, by scope (`fleet`, `district:<n>`). */
  layers(): Map<string, UnitConfigPatch> {
    const rows = this.#st('SELECT scope, patch FROM unit_config_layers').all() as Array<{
      scope: string
      patch: string
    }>
    return new Map(rows.map((r) => [r.scope, UnitConfigPatch.parse(JSON.parse(r.patch))]))
  }

  /**
   * Sets each unit's next version in one transaction, computed from its current row by `next`: either
   * every unit of a change gets its new version or none does. `layer`, for a district's or the fleet's
   * change, is that scope's merged patch, written in the same transaction.
   */
  change(
    deviceIds: readonly string[],
    next: (current: UnitConfig | null, deviceId: string) => UnitConfig,
    meta: { at: number; by: string; scope: string },
    layer?: UnitConfigPatch,
  ): DesiredRow[] {
    return writeTransaction(this.#db, () => {
      if (layer)
        this.#st(
          `INSERT INTO unit_config_layers (scope, patch, set_at, set_by) VALUES (?, ?, ?, ?)
           ON CONFLICT(scope) DO UPDATE SET patch = excluded.patch, set_at = excluded.set_at,
             set_by = excluded.set_by`,
        ).run(meta.scope, JSON.stringify(layer), meta.at, meta.by)
      return deviceIds.map((deviceId) => {
        const cur = this.desired(deviceId)
        const row: DesiredRow = {
          deviceId,
          version: (cur?.version ?? 0) + 1,
          config: next(cur?.config ?? null, deviceId),
          ...meta,
        }
        this.#st(
          `INSERT INTO unit_config_desired (device_id, version, config, set_at, set_by, scope)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, config = excluded.config,
             set_at = excluded.set_at, set_by = excluded.set_by, scope = excluded.scope`,
        ).run(deviceId, row.version, JSON.stringify(row.config), row.at, row.by, row.scope)
        return row
      })
    })
  }

  /** Keeps a unit's answer unless it already answered a later version (reports may arrive out of order). */
  report(deviceId: string, r: ConfigReported, at: number): boolean {
    const res = this.#st(
      `INSERT INTO unit_config_reported
         (device_id, version, applied, reason, running_version, running, reported_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, applied = excluded.applied,
         reason = excluded.reason, running_version = excluded.running_version, running = excluded.running,
         reported_at = excluded.reported_at
       WHERE excluded.version >= unit_config_reported.version`,
    ).run(
      deviceId,
      r.version,
      r.applied ? 1 : 0,
      r.applied ? null : r.reason,
      r.runningVersion,
      JSON.stringify(r.running),
      at,
    )
    return res.changes > 0
  }
}
