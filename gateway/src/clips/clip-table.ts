import type { ClipMedia, Hold } from '@doorstep/proto'
import { type Db, migrate, type StatementCache, statementCache, writeTransaction } from '../db/index.js'
import type { ProbeResult } from '../media/index.js'

export const CLIPS_SCHEMA = [
  `CREATE TABLE clips (
    event_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    mime TEXT NOT NULL,
    container TEXT NOT NULL,
    codec TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('committing', 'ready', 'expired')),
    thumb_etag TEXT,
    expired_at INTEGER,
    expired_reason TEXT
  );
  CREATE INDEX clips_state_recorded ON clips (state, recorded_at);
  CREATE INDEX clips_sha256 ON clips (sha256);
  CREATE TABLE clip_holds (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    until INTEGER,
    released_at INTEGER,
    released_by TEXT
  );
  CREATE INDEX clip_holds_event ON clip_holds (event_id);`,
  // Uploads in progress, on the gateway's clock: how many a unit has open and how many bytes they will
  // take (its quota), and how old each is (abandoned ones go by that age, not by the event's claimed time).
  `CREATE TABLE clip_uploads (
    event_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    total INTEGER NOT NULL,
    started_at INTEGER NOT NULL
  );
  CREATE INDEX clip_uploads_device ON clip_uploads (device_id);
  CREATE INDEX clip_uploads_started ON clip_uploads (started_at);
  CREATE INDEX clips_device ON clips (device_id, state);`,
]

/**
 * `committing`: verified and probed, being renamed into place (a crash here is
 * finished at the next start); `ready`: stored; `expired`: deleted by
 * retention, the row kept as the record of what was there.
 */
type StoredState = 'committing' | 'ready' | 'expired'

export interface ClipRow {
  event_id: string
  device_id: string
  sha256: string
  bytes: number
  mime: string
  container: string
  codec: string
  width: number
  height: number
  duration_ms: number
  recorded_at: number
  stored_at: number
  state: StoredState
  thumb_etag: string | null
  expired_at: number | null
  expired_reason: string | null
}

interface HoldRow {
  id: number
  event_id: string
  reason: string
  who: string
  created_at: number
  until: number | null
  released_at: number | null
  released_by: string | null
}

/** An upload the gateway has taken bytes for (or is about to), and not yet stored or dropped. */
export interface OpenUploadRow {
  event_id: string
  device_id: string
  total: number
  started_at: number
}

/** What a unit holds on the clip disk: stored clips and the full size of its open uploads. */
export interface UnitUsage {
  storedBytes: number
  openBytes: number
  /** Event ids of its open uploads, oldest first. */
  open: string[]
}

/** A hold is in force when not released and not past its `until`. */
const ACTIVE = '(released_at IS NULL AND (until IS NULL OR until > ?))'

export function toMedia(r: ClipRow): ClipMedia {
  return {
    sha256: r.sha256,
    bytes: r.bytes,
    mime: r.mime,
    container: r.container,
    codec: r.codec,
    width: r.width,
    height: r.height,
    durationMs: r.duration_ms,
    storedAt: r.stored_at,
    thumb: r.thumb_etag !== null,
  }
}

function toHold(r: HoldRow, now: number): Hold {
  return {
    id: r.id,
    eventId: r.event_id,
    reason: r.reason,
    who: r.who,
    createdAt: r.created_at,
    until: r.until,
    releasedAt: r.released_at,
    releasedBy: r.released_by,
    active: r.released_at === null && (r.until === null || r.until > now),
  }
}

/** The clips feature's tables: stored clips, holds, and uploads in progress. */
export class ClipTable {
  readonly #db: Db
  /** Statements by SQL text, prepared once (`db/sqlite.ts`). */
  readonly #st: StatementCache

  constructor(db: Db) {
    this.#db = db
    this.#st = statementCache(db)
  }

