import { randomUUID } from 'node:crypto'
import { toIndexTuple } from '../../gateway/src/events/event-index.js'
import { eventLine, RP_EVENTS } from '../../gateway/src/ingest/points.js'
import type { EventSlot } from '../../gateway/src/ingest/spool-store.js'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'

/** Units in the programme's city. */
export const CITY_UNITS = 2896

/**
 * The city's units as registry records: 61 districts, 12 main streets, a
 * quarter rural, two models, spread over about 10 × 10 km as a county town's
 * units are. Deterministic, so runs compare.
 */
export function cityDevices(): DeviceRecord[] {
  return Array.from({ length: CITY_UNITS }, (_, i) => ({
    id: `cam-${String(i).padStart(5, '0')}`,
    serial: `SN-${i}`,
    district: (i % 61) + 1,
    address: `${(i % 12) + 1} Main St`,
    ownerContact: 'bench',
    lat: 29.25 + ((i * 7919) % 1000) / 10_000,
    lon: 117.15 + ((i * 104_729) % 1000) / 10_000,
    model: i % 3 === 0 ? 'DS-C3W' : 'DS-C6N',
    firmware: '2.4.1',
    setting: i % 4 === 0 ? 'rural' : 'urban',
    releasePolicy: 'ask',
    enabled: true,
    createdAt: 0,
  }))
}

/**
 * One group commit's worth of new motion events (`start`), as the spool's worker receives them: unit
 * `first + k` of the city in turn, 3 ms apart from `t` on. The group's slots, the event ids, and the
 * time after its last event.
 */
export function newEventGroup(
  devices: readonly DeviceRecord[],
  first: number,
  size: number,
  t: number,
): { events: EventSlot[]; ids: string[]; t: number } {
  const events: EventSlot[] = []
  const ids: string[] = []
  for (let k = 0; k < size; k++) {
    const device = devices[(first + k) % CITY_UNITS] as DeviceRecord
    const ev = {
      v: 1 as const,
      ts: t,
      eventId: randomUUID(),
      phase: 'start' as const,
      kind: 'motion' as const,
      score: 0.8,
    }
    ids.push(ev.eventId)
    t += 3
    events.push(RP_EVENTS, eventLine(device, ev, t), toIndexTuple(device, ev, t))
  }
  return { events, ids, t }
}
