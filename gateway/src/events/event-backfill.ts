import type { Statement } from 'better-sqlite3'
import type { Db } from '../db/index.js'
import type { Logger } from '../log.js'
import type { EventIndex } from './event-index.js'
import type { SharedEventTable } from './shared-events.js'

export interface EventBackfillDeps {
  db: Db
  index: () => EventIndex
  table: SharedEventTable
  node: string
  /** Which shared database (host, port, name): the local cursor is kept per database. */
  target: string
  /** Outbox entries waiting to be shipped (the shipper's). */
  pending: () => number
  log: Logger
  /** Pause between chunks, ms (default 20): the walk takes turns with ingest on the main thread. */
  pauseMs?: number
  /** How often progress is logged, ms (default 10 s). */
  progressEveryMs?: number
  now?: () => number
}

/** What a run did: `skipped` when the database already has this gateway's events. */
export interface BackfillResult {
  skipped: boolean
  /** Events named in the outbox by this run and the runs before it that it resumed. */
  queued: number
  /** Of those, named by the runs before (where this one resumed). */
  resumedFrom: number
  /** False when stopped before the end (the next start resumes). */
  done: boolean
}

/** Events named in the outbox a chunk. */
const CHUNK = 500
/** The walk waits while the outbox holds more than this, so it never runs far ahead of the shipper. */
const MAX_AHEAD = 5_000
/** After a failed read of the database (it is away), try again after this long. */
const RETRY_MS = 5_000

/**
 * Brings the events a gateway indexed before it shared PostgreSQL into the shared table, once per
 * database: events indexed since then reach it through the outbox, these never went there. The walk
 * names them in the outbox too, so the shipper sends each row as it is when sent, in order with the
 * changes ingest makes meanwhile (a row shipped twice merges with itself). It walks the recent table
 * first, then each month's parts and the kept rows, in rowid order: a row moved on into a month while
 * the walk runs was either named from the recent table already or is appended to its month's table
 * ahead of the walk. Each chunk and the cursor (`event_backfill`, per database) are one local
 * transaction, so a restart resumes where it stopped. Once the outbox has shipped past the last chunk,
 * the database records the gateway as done (`event_backfills`): it does not copy again.
 */
export class EventBackfill {
  readonly #d: EventBackfillDeps
  readonly #s: { get: Statement; put: Statement; del: Statement; behind: Statement }
  #stopped = false
  #wake: (() => void) | null = null

  constructor(deps: EventBackfillDeps) {
    this.#d = deps
    this.#s = {
      get: deps.db.prepare('SELECT tbl, after_rowid, queued FROM event_backfill WHERE target = ?'),
      put: deps.db.prepare(
        `INSERT INTO event_backfill (target, tbl, after_rowid, queued) VALUES (?, ?, ?, ?)
         ON CONFLICT (target) DO UPDATE SET tbl = excluded.tbl, after_rowid = excluded.after_rowid,
           queued = excluded.queued`,
      ),
      del: deps.db.prepare('DELETE FROM event_backfill WHERE target = ?'),
      behind: deps.db.prepare('SELECT 1 FROM event_outbox WHERE seq <= ? LIMIT 1'),
    }
  }

  /** Stops at the next chunk; what was named stays counted for the next start. */
  stop(): void {
    this.#stopped = true
    this.#wake?.()
  }

  async run(): Promise<BackfillResult> {
    const { node, log, target } = this.#d
    const now = this.#d.now ?? Date.now
    let already = false
    const asked = await this.#retrying(async () => {
      already = await this.#d.table.backfilled(node)
    })
    if (!asked.ok) return this.#result(0, 0, false)
    if (already) return { skipped: true, queued: 0, resumedFrom: 0, done: true }
    const index = this.#d.index()
    const sizes = index.sizes()
    const order = sizes.map((s) => s.table)
    const total = sizes.reduce((n, s) => n + s.rows, 0)
    const saved = this.#s.get.get(target) as { tbl: string; after_rowid: number; queued: number } | undefined
    const resumedFrom = saved?.queued ?? 0
    let queued = resumedFrom
    // A table the cursor named that is gone now (its month dropped) has nothing left to name.
    const at = saved ? order.indexOf(saved.tbl) : 0
    let after = saved && at >= 0 ? saved.after_rowid : 0
    if (total > 0)
      log.info(
        { rows: total, resumedAt: queued },
        "copying this gateway's earlier events to the shared database",
      )
    let lastLog = now()
    for (let i = Math.max(0, at); i < order.length; i++, after = 0) {
      const name = order[i] as string
      for (;;) {
        // Never far ahead of the shipper: the outbox stays small however large the index.
        while (!this.#stopped && this.#d.pending() > MAX_AHEAD) await this.#pause(200)
        if (this.#stopped) return this.#result(queued, resumedFrom, false)
        const step = index.enqueue(name, after, CHUNK, (last, rows) =>
          this.#s.put.run(target, name, last, queued + rows),
        )
        if (!step || step.rows === 0) break
        after = step.lastRowid
        queued += step.rows
        if (now() - lastLog >= (this.#d.progressEveryMs ?? 10_000)) {
          lastLog = now()
          log.info({ queued, of: total }, "copying this gateway's earlier events to the shared database")
        }
        await this.#pause(this.#d.pauseMs ?? 20)
      }
    }
    // Done once the shipper is past the last entry named: outbox sequence numbers only grow while it
    // holds rows.
    const lastSeq = (
      this.#d.db.prepare('SELECT coalesce(max(seq), 0) AS s FROM event_outbox').get() as { s: number }
    ).s
    while (!this.#stopped && this.#s.behind.get(lastSeq) !== undefined) await this.#pause(200)
    if (this.#stopped) return this.#result(queued, resumedFrom, false)
    if (!(await this.#retrying(() => this.#d.table.markBackfilled(node, queued, now()))).ok)
      return this.#result(queued, resumedFrom, false)
    this.#s.del.run(target)
    if (queued > 0) log.info({ events: queued }, "this gateway's earlier events are in the shared database")
    return this.#result(queued, resumedFrom, true)
  }

  #result(queued: number, resumedFrom: number, done: boolean): BackfillResult {
    return { skipped: false, queued, resumedFrom, done }
  }

  /** Runs `fn` until it succeeds or the backfill stops. */
  async #retrying(fn: () => Promise<unknown>): Promise<{ ok: boolean }> {
    for (;;) {
      if (this.#stopped) return { ok: false }
      try {
        await fn()
        return { ok: true }
      } catch (err) {
        this.#d.log.warn(
          { err: (err as Error).message },
          'the shared database did not answer the event copy; trying again',
        )
        await this.#pause(RETRY_MS)
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(t)
        this.#wake = null
        resolve()
      }
    })
  }
}
