import type { ClipState, EventsQuery } from '@doorstep/proto'
import { CompiledQuery, type Kysely, type RawBuilder, sql } from 'kysely'
import { migrateShared, type SharedDb } from '../db/index.js'
import { decodeCursor, encodeCursor } from './event-cursor.js'
import type { EventPage, EventReader } from './event-reader.js'
import type { EventRow, IndexedEvent } from './event-row.js'
import { toEvent } from './event-row.js'
import { boundingBox } from './geo.js'
import { COLUMNS } from './partitions.js'

/**
 * The cluster's event index in PostgreSQL: one row per event id, merged from what each gateway
 * indexed. Event ids are compared byte by byte (`COLLATE "C"`), as SQLite does, so a page cursor
 * means the same on every gateway. Only PostgreSQL: on one machine the gateway's own index is the
 * whole city's.
 */
export const SHARED_EVENTS_SCHEMA = {
  sqlite: [] as string[],
  postgres: [
    `CREATE TABLE events (
       event_id TEXT COLLATE "C" PRIMARY KEY,
       device_id TEXT NOT NULL,
       district INTEGER NOT NULL,
       kind TEXT NOT NULL,
       phase TEXT NOT NULL,
       score DOUBLE PRECISION NOT NULL,
       zone TEXT,
       started_at BIGINT NOT NULL,
       ended_at BIGINT,
       updated_at BIGINT NOT NULL,
       lat DOUBLE PRECISION NOT NULL,
       lon DOUBLE PRECISION NOT NULL,
       clip_state TEXT NOT NULL,
       clip_bytes BIGINT,
       clip_sha256 TEXT,
       clip_duration_ms BIGINT,
       clip_codec TEXT,
       phases_seen INTEGER NOT NULL,
       node TEXT NOT NULL
     );
     CREATE INDEX events_started ON events (started_at, event_id);
     CREATE INDEX events_device ON events (device_id, started_at);
     CREATE INDEX events_district ON events (district, started_at);
     CREATE INDEX events_lat ON events (lat, lon);`,
    // Which gateways have copied in the events they indexed before they shared this database.
    `CREATE TABLE event_backfills (node TEXT PRIMARY KEY, rows BIGINT NOT NULL, done_at BIGINT NOT NULL);`,
  ],
}

/**
 * The columns a gateway ships, in this order: the index's own (partitions.ts) but the integer key, which
 * only SQLite's lookups need, and the gateway that shipped them.
 */
const FROM_INDEX = COLUMNS.filter((c): c is Exclude<(typeof COLUMNS)[number], 'id_key'> => c !== 'id_key')
const SHIPPED = [...FROM_INDEX, 'node'] as const

/** Phases as the index's `phases_seen` bits (event-merge.ts). */
const START_BIT = 1
const END_BIT = 4

/** 19 parameters a row: 500 rows stay far below PostgreSQL's 65,535 per statement. */
export const MAX_SHIP_ROWS = 500

/**
 * How two gateways' rows of one event merge: a unit that moved mid-event has its `start` on one and
 * its `end` on another, and each ships what it has. The row furthest along its lifecycle (then the
 * one heard last) names kind and phase; a `start` seen anywhere dates the event; the end and the clip
 * come from whichever saw them; the clip's gateway is the row's `node`. A row of the same gateway
 * again (its own later state) supersedes its earlier one by the same rules. The id of another unit's
 * event changes nothing.
 */
const RANK = (t: string) => `CASE ${t}.phase WHEN 'start' THEN 0 WHEN 'update' THEN 1 ELSE 2 END`
const NEWER = `(${RANK('excluded')} > ${RANK('e')} OR (${RANK('excluded')} = ${RANK('e')} AND excluded.updated_at >= e.updated_at))`
const HAS = (t: string, bit: number) => `(${t}.phases_seen & ${bit}) <> 0`
/**
 * Whether a shipped row's clip replaces the shared row's. A gateway's own index says `pending` once a unit
 * announces a clip; from there the clips feature moves the shared row on (`uploading`, `ready`,
 * `rejected`, `expired`) through whichever gateway the unit uploads to, and no later shipment of the
 * announcing row takes that back. A clip announced anew (another digest) replaces one never stored
 * (`none`, `pending`, `rejected`), as on one machine. A row shipped with a state past `pending` (events a
 * gateway indexed before it shared the database) carries the clips feature's word, and is taken.
 */
const CLIP = `(excluded.clip_state <> 'none' AND (e.clip_state IN ('none', 'pending')
  OR excluded.clip_state NOT IN ('none', 'pending')
  OR (e.clip_state = 'rejected' AND e.clip_sha256 IS DISTINCT FROM excluded.clip_sha256)))`
