import type { Db } from '../db/index.js'
import type { Feature } from '../feature.js'
import { EventIndex } from './event-index.js'

/**
 * The events feature: owns the SQLite event index, its schema and its
 * readers. The index is written on the ingest path, not here: the spool's
 * worker merges each event into it over its own connection once the event is
 * durable and before the unit's PUBACK (see ingest/spool-worker.ts), so a unit
 * told "accepted" finds its event indexed, and the index's page writes stay
 * off the thread that runs the broker.
 */
export class Events implements Feature {
  readonly name = 'events'
  readonly #db: Db
  #index: EventIndex | null = null

  constructor(deps: { db: Db }) {
    this.#db = deps.db
  }

  get index(): EventIndex {
    if (!this.#index) throw new Error('events feature is not started')
    return this.#index
  }

  start(): void {
    const index = new EventIndex(this.#db)
    index.load()
    this.#index = index
  }

  stop(): void {
    this.#index = null
  }
}
