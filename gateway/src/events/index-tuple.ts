import type { DeviceEvent, EventPhase } from '@doorstep/proto'
import type { DeviceRecord } from '../registry/index.js'

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
