import type { Statement } from 'better-sqlite3'
import { type Db, writeTransaction } from '../db/index.js'
import type { Logger } from '../log.js'
import { SerialPass } from '../serial-pass.js'
import type { EventIndex } from './event-index.js'
import { MAX_SHIP_ROWS, type SharedEventTable } from './shared-events.js'

export interface EventShipperDeps {
  /** The gateway's own database: its `event_outbox` names the events whose rows changed. */
  db: Db
  index: () => EventIndex
  table: SharedEventTable
  /** This gateway's id, recorded with the rows it ships (the clip of an event is on its gateway). */
  node: string
  log: Logger
  /** How often the outbox is looked at, ms (default 250). */
  intervalMs?: number
}

/** Outbox rows read per pass; their events then go in shipments of MAX_SHIP_ROWS. */
const READ_ROWS = 4 * MAX_SHIP_ROWS
/** A read of the events API waits at most this long for this gateway's own events to be shipped. */
const FLUSH_WAIT_MS = 2000

/**
 * Copies this gateway's indexed events to the cluster's shared table. The ingest worker writes an
 * event's id to the outbox in the transaction that makes it durable and indexes it (and the clips
 * feature when a clip's state moves), so what a unit was told is accepted reaches the shared table
 * even if the gateway is killed first: the outbox is read again at the next start. Each pass ships
 * the rows as they are now, then deletes the outbox entries it read; a row changed meanwhile has a
 * newer entry and goes again. While PostgreSQL is away the outbox grows on the local disk and the
 * passes retry; nothing the units send waits for it.
 */
export class EventShipper {
  readonly #d: EventShipperDeps
  readonly #pass: SerialPass
  readonly #s: { read: Statement; del: Statement; count: Statement }
  #timer: NodeJS.Timeout | null = null
  #failing = false
  #shipped = 0
  #failures = 0

  constructor(deps: EventShipperDeps) {
    this.#d = deps
    const db = deps.db
    this.#s = {
      read: db.prepare('SELECT seq, event_id FROM event_outbox ORDER BY seq LIMIT ?'),
      del: db.prepare('DELETE FROM event_outbox WHERE seq <= ?'),
      count: db.prepare('SELECT count(*) AS n FROM event_outbox'),
    }
    this.#pass = new SerialPass(
      () => this.#drain(),
      (err) => {
        this.#failures++
        if (!this.#failing)
          this.#d.log.warn(
            { err: (err as Error).message, pending: this.pending() },
            'could not ship events to the shared database; they wait in the outbox',
          )
        this.#failing = true
      },
    )
  }

  start(): void {
    const tick = () => {
      this.#pass.run()
      this.#timer = setTimeout(tick, this.#d.intervalMs ?? 250)
      this.#timer.unref()
    }
    tick()
  }

  /**
   * Ships what this gateway has indexed so far, waiting at most FLUSH_WAIT_MS: a read after it sees
   * every event this gateway acknowledged before it (unless the shared database is away or far behind).
   */
  async flush(): Promise<void> {
    this.#pass.run()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.#pass.settled(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, FLUSH_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
  }

  /** Events waiting to be shipped (outbox entries; an event changed twice counts twice). */
  pending(): number {
    return (this.#s.count.get() as { n: number }).n
  }

  get shippedTotal(): number {
    return this.#shipped
  }

  get failuresTotal(): number {
    return this.#failures
  }

  /** Stops the passes; one under way finishes. What is left stays in the outbox for the next start. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#pass.stop()
    await this.#pass.settled()
  }

  async #drain(): Promise<void> {
    for (;;) {
      const entries = this.#s.read.all(READ_ROWS) as Array<{ seq: number; event_id: string }>
      const last = entries.at(-1)
      if (!last) break
      // Read after the entries: each row is at least as new as the change its entry records. A row gone
      // from this gateway's index (its retention) has nothing to ship.
      const all = this.#d.index().rowsOf(new Set(entries.map((e) => e.event_id)))
      for (let i = 0; i < all.length; i += MAX_SHIP_ROWS)
        await this.#d.table.ship(all.slice(i, i + MAX_SHIP_ROWS), this.#d.node)
      writeTransaction(this.#d.db, () => this.#s.del.run(last.seq))
      this.#shipped += all.length
      if (this.#failing) {
        this.#failing = false
        this.#d.log.info({ pending: this.pending() }, 'shipping events to the shared database again')
      }
      if (entries.length < READ_ROWS) break
    }
  }
}
