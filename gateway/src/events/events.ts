import type { Db, SharedDb } from '../db/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { type BackfillResult, EventBackfill } from './event-backfill.js'
import { EventIndex, type RetentionResult } from './event-index.js'
import { type ClipEvents, type EventReader, localReader } from './event-reader.js'
import { EventShipper } from './event-shipper.js'
import { SharedEventTable, type SharedSweep } from './shared-events.js'

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
  held: () => ReadonlySet<string> | Promise<ReadonlySet<string>>
  /**
   * The state the gateways share. On PostgreSQL this gateway's indexed events are copied to its shared
   * table, and the events API and case pages read that: every gateway answers for the whole cluster.
   */
  shared?: SharedDb
  /** This gateway's id in the cluster (recorded with the events it ships). */
  node?: string
  /** Which shared database (host, port, name, no password): the copy of earlier events is per database. */
  sharedTarget?: string
  now?: () => number
}

/**
 * The events feature: owns the SQLite event index, its schema and its
 * readers. The index is written on the ingest path, not here: the spool's
 * worker merges each event into it over its own connection once the event is
 * durable and before the unit's PUBACK (see ingest/spool-worker.ts), so a unit
 * told "accepted" finds its event indexed, and the index's page writes stay
 * off the thread that runs the broker. That worker also moves quiet rows on
 * into their monthly tables; this feature drops months past retention. When
 * gateways share PostgreSQL it also ships what this gateway indexed to the
 * cluster's table, and reads there (`reader`).
 */
export class Events implements Feature {
  readonly name = 'events'
  readonly #d: EventsDeps
  readonly #log: Logger
  #index: EventIndex | null = null
  #timer: NodeJS.Timeout | null = null
  #removed = 0
  #sharedTable: SharedEventTable | null = null
  #shipper: EventShipper | null = null
  #reader: EventReader | null = null
  #clipEvents: ClipEvents | null = null
  #backfill: EventBackfill | null = null
  #backfilled: Promise<BackfillResult> | null = null

  constructor(deps: EventsDeps) {
    this.#d = deps
    this.#log = deps.log.child({ feature: 'events' })
  }

  get index(): EventIndex {
    if (!this.#index) throw new Error('events feature is not started')
    return this.#index
  }

  /** Where the events API and the case pages read: this gateway's index, or the cluster's table. */
  get reader(): EventReader {
    if (!this.#reader) throw new Error('events feature is not started')
    return this.#reader
  }

  /** What the clips feature reads and writes of events: this gateway's index, or the cluster's table. */
  get clipEvents(): ClipEvents {
    if (!this.#clipEvents) throw new Error('events feature is not started')
    return this.#clipEvents
  }

  /** Resolves when the copy of this gateway's earlier events ends (null on one machine). */
  get backfilled(): Promise<BackfillResult> | null {
    return this.#backfilled
  }

  /** The shipper of this gateway's events to the cluster's table; null on one machine. */
  get shipper(): EventShipper | null {
    return this.#shipper
  }

  async start(): Promise<void> {
    const shared = this.#d.shared?.dialect === 'postgres' ? this.#d.shared : null
    const index = new EventIndex(this.#d.db, { outbox: shared !== null })
    index.load()
    this.#index = index
    if (shared) {
      const table = new SharedEventTable(shared)
      await table.migrate()
      const shipper = new EventShipper({
        db: this.#d.db,
        index: () => this.index,
        table,
        node: this.#d.node ?? 'gateway',
        log: this.#log,
      })
      shipper.start()
      // What this gateway indexed before it shared the database, copied in the background.
      const backfill = new EventBackfill({
        db: this.#d.db,
        index: () => this.index,
        table,
        node: this.#d.node ?? 'gateway',
        target: this.#d.sharedTarget ?? 'shared',
        pending: () => shipper.pending(),
        log: this.#log,
      })
      this.#backfill = backfill
      this.#backfilled = backfill.run().catch((err: Error) => {
        this.#log.error(
          { err: err.message },
          'the copy of earlier events stopped; it resumes at the next start',
        )
        return { skipped: false, queued: 0, resumedFrom: 0, done: false }
      })
      this.#sharedTable = table
      this.#shipper = shipper
      // This gateway's own events are shipped before each read: what it acknowledged, it shows.
      const fresh = async <T>(read: () => Promise<T>): Promise<T> => {
        await shipper.flush()
        return read()
      }
      this.#reader = {
        query: (q) => fresh(() => table.query(q)),
        get: (id) => fresh(() => table.get(id)),
        ofUnits: (ids, from, to, perUnit) => fresh(() => table.ofUnits(ids, from, to, perUnit)),
      }
      // The clip state lives in the shared row (shipments no longer move it once a clip is on its way,
      // see shared-events.ts). An upload follows its event's PUBACK at once: the `end` that announced
      // the clip may be this gateway's, still in its outbox.
      this.#clipEvents = {
        get: (id) => fresh(() => table.get(id)),
        setClipState: (id, state) => table.setClipState(id, state),
        unfinishedClipsBefore: (before) => table.unfinishedClipsBefore(before),
      }
    } else {
      this.#reader = localReader(() => this.index)
      this.#clipEvents = index
    }
    const tick = (next: number) => {
      this.#timer = setTimeout(async () => {
        try {
          await this.sweep()
          await this.sweepShared()
        } catch (err) {
          this.#log.warn({ err: (err as Error).message }, 'event retention failed; trying again later')
        }
        if (this.#index) tick(this.#d.sweepIntervalMs ?? 6 * 3_600_000)
      }, next)
      this.#timer.unref()
    }
    tick(Math.min(FIRST_SWEEP_MS, this.#d.sweepIntervalMs ?? FIRST_SWEEP_MS))
  }

  /**
   * Drops what is past retention from the cluster's shared table, but what this gateway or a case
   * holds; one gateway at a time (null on one machine, where there is no shared table).
   */
  async sweepShared(now = (this.#d.now ?? Date.now)()): Promise<SharedSweep | null> {
    const table = this.#sharedTable
    if (!table) return null
    const r = await table.dropExpired(now - this.#d.retentionDays * 86_400_000, await this.#d.held())
    if (r.removed > 0) this.#log.info({ removed: r.removed }, 'shared events past retention removed')
    return r
  }

  /** Drops the events past retention but those held; the timer calls it, tests with a fixed `now`. */
  async sweep(now = (this.#d.now ?? Date.now)()): Promise<RetentionResult> {
    const before = now - this.#d.retentionDays * 86_400_000
    const r = this.index.dropExpired(before, await this.#d.held())
    this.#removed += r.removed
    if (r.months.length > 0 || r.removed > 0)
      this.#log.info({ months: r.months, removed: r.removed, kept: r.kept }, 'events past retention removed')
    return r
  }

  /** Events removed from the index past retention since start (for the metrics). */
  get removedTotal(): number {
    return this.#removed
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#backfill?.stop()
    await this.#backfilled
    this.#backfill = null
    this.#backfilled = null
    if (this.#shipper) {
      // What ingest committed before it stopped goes now if it can; else it waits in the outbox.
      await this.#shipper.flush()
      await this.#shipper.stop()
    }
    this.#shipper = null
    this.#sharedTable = null
    this.#reader = null
    this.#index = null
  }
}
