/**
 * Where event rows live. New events go into `event_recent`, kept small so
 * that a group commit touches few pages of its indexes however many events
 * the city has made; rows that went quiet move on into one table per month
 * of their start (`event_m_YYYYMM`, then `event_m_YYYYMM_2`, … past `PART_ROWS`
 * rows), which retention drops whole. Rows a case
 * holds are kept in `event_kept` when their month goes.
 */
export const RECENT = 'event_recent'
export const KEPT = 'event_kept'

/** The columns of every event table, in the order the moves copy them. */
export const COLUMNS = [
  'event_id',
  'id_key',
  'device_id',
  'district',
  'kind',
  'phase',
  'score',
  'zone',
  'started_at',
  'ended_at',
  'updated_at',
  'lat',
  'lon',
  'clip_state',
  'clip_bytes',
  'clip_sha256',
  'clip_duration_ms',
  'clip_codec',
  'phases_seen',
] as const

/** A month as the number YYYYMM (UTC). */
export type Month = number

export function monthOf(t: number): Month {
  const d = new Date(t)
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1
}

export function monthStart(m: Month): number {
  return Date.UTC(Math.floor(m / 100), (m % 100) - 1, 1)
}

/** The first instant after the month. */
export function monthEnd(m: Month): number {
  return Date.UTC(Math.floor(m / 100), m % 100, 1)
}

/**
 * The rows a month's table takes before the month goes on in a new one. A move lands on pages all over
 * the table's id index (ids are random): in one table per month that index grew with the month, and a
 * move at the month's end cost three to four times one at its start (bench:year). Parts of this size
 * keep it bounded, about six days of the city's events each, so a month is a handful of tables.
 */
export const PART_ROWS = 500_000

/** The table of a month's `part`: `event_m_YYYYMM` for the first (as before parts), `event_m_YYYYMM_2` on. */
export function partitionName(m: Month, part = 1): string {
  return part <= 1 ? `event_m_${m}` : `event_m_${m}_${part}`
}

/** Which part of its month a table is (1 for the first), from its name. */
export function partOf(name: string): number {
  const m = /^event_m_\d{6}_(\d+)$/.exec(name)
  return m ? Number(m[1]) : 1
}

/**
 * The DDL of an event table: the same columns and indexes for the recent
 * table, each month and the kept rows, so one query text fits them all.
 * `name` comes from this file only (a month number or a constant).
 */
export function tableDdl(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
    event_id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    score REAL NOT NULL,
    zone TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    updated_at INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    clip_state TEXT NOT NULL DEFAULT 'none',
    clip_bytes INTEGER,
    clip_sha256 TEXT,
    clip_duration_ms INTEGER,
    clip_codec TEXT,
    phases_seen INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS ${name}_key ON ${name} (id_key);
  CREATE INDEX IF NOT EXISTS ${name}_started ON ${name} (started_at, event_id);
  CREATE INDEX IF NOT EXISTS ${name}_device ON ${name} (device_id, started_at);
  CREATE INDEX IF NOT EXISTS ${name}_district ON ${name} (district, started_at);
  CREATE INDEX IF NOT EXISTS ${name}_lat ON ${name} (lat, lon);
  CREATE INDEX IF NOT EXISTS ${name}_clip ON ${name} (clip_state, started_at) WHERE clip_state <> 'none';`
}
