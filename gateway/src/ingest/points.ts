import type { DeviceEvent, Heartbeat } from '@doorstep/proto'
import { RP_EVENTS as EVENTS_POLICY, escapeFieldString, escapeTag } from '../influx/index.js'
import type { DeviceRecord } from '../registry/index.js'

/** Retention policies a line is written to: heartbeats and presence to the default (30 days raw). */
export const RP_DEFAULT = ''
export const RP_EVENTS = EVENTS_POLICY

/**
 * Timestamps are written in nanoseconds: the millisecond from the clock plus
 * six digits that keep two points of one series in the same millisecond
 * apart (InfluxDB overwrites points with equal series and time). Events use
 * digits from their id, so a retried event maps to the same point; other
 * points use a counter.
 */
let counter = 0
function nanos(ms: number, sub: number): string {
  return `${ms}${String(sub).padStart(6, '0')}`
}
function nextSub(): number {
  counter = counter >= 999_999 ? 0 : counter + 1
  return counter
}
function eventSub(eventId: string): number {
  return Number.parseInt(eventId.slice(0, 5), 16) % 1_000_000
}

/** A unit's parts of its heartbeat lines, built once per registry record. */
export interface UnitKey {
  /** The series key: `device=..,district=..`, both set by provisioning, never by the unit. */
  tags: string
  /** Fields the unit told us about itself (`,model="..."`): free text, so never a tag. */
  fields: string
}

/**
 * enrich → line: a unit's series key and identity fields are built once per
 * unit and reused, since they only change when the registry replaces the
 * record. Tags are only what provisioning set: a unit's own text (its `hello`
 * model) as a tag would let one unit create a new series per string it sends,
 * and InfluxDB keeps every series in its index. Lines are built by
 * concatenation: one string per point, no intermediate objects.
 */
export class SeriesKeys {
  readonly #cache = new WeakMap<DeviceRecord, UnitKey>()

  of(d: DeviceRecord): UnitKey {
    let k = this.#cache.get(d)
    if (k === undefined) {
      k = {
        tags: `device=${escapeTag(d.id)},district=${d.district}`,
        fields: `,model=${escapeFieldString(d.model || 'unknown')}`,
      }
      this.#cache.set(d, k)
    }
    return k
  }
}

function num(n: number): string {
  // Influx float fields: a whole number is still a float as long as it has no `i`.
  return Number.isFinite(n) ? String(n) : '0'
}

export function heartbeatLine(key: UnitKey, hb: Heartbeat, receivedAt: number): string {
  let line = `heartbeat,${key.tags} uptime_s=${hb.uptimeS}i,storage_free_mb=${num(hb.storageFreeMb)},storage_total_mb=${num(hb.storageTotalMb)},recording=${hb.recording},signal_dbm=${num(hb.signalDbm)},temperature_c=${num(hb.temperatureC)},skew_ms=${receivedAt - hb.ts}i${key.fields}`
  if (hb.batteryPct !== undefined) line += `,battery_pct=${num(hb.batteryPct)}`
  return `${line} ${nanos(receivedAt, nextSub())}`
}

export function eventLine(d: DeviceRecord, ev: DeviceEvent, at: number): string {
  let line = `event,device=${escapeTag(d.id)},district=${d.district},kind=${ev.kind},phase=${ev.phase} event_id="${ev.eventId}",score=${num(ev.score)}`
  if (ev.zone !== undefined) line += `,zone=${escapeFieldString(ev.zone)}`
  if (ev.clip) line += `,clip_bytes=${ev.clip.bytes}i,clip_duration_ms=${ev.clip.durationMs}i`
  return `${line} ${nanos(at, eventSub(ev.eventId))}`
}

export function presenceLine(d: DeviceRecord, state: string, reason: string, at: number): string {
  return `presence,device=${escapeTag(d.id)},district=${d.district} state=${escapeFieldString(state)},reason=${escapeFieldString(reason)} ${nanos(at, nextSub())}`
}
