/**
 * At most `perMinute` hellos applied per unit in each minute. A hello rewrites
 * the unit's identity in the registry (a SQLite write and a new registry
 * record), so a unit sending them in a loop, or reconnecting in one, would turn
 * each into a write; the excess is dropped instead. A fixed window per unit is
 * enough: the bound matters, not its smoothness. The map holds one entry per
 * unit that sent a hello, and only authenticated units reach ingest.
 */
export class HelloLimit {
  readonly #perMinute: number
  readonly #windows = new Map<string, { start: number; count: number }>()

  constructor(perMinute: number) {
    this.#perMinute = perMinute
  }

  /** True when this hello may be applied; false when the unit is over its rate. */
  tryTake(deviceId: string, now: number): boolean {
    const w = this.#windows.get(deviceId)
    if (!w || now - w.start >= 60_000) {
      this.#windows.set(deviceId, { start: now, count: 1 })
      return true
    }
    if (w.count >= this.#perMinute) return false
    w.count++
    return true
  }
}
