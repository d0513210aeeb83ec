import type { ClipState, EventPhase } from '@doorstep/proto'
import { eventKey } from './event-key.js'
import type { EventTables } from './event-tables.js'
import type { IndexTuple } from './index-tuple.js'
import { COLUMNS, RECENT } from './partitions.js'

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

const INSERT_RECENT = `INSERT INTO ${RECENT} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`

/** The update of a merge, in the table the row was found in. */
function updateSql(table: string): string {
  return `UPDATE ${table} SET kind = ?, phase = ?, score = ?, zone = ?, started_at = ?, ended_at = ?, updated_at = ?,
    clip_state = ?, clip_bytes = ?, clip_sha256 = ?, clip_duration_ms = ?, clip_codec = ?, phases_seen = ?
    WHERE id_key = ? AND event_id = ?`
}

/**
 * Merges one lifecycle message into its event's row, read straight from the
 * tuple rather than from objects rebuilt for the purpose: the worker merges
 * thousands per group commit. Runs inside the caller's write transaction.
 */
export function mergeTuple(tables: EventTables, f: IndexTuple): Admission {
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
  const found = tables.find(key, eventId)
  if (!found) {
    // An `end` seen first (its `start` lost or still in flight): the clip length says when it began. That
    // length is the unit's word, so it moves the start back by at most MAX_BACKDATE_MS from `t` (which
    // ingest has clamped to the gateway's clock).
    const startedAt =
      phase === 'end' && hasClip ? Math.max(0, t - Math.min(clipDurationMs, MAX_BACKDATE_MS)) : t
    tables
      .st(INSERT_RECENT)
      .run(
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
    tables.recentRows++
    return 'new'
  }
  const old = found.row
  if (old.device_id !== deviceId) return 'foreign'
  const bit = PHASE_BIT[phase]
  if ((old.phases_seen & bit) !== 0) return 'repeat'
  const clip = hasClip && ANNOUNCE_OPEN.has(old.clip_state)
  const later = PHASE_RANK[phase] >= PHASE_RANK[old.phase]
  const startedAt = phase === 'start' ? Math.min(old.started_at, t) : old.started_at
  tables
    .st(updateSql(found.table))
    .run(
      later ? kind : old.kind,
      later ? phase : old.phase,
      Math.max(old.score, score),
      zone ?? old.zone,
      startedAt,
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
  // A late `start` dated the event into an earlier month than the table it sits in: it moves there.
  if (startedAt !== old.started_at) tables.rehome(found.table, key, eventId, startedAt)
  return 'merged'
}
