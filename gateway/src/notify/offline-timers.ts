/**
 * One timer per offline unit and `offline` rule, cancelled when the unit comes back. Bounded: past
 * `max` timers a new one is refused (and counted) rather than letting a city-wide outage hold one
 * timer per unit per rule without limit.
 */
export class OfflineTimers {
  readonly #max: number
  readonly #byDevice = new Map<string, Map<string, NodeJS.Timeout>>()
  #size = 0
  #refused = 0

  constructor(max: number) {
    this.#max = max
  }

  get size(): number {
    return this.#size
  }

  /** Timers not started because the bound was reached. */
  get refused(): number {
    return this.#refused
  }

  /** Starts the rule's timer for the unit unless one runs; false when refused by the bound. */
  start(deviceId: string, ruleId: string, ms: number, fire: () => void): boolean {
    let rules = this.#byDevice.get(deviceId)
    if (rules?.has(ruleId)) return true
    if (this.#size >= this.#max) {
      this.#refused++
      return false
    }
    if (!rules) {
      rules = new Map()
      this.#byDevice.set(deviceId, rules)
    }
    const timer = setTimeout(() => {
      this.#remove(deviceId, ruleId)
      fire()
    }, ms)
    timer.unref()
    rules.set(ruleId, timer)
    this.#size++
    return true
  }

  /** The unit is back: none of its timers fire. */
  cancelDevice(deviceId: string): void {
    const rules = this.#byDevice.get(deviceId)
    if (!rules) return
    for (const t of rules.values()) clearTimeout(t)
    this.#size -= rules.size
    this.#byDevice.delete(deviceId)
  }

  /** The rule is gone: none of its timers fire. */
  cancelRule(ruleId: string): void {
    for (const [deviceId, rules] of this.#byDevice) {
      const t = rules.get(ruleId)
      if (t === undefined) continue
      clearTimeout(t)
      this.#remove(deviceId, ruleId)
    }
  }

  clear(): void {
    for (const rules of this.#byDevice.values()) for (const t of rules.values()) clearTimeout(t)
    this.#byDevice.clear()
    this.#size = 0
  }

  #remove(deviceId: string, ruleId: string): void {
    const rules = this.#byDevice.get(deviceId)
    if (!rules?.delete(ruleId)) return
    this.#size--
    if (rules.size === 0) this.#byDevice.delete(deviceId)
  }
}
