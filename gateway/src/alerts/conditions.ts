import type { DeviceEvent, Heartbeat } from '@doorstep/proto'

/** How much a detection matters, by kind: tamper is the one a person must see at once. */
export const EVENT_SEVERITY = {
  motion: 'info',
  person: 'warning',
  vehicle: 'info',
  sound: 'info',
  tamper: 'critical',
} as const satisfies Record<DeviceEvent['kind'], 'info' | 'warning' | 'critical'>

/** A heartbeat's free storage below `lowStoragePct` percent of the total. */
export function isLowStorage(hb: Heartbeat, lowStoragePct: number): boolean {
  return (hb.storageFreeMb / hb.storageTotalMb) * 100 < lowStoragePct
}

/**
 * Units for which a condition holds, so that it is told once when it turns on, not on every
 * heartbeat that repeats it.
 */
export class EdgeSet {
  readonly #on = new Set<string>()

  /** True when `on` turns on for `id`; remembered until it turns off. */
  rises(id: string, on: boolean): boolean {
    if (on && !this.#on.has(id)) {
      this.#on.add(id)
      return true
    }
    if (!on) this.#on.delete(id)
    return false
  }

  clear(): void {
    this.#on.clear()
  }
}
