import type { ClipState, EventPhase, EventView } from '@doorstep/proto'

/** An event as the index holds it; the routes add the links. */
export type IndexedEvent = Omit<EventView, 'clip'> & {
  updatedAt: number
  clip: Omit<EventView['clip'], 'url' | 'thumbUrl'>
}

/** A row of `event_index` as SQLite returns it. */
export interface EventRow {
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

/** The row as the rest of the gateway sees it. */
export function toEvent(r: EventRow): IndexedEvent {
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