  load(): void {
    migrate(this.#db, 'clips', CLIPS_SCHEMA)
  }

  transaction<T>(fn: () => T): T {
    return writeTransaction(this.#db, fn)
  }

  get(eventId: string): ClipRow | undefined {
    return this.#st('SELECT * FROM clips WHERE event_id = ?').get(eventId) as ClipRow | undefined
  }

  /** Records a verified, probed clip before its file is renamed into place. */
  insertCommitting(r: {
    eventId: string
    deviceId: string
    sha256: string
    bytes: number
    media: ProbeResult
    recordedAt: number
    now: number
  }): void {
    this.#st(
      `INSERT INTO clips (event_id, device_id, sha256, bytes, mime, container, codec, width, height, duration_ms,
           recorded_at, stored_at, state, thumb_etag, expired_at, expired_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'committing', NULL, NULL, NULL)
         ON CONFLICT(event_id) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes, mime = excluded.mime,
           container = excluded.container, codec = excluded.codec, width = excluded.width, height = excluded.height,
           duration_ms = excluded.duration_ms, stored_at = excluded.stored_at, state = 'committing',
           thumb_etag = NULL, expired_at = NULL, expired_reason = NULL`,
    ).run(
      r.eventId,
      r.deviceId,
      r.sha256,
      r.bytes,
      r.media.mime,
      r.media.container,
      r.media.codec,
      r.media.width,
      r.media.height,
      r.media.durationMs,
      r.recordedAt,
      r.now,
    )
  }

  setState(eventId: string, state: StoredState): void {
    this.#st('UPDATE clips SET state = ? WHERE event_id = ?').run(state, eventId)
  }

  remove(eventId: string): void {
    this.#st('DELETE FROM clips WHERE event_id = ?').run(eventId)
  }

  expire(eventId: string, reason: string, now: number): void {
    this.#st("UPDATE clips SET state = 'expired', expired_at = ?, expired_reason = ? WHERE event_id = ?").run(
      now,
      reason,
      eventId,
    )
  }

  setThumb(eventId: string, etag: string): void {
    this.#st('UPDATE clips SET thumb_etag = ? WHERE event_id = ?').run(etag, eventId)
  }

  byState(state: StoredState): ClipRow[] {
    return this.#st('SELECT * FROM clips WHERE state = ?').all(state) as ClipRow[]
  }

  readyWithoutThumb(): ClipRow[] {
    return this.#st("SELECT * FROM clips WHERE state = 'ready' AND thumb_etag IS NULL").all() as ClipRow[]
  }

