import { Store } from '../lib/store.js'

/**
 * A counter that moves whenever what the page shows of the fleet may be out
 * of date: a presence alert, a gap in the feed, a reconnect. Views holding
 * fleet data (health, the offline list, a district's units) refetch when it
 * moves. Presence alerts come in storms (a district's power cut takes dozens
 * of units at once, a gateway restart all 2,896), so a presence bump waits
 * `settleMs` to gather the storm and comes at most every `minGapMs`; a gap or
 * a reconnect bumps at once.
 */
export class FleetRevision {
  readonly store = new Store(0)
  readonly #settleMs: number
  readonly #minGapMs: number
  readonly #now: () => number
  #timer: ReturnType<typeof setTimeout> | null = null
  #lastBump = Number.NEGATIVE_INFINITY

  constructor(opts: { settleMs?: number; minGapMs?: number; now?: () => number } = {}) {
    this.#settleMs = opts.settleMs ?? 750
    this.#minGapMs = opts.minGapMs ?? 3000
    this.#now = opts.now ?? Date.now
  }

  /** Something changed that can wait for the storm to pass. */
  soon(): void {
    if (this.#timer !== null) return
    const wait = Math.max(this.#settleMs, this.#lastBump + this.#minGapMs - this.#now())
    this.#timer = setTimeout(() => this.now(), wait)
  }

  /** Something changed that must be fetched at once. */
  now(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#lastBump = this.#now()
    this.store.update((n) => n + 1)
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}
