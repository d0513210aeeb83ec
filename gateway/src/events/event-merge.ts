import type { ClipState, EventPhase } from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'
import type { Db } from '../db/index.js'
import { eventKey } from './event-key.js'
import type { EventRow } from './event-row.js'
import type { IndexTuple } from './index-tuple.js'

/** The most an `end` seen first is dated back by its clip's length: a day of recording. */
const MAX_BACKDATE_MS = 86_400_000
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

/** The statements a merge runs, prepared once per connection. */
export interface MergeStatements {
  select: Statement
  insert: Statement
  update: Statement
}

export function prepareMerge(db: Db): MergeStatements {
  return {
    select: db.prepare('SELECT * FROM event_index WHERE id_key = ? AND event_id = ?'),
    insert: db.prepare(
      `INSERT INTO event_index (event_id, id_key, device_id, district, kind, phase, score, zone, started_at, ended_at,
           updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    update: db.prepare(
      `UPDATE event_index SET kind = ?, phase = ?, score = ?, zone = ?, started_at = ?, ended_at = ?, updated_at = ?,
           clip_state = ?, clip_bytes = ?, clip_sha256 = ?, clip_duration_ms = ?, clip_codec = ?, phases_seen = ?
         WHERE id_key = ? AND event_id = ?`,
    ),
  }
}

/**
 * Merges one lifecycle message into its event's row, read straight from the
 * tuple rather than from objects rebuilt for the purpose: the worker merges
 * thousands per group commit. Runs inside the caller's write transaction.
 */
export function mergeTuple(s: MergeStatements, f: IndexTuple): Admission {
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
  const old = s.select.get(key, eventId) as EventRow | undefined
  if (!old) {
    // An `end` seen first (its `start` lost or still in flight): the clip length says when it began. That
    // length is the unit's word, so it moves the start back by at most MAX_BACKDATE_MS from `t` (which
    // ingest has clamped to the gateway's clock).
    const startedAt =
      phase === 'end' && hasClip ? Math.max(0, t - Math.min(clipDurationMs, MAX_BACKDATE_MS)) : t
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
