import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { InvalidReason } from './decode.js'

interface DeviceTally {
  windowStart: number
  inWindow: number
  total: number
  lastLogged: number
  suppressed: number
  byReason: Map<InvalidReason, number>
}

/**
 * Counts bad payloads per unit and reason, logs them at most once per unit
 * per `logEveryMs` (with how many were suppressed), and tells the caller to
 * cut off a unit that sends more than `floodLimit` bad payloads in a window.
 */
export class InvalidTracker {
  readonly #tallies = new Map<string, DeviceTally>()
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #windowMs: number
  readonly #floodLimit: number
  readonly #logEveryMs: number

  constructor(
    log: Logger,
    metrics: Metrics,
    opts: { windowMs?: number; floodLimit?: number; logEveryMs?: number } = {},
  ) {
    this.#log = log
    this.#metrics = metrics
    this.#windowMs = opts.windowMs ?? 10_000
    this.#floodLimit = opts.floodLimit ?? 50
    this.#logEveryMs = opts.logEveryMs ?? 10_000
  }

  /** Returns true when the unit is flooding and should be disconnected. */
  record(deviceId: string, reason: InvalidReason, detail: string, now: number): boolean {
    this.#metrics.invalid.inc({ reason })
    let t = this.#tallies.get(deviceId)
    if (!t) {
      t = { windowStart: now, inWindow: 0, total: 0, lastLogged: 0, suppressed: 0, byReason: new Map() }
      this.#tallies.set(deviceId, t)
    }
    if (now - t.windowStart > this.#windowMs) {
      t.windowStart = now
      t.inWindow = 0
    }
    t.inWindow++
    t.total++
    t.byReason.set(reason, (t.byReason.get(reason) ?? 0) + 1)
    if (now - t.lastLogged >= this.#logEveryMs) {
      this.#log.warn({ device: deviceId, reason, detail, suppressed: t.suppressed }, 'invalid payload')
      t.lastLogged = now
      t.suppressed = 0
    } else {
      t.suppressed++
    }
    return t.inWindow > this.#floodLimit
  }

  countsFor(deviceId: string): Record<string, number> {
    const t = this.#tallies.get(deviceId)
    return t ? Object.fromEntries(t.byReason) : {}
  }
}
