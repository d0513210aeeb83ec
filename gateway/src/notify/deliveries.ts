import type { NotificationPayload } from '@doorstep/proto'
import type { Logger } from '../log.js'
import { backoffMs } from './backoff.js'
import type { Channel, NotifyStore } from './notify-store.js'
import { scrub } from './scrub.js'

/** One try at one channel; throws to fail it. The signal aborts it at the per-try timeout. */
export type SendOnce = (channel: Channel, payload: NotificationPayload, signal: AbortSignal) => Promise<void>

export interface DeliveryOptions {
  store: NotifyStore
  log: Logger
  send: SendOnce
  attempts: number
  retryBaseMs: number
  timeoutMs: number
  /** Every secret a failure's text could echo (webhook secrets come with their channel). */
  secrets: () => ReadonlyArray<string | undefined>
  now?: () => number
  random?: () => number
  /**
   * Deliveries tried or waiting for a retry at once (DOORSTEP_NOTIFY_MAX_TIMERS); past it a new one is a
   * dead letter at once. A dead endpoint holds each delivery for its whole retry schedule, so without
   * it a storm of notifications would hold a timer and a payload apiece in memory.
   */
  maxPending?: number
}

/** Default bound of deliveries held at once. */
const MAX_PENDING = 100_000
/** At most one warning a minute about deliveries refused for the bound. */
const WARN_EVERY_MS = 60_000

/**
 * Delivers notifications with retries: each try is bounded by the timeout; a failed one is tried
 * again after an exponential wait with jitter, and after the last try the notification is a dead
 * letter (status `failed`, its last error scrubbed of secrets). Retries live in memory: a delivery
 * the gateway stops in the middle of becomes a dead letter, never a silent loss.
 */
export class Deliveries {
  readonly #o: DeliveryOptions
  readonly #now: () => number
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inFlight = new Set<AbortController>()
  #stopped = false
  #refused = 0
  #warnedAt = Number.NEGATIVE_INFINITY

  constructor(o: DeliveryOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
  }

  /** Deliveries being tried or waiting for their next try. */
  get pending(): number {
    return this.#timers.size + this.#inFlight.size
  }

  start(): void {
    this.#stopped = false
  }

  stop(): void {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const c of this.#inFlight) c.abort()
    this.#inFlight.clear()
  }

  /** Starts the delivery of a recorded notification (`payload.id` is its row). */
  deliver(channel: Channel, payload: NotificationPayload): void {
    if (this.pending >= (this.#o.maxPending ?? MAX_PENDING)) {
      const now = this.#now()
      this.#o.store.settle(payload.id, 'failed', 0, 'too many deliveries pending', now)
      this.#refused++
      if (now - this.#warnedAt >= WARN_EVERY_MS) {
        this.#warnedAt = now
        this.#o.log.warn(
          { refused: this.#refused, pending: this.pending },
          'too many notification deliveries pending; new ones are dead letters',
        )
      }
      return
    }
    void this.#try(channel, payload, 1)
  }

  async #try(channel: Channel, payload: NotificationPayload, attempt: number): Promise<void> {
    if (this.#stopped) return
    const { store, log } = this.#o
    const ctrl = new AbortController()
    const timeout = setTimeout(() => ctrl.abort(new Error('the try timed out')), this.#o.timeoutMs)
    this.#inFlight.add(ctrl)
    try {
      await this.#o.send(channel, payload, ctrl.signal)
      if (this.#stopped) return
      store.settle(payload.id, 'sent', attempt, null, this.#now())
    } catch (err) {
      if (this.#stopped) return
      const cause = ctrl.signal.aborted ? ctrl.signal.reason : err
      const reason = scrub(cause, [channel.secret, ...this.#o.secrets()])
      if (attempt >= this.#o.attempts) {
        store.settle(payload.id, 'failed', attempt, reason, this.#now())
        log.warn(
          { notification: payload.id, channel: channel.id, attempts: attempt, reason },
          'notification is a dead letter after its last try',
        )
        return
      }
      store.settle(payload.id, 'retrying', attempt, reason, this.#now())
      const wait = backoffMs(attempt, this.#o.retryBaseMs, this.#o.random)
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        void this.#try(channel, payload, attempt + 1)
      }, wait)
      timer.unref()
      this.#timers.add(timer)
    } finally {
      clearTimeout(timeout)
      this.#inFlight.delete(ctrl)
    }
  }
}
