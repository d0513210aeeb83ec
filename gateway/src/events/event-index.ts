import type { ClipState, DeviceEvent, EventPhase, EventsQuery, EventView } from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'
import { type Db, migrate, writeTransaction } from '../db/sqlite.js'
import { DoorstepError } from '../errors.js'
import type { DeviceRecord } from '../registry/registry.js'
import { boundingBox, haversineM } from './geo.js'

/** The index's migrations, in order (exported for the migration test). */
export const EVENTS_SCHEMA = [
  `CREATE TABLE event_index (
    event_id TEXT PRIMARY KEY,
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
    clip_codec TEXT
  );
  CREATE INDEX event_index_started ON event_index (started_at, event_id);
  CREATE INDEX event_index_device ON event_index (device_id, started_at);
  CREATE INDEX event_index_district ON event_index (district, started_at);
  CREATE INDEX event_index_lat ON event_index (lat, lon);
  CREATE INDEX event_index_clip ON event_index (clip_state, started_at);`,
  // The phases a unit has sent for the event: how a retried publish is recognised (see admit).
  // Rows from before it count as having every phase up to the one they reached.
  `ALTER TABLE event_index ADD COLUMN phases_seen INTEGER NOT NULL DEFAULT 0;
   UPDATE event_index SET phases_seen = CASE phase WHEN 'start' THEN 1 WHEN 'update' THEN 3 ELSE 7 END;`,
  // Events are found by a 48-bit integer key taken from the id (eventKey) instead of a unique index on the
  // 36-character id: ids are random, so every new event lands on its own page of that index, and a group
  // commit rewrote nearly all of it. The integer index is about a third of the size. SQLite cannot drop a
  // primary key, so the table is rebuilt; the merge keeps ids unique (see #merge).
  `CREATE TABLE event_index_next (
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
  INSERT INTO event_index_next (event_id, id_key, device_id, district, kind, phase, score, zone, started_at, ended_at,
      updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen)
    SELECT event_id, doorstep_event_key(event_id), device_id, district, kind, phase, score, zone, started_at, ended_at,
      updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen
    FROM event_index ORDER BY rowid;
  DROP TABLE event_index;
  ALTER TABLE event_index_next RENAME TO event_index;
  CREATE INDEX event_index_key ON event_index (id_key);
  CREATE INDEX event_index_started ON event_index (started_at, event_id);
  CREATE INDEX event_index_device ON event_index (device_id, started_at);
  CREATE INDEX event_index_district ON event_index (district, started_at);
  CREATE INDEX event_index_lat ON event_index (lat, lon);
  CREATE INDEX event_index_clip ON event_index (clip_state, started_at);`,
  // Most events never announce a clip: their rows stay out of the clip index (one B-tree fewer per new
  // event). Queries that use it say `clip_state <> 'none'` in so many words (see CLIP_INDEXED).
  `DROP INDEX event_index_clip;
   CREATE INDEX event_index_clip ON event_index (clip_state, started_at) WHERE clip_state <> 'none';`,
]

/**
 * The clip index holds only rows with a clip announced; SQLite uses a
 * partial index only when the query repeats its condition.
 */
const CLIP_INDEXED = "clip_state <> 'none'"

/**
 * The index key of an event id: its first 48 bits (12 hex digits), an exact
 * integer in JS. Ids are UUIDs, whose leading digits are random; two ids that
 * share them are told apart by the id itself, which every lookup compares too.
 */
export function eventKey(eventId: string): number {
  const k = Number.parseInt(eventId.slice(0, 8) + eventId.slice(9, 13), 16)
  return Number.isSafeInteger(k) ? k : 0
}

/** What the index takes from the unit an event came from. */
export type EventSite = Pick<DeviceRecord, 'id' | 'district' | 'lat' | 'lon'>

/** What the index takes from one lifecycle message. */
export type IndexedMessage = Pick<DeviceEvent, 'eventId' | 'phase' | 'kind' | 'score' | 'zone' | 'clip'>