const MERGE = `
  kind = CASE WHEN ${NEWER} THEN excluded.kind ELSE e.kind END,
  phase = CASE WHEN ${NEWER} THEN excluded.phase ELSE e.phase END,
  score = GREATEST(e.score, excluded.score),
  zone = CASE WHEN ${NEWER} THEN COALESCE(excluded.zone, e.zone) ELSE COALESCE(e.zone, excluded.zone) END,
  started_at = CASE
    WHEN ${HAS('excluded', START_BIT)} AND NOT ${HAS('e', START_BIT)} THEN excluded.started_at
    WHEN ${HAS('e', START_BIT)} AND NOT ${HAS('excluded', START_BIT)} THEN e.started_at
    ELSE LEAST(e.started_at, excluded.started_at) END,
  ended_at = CASE WHEN ${HAS('excluded', END_BIT)} THEN excluded.ended_at ELSE e.ended_at END,
  updated_at = GREATEST(e.updated_at, excluded.updated_at),
  clip_state = CASE WHEN ${CLIP} THEN excluded.clip_state ELSE e.clip_state END,
  clip_bytes = CASE WHEN ${CLIP} THEN excluded.clip_bytes ELSE e.clip_bytes END,
  clip_sha256 = CASE WHEN ${CLIP} THEN excluded.clip_sha256 ELSE e.clip_sha256 END,
  clip_duration_ms = CASE WHEN ${CLIP} THEN excluded.clip_duration_ms ELSE e.clip_duration_ms END,
  clip_codec = CASE WHEN ${CLIP} THEN excluded.clip_codec ELSE e.clip_codec END,
  phases_seen = e.phases_seen | excluded.phases_seen,
  node = CASE WHEN ${CLIP} OR e.clip_state = 'none' THEN excluded.node ELSE e.node END`

/** The upsert of `n` rows, its text made once per size. */
const upserts = new Map<number, string>()
function upsertSql(n: number): string {
  let text = upserts.get(n)
  if (!text) {
    const tuples: string[] = []
    for (let i = 0; i < n; i++)
      tuples.push(`(${SHIPPED.map((_, c) => `$${i * SHIPPED.length + c + 1}`).join(', ')})`)
    text = `INSERT INTO events AS e (${SHIPPED.join(', ')}) VALUES ${tuples.join(', ')}
      ON CONFLICT (event_id) DO UPDATE SET ${MERGE}
      WHERE e.device_id = excluded.device_id`
    upserts.set(n, text)
  }
  return text
}

/** Great-circle distance in metres from (lat, lon) bound as parameters to the row's (geo.ts's formula). */
function haversineSql(lat: number, lon: number): RawBuilder<number> {
  return sql<number>`2 * 6371008.8 * asin(least(1, sqrt(
    power(sin(radians(lat - ${lat}) / 2), 2)
    + cos(radians(${lat}::double precision)) * cos(radians(lat)) * power(sin(radians(lon - ${lon}) / 2), 2))))`
}

/** How many rows one retention statement deletes: short transactions beside the shippers' inserts. */
const DELETE_BATCH = 10_000

/**
 * Any fixed number works, as long as every release uses the same: the gateway that holds it sweeps the
 * shared index, the others skip that turn.
 */
const SWEEP_LOCK = 7_310_582_207

/** What one sweep of the shared index did; `swept` false when another gateway was sweeping. */
export interface SharedSweep {
  swept: boolean
  removed: number
}

/**
 * The shared event table: what the shipper writes, and what every gateway's events API, case pages
 * and retention read. On PostgreSQL only.
 */
export class SharedEventTable implements EventReader {
  readonly #shared: SharedDb

  constructor(shared: SharedDb) {
    if (shared.dialect !== 'postgres') throw new Error('the shared event table is for PostgreSQL')
    this.#shared = shared
  }

  async migrate(): Promise<void> {
    await migrateShared(this.#shared, 'events', SHARED_EVENTS_SCHEMA)
  }

  get #db(): Kysely<Record<never, never>> {
    return this.#shared.tables<Record<never, never>>()
  }

  /** Merges rows a gateway indexed (at most MAX_SHIP_ROWS, one per event id). */
  async ship(rows: readonly EventRow[], node: string): Promise<void> {
    if (rows.length === 0) return
    if (rows.length > MAX_SHIP_ROWS) throw new Error(`at most ${MAX_SHIP_ROWS} rows a shipment`)
    // Sent as text and a flat parameter list: built by the query builder, a shipment's 9,500 values
    // cost more CPU to compile than the rest of shipping together (bench:event-shipping).
    const params: unknown[] = []
    for (const r of rows) {
      for (const c of FROM_INDEX) params.push(r[c])
      params.push(node)
    }
    await this.#db.executeQuery(CompiledQuery.raw(upsertSql(rows.length), params))
  }