  /** Whether another live row still points at this file (two events, one clip). */
  sharedWithOthers(sha256: string, eventId: string): boolean {
    return (
      this.#st("SELECT 1 FROM clips WHERE sha256 = ? AND event_id != ? AND state != 'expired' LIMIT 1").get(
        sha256,
        eventId,
      ) !== undefined
    )
  }

  /** Ready clips recorded before `before` and not held at `now`, oldest first. */
  unheldReadyBefore(before: number, now: number): ClipRow[] {
    return this.#st(
      `SELECT * FROM clips WHERE state = 'ready' AND recorded_at < ?
           AND event_id NOT IN (SELECT event_id FROM clip_holds WHERE ${ACTIVE})
         ORDER BY recorded_at, event_id`,
    ).all(before, now) as ClipRow[]
  }

  /** How many ready clips recorded before `before` are kept only by a hold. */
  heldReadyBefore(before: number, now: number): number {
    const r = this.#st(
      `SELECT count(*) AS n FROM clips WHERE state = 'ready' AND recorded_at < ?
           AND event_id IN (SELECT event_id FROM clip_holds WHERE ${ACTIVE})`,
    ).get(before, now) as { n: number }
    return r.n
  }

  /** Every event id a hold in force keeps (event retention keeps their index rows). */
  heldEventIds(now: number): Set<string> {
    const rows = this.#st(`SELECT DISTINCT event_id FROM clip_holds WHERE ${ACTIVE}`)
      .pluck()
      .all(now) as string[]
    return new Set(rows)
  }

  isHeld(eventId: string, now: number): boolean {
    return (
      this.#st(`SELECT 1 FROM clip_holds WHERE event_id = ? AND ${ACTIVE} LIMIT 1`).get(eventId, now) !==
      undefined
    )
  }

  // ---- uploads in progress --------------------------------------------------------------------

  /** Records an upload as open (kept as is when it already is). */
  openUpload(eventId: string, deviceId: string, total: number, startedAt: number): void {
    this.#st(
      `INSERT INTO clip_uploads (event_id, device_id, total, started_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(event_id) DO NOTHING`,
    ).run(eventId, deviceId, total, startedAt)
  }

  closeUpload(eventId: string): void {
    this.#st('DELETE FROM clip_uploads WHERE event_id = ?').run(eventId)
  }

  upload(eventId: string): OpenUploadRow | undefined {
    return this.#st('SELECT * FROM clip_uploads WHERE event_id = ?').get(eventId) as OpenUploadRow | undefined
  }

  /** Open uploads, oldest first; those started before `before` when given. */
  openUploads(before = Number.MAX_SAFE_INTEGER): OpenUploadRow[] {
    return this.#st('SELECT * FROM clip_uploads WHERE started_at < ? ORDER BY started_at, event_id').all(
      before,
    ) as OpenUploadRow[]
  }

  /**
   * Bytes the stored clips take on disk: each file once, however many events share it, plus the
   * partial files of open uploads at their announced size (what they will take).
   */
  storedBytes(): number {
    const stored = this.#st(
      "SELECT coalesce(sum(bytes), 0) AS n FROM (SELECT sha256, max(bytes) AS bytes FROM clips WHERE state IN ('committing', 'ready') GROUP BY sha256)",
    ).get() as { n: number }
    const open = this.#st('SELECT coalesce(sum(total), 0) AS n FROM clip_uploads').get() as {
      n: number
    }
    return stored.n + open.n
  }

  /** A unit's stored clips (a clip shared with another event counts for each) and open uploads. */
  unitUsage(deviceId: string): UnitUsage {
    const stored = this.#st(
      "SELECT coalesce(sum(bytes), 0) AS n FROM clips WHERE device_id = ? AND state IN ('committing', 'ready')",
    ).get(deviceId) as { n: number }
    const open = this.#st(
      'SELECT event_id, total FROM clip_uploads WHERE device_id = ? ORDER BY started_at, event_id',
    ).all(deviceId) as Array<{ event_id: string; total: number }>
    return {
      storedBytes: stored.n,
      openBytes: open.reduce((sum, r) => sum + r.total, 0),
      open: open.map((r) => r.event_id),
    }
  }

  addHold(eventId: string, reason: string, who: string, until: number | null, now: number): Hold {
    const r = this.#st(
      'INSERT INTO clip_holds (event_id, reason, who, created_at, until) VALUES (?, ?, ?, ?, ?) RETURNING *',
    ).get(eventId, reason, who, now, until) as HoldRow
    return toHold(r, now)
  }

  getHold(id: number, now: number): Hold | undefined {
    const r = this.#st('SELECT * FROM clip_holds WHERE id = ?').get(id) as HoldRow | undefined
    return r ? toHold(r, now) : undefined
  }

  /** Releasing keeps the row: who held what, and who let it go, stays on record. */
  releaseHold(id: number, who: string, now: number): Hold | undefined {
    this.#st(
      'UPDATE clip_holds SET released_at = ?, released_by = ? WHERE id = ? AND released_at IS NULL',
    ).run(now, who, id)
    return this.getHold(id, now)
  }

  holds(filter: { eventId?: string | undefined; activeOnly: boolean }, now: number): Hold[] {
    const where: string[] = []
    const params: Array<string | number> = []
    if (filter.eventId) {
      where.push('event_id = ?')
      params.push(filter.eventId)
    }
    if (filter.activeOnly) {
      where.push(ACTIVE)
      params.push(now)
    }
    const sql = `SELECT * FROM clip_holds ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT 5000`
    return (this.#st(sql).all(...params) as HoldRow[]).map((r) => toHold(r, now))
  }
}