/**
 * One lifecycle message to merge, flattened into one array: the form it
 * crosses to the ingest worker in, and is merged from. A structured clone of
 * flat values costs a fraction of one of nested objects, and thousands cross
 * per group commit. `t` is the message time on the gateway clock.
 */
export type IndexTuple = [
  eventId: string,
  deviceId: string,
  district: number,
  lat: number,
  lon: number,
  kind: DeviceEvent['kind'],
  phase: EventPhase,
  score: number,
  zone: string | null,
  t: number,
  clipBytes: number | null,
  clipSha256: string | null,
  clipDurationMs: number | null,
  clipCodec: string | null,
]

export function toIndexTuple(d: EventSite, ev: IndexedMessage, t: number): IndexTuple {
  const c = ev.clip
  return [
    ev.eventId,
    d.id,
    d.district,
    d.lat,
    d.lon,
    ev.kind,
    ev.phase,
    ev.score,
    ev.zone ?? null,
    t,
    c ? c.bytes : null,
    c ? c.sha256 : null,
    c ? c.durationMs : null,
    c ? c.codec : null,
  ]
}

/** An event as the index holds it; the routes add the links. */
export type IndexedEvent = Omit<EventView, 'clip'> & {
  updatedAt: number
  clip: Omit<EventView['clip'], 'url' | 'thumbUrl'>
}

interface Row {
  event_id: string
  device_id: string
  district: number
  kind: EventView['kind']
  phase: EventPhase
  score: number
  zone: string | null
  started_at: number
  ended_at: number | null
  updated_at: number
  lat: number
  lon: number
  clip_state: ClipState
  clip_bytes: number | null
  clip_sha256: string | null
  clip_duration_ms: number | null
  clip_codec: string | null
  phases_seen: number
}

const PHASE_RANK: Record<EventPhase, number> = { start: 0, update: 1, end: 2 }
const PHASE_BIT: Record<EventPhase, number> = { start: 1, update: 2, end: 4 }

/**
 * What merging one lifecycle message did: `new` event, `merged` into its
 * row, a `repeat` of a phase this unit already sent for it (a retried
 * publish: nothing changed), or ignored as `foreign` (the id is another
 * unit's).
 */
export type Admission = 'new' | 'merged' | 'repeat' | 'foreign'
/** States in which a newly announced clip may still replace the announced one. */
const ANNOUNCE_OPEN: ReadonlySet<ClipState> = new Set(['none', 'pending', 'rejected'])

function toEvent(r: Row): IndexedEvent {
  return {
    id: r.event_id,
    deviceId: r.device_id,
    district: r.district,
    kind: r.kind,
    phase: r.phase,
    score: r.score,
    zone: r.zone,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    updatedAt: r.updated_at,
    lat: r.lat,
    lon: r.lon,
    clip: {
      state: r.clip_state,
      bytes: r.clip_bytes,
      sha256: r.clip_sha256,
      durationMs: r.clip_duration_ms,
      codec: r.clip_codec,
    },
  }
}

/** Opaque page cursor: the sort key of the last event of a page. */
export function encodeCursor(startedAt: number, id: string): string {
  return Buffer.from(`${startedAt}|${id}`).toString('base64url')
}

export function decodeCursor(cursor: string): { startedAt: number; id: string } {
  const [t, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const startedAt = Number(t)
  if (!Number.isSafeInteger(startedAt) || !id || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'cursor: not a cursor this API gave out')
  }
  return { startedAt, id }
}

/**
 * The SQLite index of motion events, built from the bus (`device.event`):
 * one row per event id, merged over its lifecycle start → update* → end.
 * Answers the events API; the clip feature moves `clip_state` along.
 */
export class EventIndex {
  readonly #db: Db
  #stmts: { select: Statement; insert: Statement; update: Statement } | null = null

  constructor(db: Db) {
    this.#db = db
  }