  /** Whether `node` has copied in what it indexed before it shared this database. */
  async backfilled(node: string): Promise<boolean> {
    const r = await sql`SELECT 1 FROM event_backfills WHERE node = ${node}`.execute(this.#db)
    return r.rows.length > 0
  }

  async markBackfilled(node: string, rows: number, at: number): Promise<void> {
    await sql`INSERT INTO event_backfills (node, rows, done_at) VALUES (${node}, ${rows}, ${at})
      ON CONFLICT (node) DO UPDATE SET rows = excluded.rows, done_at = excluded.done_at`.execute(this.#db)
  }

  async get(id: string): Promise<IndexedEvent | undefined> {
    const r = await sql<EventRow>`SELECT * FROM events WHERE event_id = ${id}`.execute(this.#db)
    const row = r.rows[0]
    return row ? toEvent(row) : undefined
  }

  /** The clips feature moved an event's clip on (see the merge's CLIP for why shipments keep it). */
  async setClipState(id: string, state: ClipState): Promise<void> {
    await sql`UPDATE events SET clip_state = ${state} WHERE event_id = ${id}`.execute(this.#db)
  }

  /** Events whose announced clip is not stored (nor deleted) and that started before `before`, oldest first. */
  async unfinishedClipsBefore(before: number): Promise<IndexedEvent[]> {
    const r = await sql<EventRow>`SELECT * FROM events
      WHERE clip_state IN ('pending', 'uploading', 'rejected') AND started_at < ${before}
      ORDER BY started_at, event_id`.execute(this.#db)
    return r.rows.map(toEvent)
  }

  /** One page of the events API, as the SQLite index answers it (event-query.ts). */
  async query(q: EventsQuery): Promise<EventPage> {
    const where: RawBuilder<unknown>[] = [sql`TRUE`]
    if (q.from !== undefined) where.push(sql`started_at >= ${q.from}`)
    if (q.to !== undefined) where.push(sql`started_at <= ${q.to}`)
    if (q.district !== undefined) where.push(sql`district = ${q.district}`)
    if (q.device !== undefined) where.push(sql`device_id = ${q.device}`)
    if (q.kind !== undefined) where.push(sql`kind = ${q.kind}`)
    if (q.hasClip !== undefined)
      where.push(q.hasClip ? sql`clip_state = 'ready'` : sql`clip_state <> 'ready'`)
    if (q.near) {
      const { lat, lon, radiusM } = q.near
      const box = boundingBox(lat, lon, radiusM)
      where.push(sql`lat BETWEEN ${box.minLat} AND ${box.maxLat}`)
      if (box.lon)
        where.push(
          box.lon.wraps
            ? sql`(lon >= ${box.lon.minLon} OR lon <= ${box.lon.maxLon})`
            : sql`lon BETWEEN ${box.lon.minLon} AND ${box.lon.maxLon}`,
        )
      where.push(sql`${haversineSql(lat, lon)} <= ${radiusM}`)
    }
    if (q.cursor) {
      const c = decodeCursor(q.cursor)
      where.push(sql`(started_at < ${c.startedAt} OR (started_at = ${c.startedAt} AND event_id < ${c.id}))`)
    }
    const r = await sql<EventRow>`SELECT * FROM events WHERE ${sql.join(where, sql` AND `)}
      ORDER BY started_at DESC, event_id DESC LIMIT ${q.limit + 1}`.execute(this.#db)
    const page = r.rows.slice(0, q.limit).map(toEvent)
    const last = page.at(-1)
    const nextCursor = r.rows.length > q.limit && last ? encodeCursor(last.startedAt, last.id) : null
    return { events: page, nextCursor }
  }

  /** The events of some units that started in [from, to], newest first, at most `perUnit` of each. */
  async ofUnits(
    deviceIds: readonly string[],
    from: number,
    to: number,
    perUnit: number,
  ): Promise<IndexedEvent[]> {
    if (deviceIds.length === 0) return []
    const r = await sql<EventRow>`SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY device_id ORDER BY started_at DESC, event_id DESC) AS nth
        FROM events WHERE device_id = ANY(${[...deviceIds]}) AND started_at BETWEEN ${from} AND ${to}
      ) ranked WHERE nth <= ${perUnit} ORDER BY started_at DESC, event_id DESC`.execute(this.#db)
    return r.rows.map(toEvent)
  }

  /**
   * Deletes the events that started before `before`, except those `held` names and those a case
   * holds, in short batches. One gateway at a time (an advisory lock, not waited for): a gateway that
   * finds another sweeping leaves the turn to it.
   */
  async dropExpired(before: number, held: ReadonlySet<string>): Promise<SharedSweep> {
    return this.#db.connection().execute(async (conn) => {
      const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${SWEEP_LOCK}) AS ok`.execute(conn)
      if (!got.rows[0]?.ok) return { swept: false, removed: 0 }
      try {
        const keep = [...held]
        let removed = 0
        for (;;) {
          const r = await sql`DELETE FROM events WHERE event_id IN (
              SELECT event_id FROM events e WHERE started_at < ${before}
                AND NOT (event_id = ANY(${keep}))
                AND NOT EXISTS (SELECT 1 FROM case_holds h WHERE h.event_id = e.event_id)
              LIMIT ${DELETE_BATCH})`.execute(conn)
          const n = Number(r.numAffectedRows ?? 0n)
          removed += n
          if (n < DELETE_BATCH) break
        }
        return { swept: true, removed }
      } finally {
        await sql`SELECT pg_advisory_unlock(${SWEEP_LOCK})`.execute(conn)
      }
    })
  }
}
