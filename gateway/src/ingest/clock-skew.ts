/**
 * Unit clocks drift and some are set hours off. The gateway learns each
 * unit's offset from its heartbeats (arrival time minus the unit's `ts`) and
 * uses it to place events on the gateway's clock. Arrival time includes the
 * uplink delay, so the smallest recent offset is the best estimate; it is
 * re-learned when the unit's clock jumps.
 */
export class ClockSkew {
  readonly #offset = new Map<string, number>()
  /** A jump beyond this resets the estimate instead of being averaged in. */
  readonly #jumpMs: number

  constructor(jumpMs = 60_000) {
    this.#jumpMs = jumpMs
  }

  observe(deviceId: string, deviceTs: number, receivedAt: number): void {
    const sample = receivedAt - deviceTs
    const prev = this.#offset.get(deviceId)
    if (prev === undefined || Math.abs(sample - prev) > this.#jumpMs || sample < prev) {
      this.#offset.set(deviceId, sample)
    } else {
      // Creep up slowly so one late packet does not move the estimate.
      this.#offset.set(deviceId, prev + (sample - prev) / 16)
    }
  }

  /** The unit's time put on the gateway's clock; without an estimate, trust the unit within `toleranceMs`. */
  correct(deviceId: string, deviceTs: number, receivedAt: number, toleranceMs = 10 * 60_000): number {
    const off = this.#offset.get(deviceId)
    if (off !== undefined) return Math.round(deviceTs + off)
    return Math.abs(receivedAt - deviceTs) <= toleranceMs ? deviceTs : receivedAt
  }

  forget(deviceId: string): void {
    this.#offset.delete(deviceId)
  }
}