  /** Creates or migrates the table, then prepares the statements; the owner of the schema calls this. */
  load(): void {
    // The migration to the integer key computes it in SQL.
    this.#db.function('doorstep_event_key', { deterministic: true }, (id) => eventKey(String(id)))
    migrate(this.#db, 'events', EVENTS_SCHEMA)
    this.prepare()
    // Exact distance for `near`, after the bounding box has used the lat index.
    this.#db.function('doorstep_haversine_m', { deterministic: true }, (a, b, c, d) =>
      haversineM(a as number, b as number, c as number, d as number),
    )
  }

  /**
   * Prepares the merge statements on a table `load` made: the ingest worker
   * writes the index over its own connection this way.
   */
  prepare(): void {
    this.#stmts = {
      select: this.#db.prepare('SELECT * FROM event_index WHERE id_key = ? AND event_id = ?'),
      insert: this.#db.prepare(
        `INSERT INTO event_index (event_id, id_key, device_id, district, kind, phase, score, zone, started_at, ended_at,
           updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      update: this.#db.prepare(
        `UPDATE event_index SET kind = ?, phase = ?, score = ?, zone = ?, started_at = ?, ended_at = ?, updated_at = ?,
           clip_state = ?, clip_bytes = ?, clip_sha256 = ?, clip_duration_ms = ?, clip_codec = ?, phases_seen = ?
         WHERE id_key = ? AND event_id = ?`,
      ),
    }
  }

  /**
   * Merges one lifecycle message. `t` is the message time on the gateway
   * clock. A message for an event id owned by another unit is ignored: a unit
   * must not be able to rewrite another unit's event (or its clip digest).
   * Returns false when ignored.
   */
  record(device: EventSite, ev: IndexedMessage, t: number): boolean {
    const f = toIndexTuple(device, ev, t)
    return writeTransaction(this.#db, () => this.#merge(f)) !== 'foreign'
  }

  /**
   * `record` inside the caller's transaction, saying what it did: the spool
   * stores an event's line in the same transaction unless it was a `repeat`,
   * so "durable", "indexed" and "seen once" are one commit.
   */
  admit(f: IndexTuple): Admission {
    if (!this.#db.inTransaction) throw new Error('EventIndex.admit runs inside a transaction')
    return this.#merge(f)
  }

  /** Read straight from the tuple rather than from objects rebuilt for the purpose: the worker merges thousands per group commit. */
  #merge(f: IndexTuple): Admission {
    const s = this.#stmts
    if (!s) throw new Error('event index is not loaded')
    const [
      eventId,
      deviceId,
      district,
      lat,
      lon,
      kind,
      phase,
      score,
      zone,
      t,
      clipBytes,
      clipSha256,
      clipDurationMs,
      clipCodec,
    ] = f
    const hasClip = clipBytes !== null && clipSha256 !== null && clipDurationMs !== null && clipCodec !== null
    // Looked up before inserting: the id is unique because every writer merges inside a write transaction.
    const key = eventKey(eventId)
    const old = s.select.get(key, eventId) as Row | undefined
    if (!old) {
      // An `end` seen first (its `start` lost or still in flight): the clip length says when it began.
      const startedAt = phase === 'end' && hasClip ? Math.max(0, t - clipDurationMs) : t
      s.insert.run(
        eventId,
        key,
        deviceId,
        district,
        kind,
        phase,
        score,
        zone,
        startedAt,
        phase === 'end' ? t : null,
        t,
        lat,
        lon,
        hasClip ? 'pending' : 'none',
        hasClip ? clipBytes : null,
        hasClip ? clipSha256 : null,
        hasClip ? clipDurationMs : null,
        hasClip ? clipCodec : null,
        PHASE_BIT[phase],
      )
      return 'new'
    }
    if (old.device_id !== deviceId) return 'foreign'
    const bit = PHASE_BIT[phase]
    if ((old.phases_seen & bit) !== 0) return 'repeat'
    const clip = hasClip && ANNOUNCE_OPEN.has(old.clip_state)
    const later = PHASE_RANK[phase] >= PHASE_RANK[old.phase]
    s.update.run(
      later ? kind : old.kind,
      later ? phase : old.phase,
      Math.max(old.score, score),
      zone ?? old.zone,
      phase === 'start' ? Math.min(old.started_at, t) : old.started_at,
      phase === 'end' ? t : old.ended_at,
      Math.max(old.updated_at, t),
      clip ? 'pending' : old.clip_state,
      clip ? clipBytes : old.clip_bytes,
      clip ? clipSha256 : old.clip_sha256,
      clip ? clipDurationMs : old.clip_duration_ms,
      clip ? clipCodec : old.clip_codec,
      old.phases_seen | bit,
      key,
      eventId,
    )
    return 'merged'
  }

  get(id: string): IndexedEvent | undefined {
    const r = this.#db
      .prepare('SELECT * FROM event_index WHERE id_key = ? AND event_id = ?')
      .get(eventKey(id), id) as Row | undefined
    return r ? toEvent(r) : undefined
  }

  setClipState(id: string, state: ClipState): void {
    this.#db
      .prepare('UPDATE event_index SET clip_state = ? WHERE id_key = ? AND event_id = ?')
      .run(state, eventKey(id), id)
  }

  /** Events that started before `before` whose clip never became ready (retention). */
  unfinishedClipsBefore(before: number): IndexedEvent[] {
    const rows = this.#db
      .prepare(
        `SELECT * FROM event_index WHERE clip_state IN ('pending', 'uploading', 'rejected') AND ${CLIP_INDEXED}
           AND started_at < ? ORDER BY started_at`,
      )
      .all(before) as Row[]
    return rows.map(toEvent)
  }

  /** Newest first, keyset-paginated on (started_at, event_id). */
  query(q: EventsQuery): { events: IndexedEvent[]; nextCursor: string | null } {
    const where: string[] = []
    const params: Array<string | number> = []
    if (q.from !== undefined) {
      where.push('started_at >= ?')
      params.push(q.from)
    }
    if (q.to !== undefined) {
      where.push('started_at <= ?')
      params.push(q.to)
    }
    if (q.district !== undefined) {
      where.push('district = ?')
      params.push(q.district)
    }
    if (q.device !== undefined) {
      where.push('device_id = ?')
      params.push(q.device)
    }
    if (q.kind !== undefined) {
      where.push('kind = ?')
      params.push(q.kind)
    }
    if (q.hasClip !== undefined)
      where.push(q.hasClip ? `clip_state = 'ready' AND ${CLIP_INDEXED}` : "clip_state != 'ready'")
    if (q.near) {
      const { lat, lon, radiusM } = q.near
      const box = boundingBox(lat, lon, radiusM)
      where.push('lat BETWEEN ? AND ?')
      params.push(box.minLat, box.maxLat)
      if (box.lon) {
        where.push(box.lon.wraps ? '(lon >= ? OR lon <= ?)' : 'lon BETWEEN ? AND ?')
        params.push(box.lon.minLon, box.lon.maxLon)
      }
      where.push('doorstep_haversine_m(?, ?, lat, lon) <= ?')
      params.push(lat, lon, radiusM)
    }
    if (q.cursor) {
      const c = decodeCursor(q.cursor)
      where.push('(started_at < ? OR (started_at = ? AND event_id < ?))')
      params.push(c.startedAt, c.startedAt, c.id)
    }
    const sql = `SELECT * FROM event_index ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, event_id DESC LIMIT ?`
    const rows = this.#db.prepare(sql).all(...params, q.limit + 1) as Row[]
    const page = rows.slice(0, q.limit).map(toEvent)
    const last = page.at(-1)
    const nextCursor = rows.length > q.limit && last ? encodeCursor(last.startedAt, last.id) : null
    return { events: page, nextCursor }
  }
}
