import type { Db } from '../db/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { EventIndex, type RetentionResult } from './event-index.js'

/** The first sweep waits for the gateway to settle after its start. */
const FIRST_SWEEP_MS = 60_000

export interface EventsDeps {
  db: Db
  log: Logger
  /** Events are kept this long (by when they started), as long as InfluxDB keeps them. */
  retentionDays: number
  /** How often the index drops what is past retention, ms (default six hours). */
  sweepIntervalMs?: number
  /** Event ids a case or a person holds: kept past retention. */
  held: () => ReadonlySet<string>
  now?: () => number
}

/**
 * The events feature: owns the SQLite event index, its schema and its
 * readers. The index is written on the ingest path, not here: the spool's
 * worker merges each event into it over its own connection once the event is
 * durable and before the unit's PUBACK (see ingest/spool-worker.ts), so a unit
 * told "accepted" finds its event indexed, and the index's page writes stay
 * off the thread that runs the broker. That worker also moves quiet rows on
 * into their monthly tables; this feature drops months past retention.
 */
export class Events implements Feature {
  readonly name = 'events'
  readonly #d: EventsDeps
  readonly #log: Logger
  #index: EventIndex | null = null
  #timer: NodeJS.Timeout | null = null
  #removed = 0

  constructor(deps: EventsDeps) {
    this.#d = deps
    this.#log = deps.log.child({ feature: 'events' })
  }

  get index(): EventIndex {
    if (!this.#index) throw new Error('events feature is not started')
    return this.#index
  }

  start(): void {
    const index = new EventIndex(this.#d.db)
    index.load()
    this.#index = index
    const tick = (next: number) => {
      this.#timer = setTimeout(() => {
        try {
          this.sweep()
        } catch (err) {
          this.#log.warn({ err: (err as Error).message }, 'event retention failed; trying again later')
        }
        tick(this.#d.sweepIntervalMs ?? 6 * 3_600_000)
      }, next)
      this.#timer.unref()
    }
    tick(Math.min(FIRST_SWEEP_MS, this.#d.sweepIntervalMs ?? FIRST_SWEEP_MS))
  }

  /** Drops the events past retention but those held; the timer calls it, tests with a fixed `now`. */
  sweep(now = (this.#d.now ?? Date.now)()): RetentionResult {
    const before = now - this.#d.retentionDays * 86_400_000
    const r = this.index.dropExpired(before, this.#d.held())
    this.#removed += r.removed
    if (r.months.length > 0 || r.removed > 0)
      this.#log.info({ months: r.months, removed: r.removed, kept: r.kept }, 'events past retention removed')
    return r
  }

  /** Events removed from the index past retention since start (for the metrics). */
  get removedTotal(): number {
    return this.#removed
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#index = null
  }
}
