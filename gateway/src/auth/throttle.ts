/**
 * Failed authentications per client address, in fixed windows. Tokens and
 * unit secrets are 256 random bits, so guessing one is hopeless anyway; what
 * this stops is an address hammering the gateway with guesses (each Basic
 * guess costs a scrypt) and a leaked-token scanner walking the API. Once an
 * address has `limit` failures in a window, every credentialed request from it
 * is refused until the window ends, the right credentials included: answering
 * a correct guess normally would let the guessing go on. Other addresses are
 * not affected.
 */
export class AuthThrottle {
  readonly #limit: number
  readonly #windowMs: number
  readonly #now: () => number
  /** address → failures in the window that started at `since`. */
  readonly #byAddress = new Map<string, { since: number; failures: number }>()
  /** Most addresses tracked at once: past it stale windows are swept, then the oldest dropped. */
  readonly #sweepAt: number

  constructor(opts: { limit: number; windowMs: number; now?: () => number; sweepAt?: number }) {
    this.#limit = opts.limit
    this.#windowMs = opts.windowMs
    this.#now = opts.now ?? Date.now
    this.#sweepAt = opts.sweepAt ?? 10_000
  }

  /** Seconds the address must wait before trying again, or 0 when it may try now. */
  retryAfterS(address: string): number {
    const e = this.#current(address)
    if (!e || e.failures < this.#limit) return 0
    return Math.max(1, Math.ceil((e.since + this.#windowMs - this.#now()) / 1000))
  }

  /** Counts one failed authentication (credentials presented and refused) from the address. */
  /** Every refused credential since start, for the metrics: one number, no labels, no addresses. */
  failuresTotal = 0

  fail(address: string): void {
    this.failuresTotal++
    const e = this.#current(address)
    if (e) {
      e.failures++
      return
    }
    if (this.#byAddress.size >= this.#sweepAt) this.#sweep()
    // Still full of live windows (a spray from many addresses): forget the oldest, keeping memory
    // bounded, a slice more than needed so that the sweep above runs once per slice of newcomers.
    if (this.#byAddress.size >= this.#sweepAt) {
      const keep = this.#sweepAt - Math.max(1, Math.floor(this.#sweepAt / 64))
      for (const a of this.#byAddress.keys()) {
        if (this.#byAddress.size <= keep) break
        this.#byAddress.delete(a)
      }
    }
    this.#byAddress.set(address, { since: this.#now(), failures: 1 })
  }

  /** Addresses with failures in their current window (for tests and metrics). */
  get tracked(): number {
    return this.#byAddress.size
  }

  #current(address: string): { since: number; failures: number } | undefined {
    const e = this.#byAddress.get(address)
    if (e && this.#now() - e.since >= this.#windowMs) {
      this.#byAddress.delete(address)
      return undefined
    }
    return e
  }

  #sweep(): void {
    const now = this.#now()
    for (const [a, e] of this.#byAddress) if (now - e.since >= this.#windowMs) this.#byAddress.delete(a)
  }
}
