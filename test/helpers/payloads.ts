import { randomUUID } from 'node:crypto'
import type { DeviceEvent, Heartbeat } from '@doorstep/proto'

export function heartbeat(over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    ts: Date.now(),
    uptimeS: 3600,
    storageFreeMb: 20_000,
    storageTotalMb: 65_536,
    recording: true,
    signalDbm: -61,
    temperatureC: 36.5,
    ...over,
  }
}

export function event(over: Partial<DeviceEvent> = {}): DeviceEvent {
  return { v: 1, ts: Date.now(), eventId: randomUUID(), phase: 'start', kind: 'person', score: 0.9, ...over }
}
