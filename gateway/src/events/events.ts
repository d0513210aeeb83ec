import type { DeviceEvent } from '@doorstep/proto'
import type { Db } from '../db/sqlite.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import type { DeviceRecord } from '../registry/registry.js'
import { EventIndex } from './event-index.js'

/** Puts a unit's timestamp on the gateway clock (the ingest feature's `skew.correct`). */
export type ClockCorrection = (deviceId: string, deviceTs: number, receivedAt: number) => number

/**
 * The events feature: keeps the SQLite event index from `device.event`,
 * which ingest emits once an event is durable in the spool and is not a
 * duplicate. The listener runs on the MQTT path, so it only queues; the
 * queue is merged in one transaction in a microtask. The spool resolves a
 * whole group commit at once, so one index commit serves the group, and it
 * runs before the first PUBACK of the group is written: a unit that was told
 * "accepted" finds its event in the index.
 */
export class Events implements Feature {
  readonly name = 'events'
  readonly #db: Db
  readonly #bus: EventBus
  readonly #correct: ClockCorrection
  readonly #log: Logger
  #index: EventIndex | null = null
  #unsubscribe: (() => void) | null = null
  #pending: Array<{ device: DeviceRecord; event: DeviceEvent; t: number }> = []
  #scheduled = false

  constructor(deps: { db: Db; bus: EventBus; correct: ClockCorrection; log: Logger }) {
    this.#db = deps.db
    this.#bus = deps.bus
    this.#correct = deps.correct
    this.#log = deps.log.child({ feature: 'events' })
  }

  get index(): EventIndex {
    if (!this.#index) throw new Error('events feature is not started')
    return this.#index
  }

  start(): void {
    const index = new EventIndex(this.#db)
    index.load()
    this.#index = index
    this.#unsubscribe = this.#bus.on('device.event', ({ device, event, at }) => {
      this.#pending.push({ device, event, t: this.#correct(device.id, event.ts, at) })
      if (!this.#scheduled) {
        this.#scheduled = true
        queueMicrotask(() => this.flush())
      }
    })
  }

  /** Merges what is queued now; readers that must see an event just published call this first. */
  flush(): void {
    this.#scheduled = false
    const index = this.#index
    if (!index || this.#pending.length === 0) return
    const batch = this.#pending
    this.#pending = []
    for (const ev of index.recordMany(batch)) {
      this.#log.warn({ eventId: ev.eventId }, 'event id belongs to another unit; not indexed')
    }
  }

  stop(): void {
    this.flush()
    this.#unsubscribe?.()
    this.#unsubscribe = null
    this.#index = null
  }
}
