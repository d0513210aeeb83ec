import type { ClipState, EventsQuery } from '@doorstep/proto'
import { type Db, migrate, writeTransaction } from '../db/index.js'
import { encodeCursor } from './event-cursor.js'
import { eventKey } from './event-key.js'
import { type Admission, mergeTuple } from './event-merge.js'
import { EVENTS_SCHEMA } from './event-migrations.js'
import { CLIP_INDEXED, pageQuery, unitsQuery } from './event-query.js'
import { dropExpired, type RetentionResult } from './event-retention.js'
import { type EventRow, type IndexedEvent, toEvent } from './event-row.js'
import { EventTables } from './event-tables.js'
import { haversineM } from './geo.js'
import { type EventSite, type IndexedMessage, type IndexTuple, toIndexTuple } from './index-tuple.js'
import { monthEnd, monthStart, RECENT } from './partitions.js'
import { DEFAULT_ROLLOVER, type RolloverLimits, type RolloverStep, rollOver } from './rollover.js'

export type { EventSite, IndexedEvent, IndexTuple, RetentionResult, RolloverLimits, RolloverStep }
// The index's parts, for the features, the ingest worker and the tests that use them.
export { DEFAULT_ROLLOVER, EVENTS_SCHEMA, eventKey, toIndexTuple }

/**
 * The SQLite index of motion events: one row per event id, merged over its
 * lifecycle start → update* → end. The ingest path merges each message in
 * the spool's transaction, on the worker thread (`admit`); `record` is the
 * same merge in a transaction of its own. Answers the events API; the clips
 * feature moves `clip_state` along.
 *
 * Rows live in a small recent table and then in one table per month (see
 * partitions.ts): a new event's commit touches the pages of the recent
 * table's indexes, not of a year's, and retention drops a month as a table.
 */
export class EventIndex {
  readonly #db: Db
  readonly #outbox: boolean
  #tables: EventTables | null = null

  /**
   * With `outbox`, every change of a row on this connection names its event in `event_outbox`, in the
   * same transaction, for the shipper to copy to the cluster's shared table (event-shipper.ts).
   */
  constructor(db: Db, opts: { outbox?: boolean } = {}) {
    this.#db = db
    this.#outbox = opts.outbox ?? false
  }

  /** Creates or migrates the tables, then prepares; the owner of the schema calls this. */
  load(): void {
    // The migration to the integer key computes it in SQL.
    this.#db.function('doorstep_event_key', { deterministic: true }, (id) => eventKey(String(id)))
    migrate(this.#db, 'events', EVENTS_SCHEMA)
    this.prepare()
    // Exact distance for `near`, after the bounding box has used the lat index.
    this.#db.function('doorstep_haversine_m', { deterministic: true }, (a, b, c, d) =>
      haversineM(a as number, b as number, c as number, d as number),
    )
  }

  /**
   * Prepares on tables `load` made. The ingest worker writes the index over its own connection this
   * way, with `filters`: it keeps each month's id filter and moves rows on (`rollOver`).
   */
  prepare(opts: { filters?: boolean } = {}): void {
    const tables = new EventTables(this.#db, { filters: opts.filters ?? false })
    tables.refresh()
    this.#tables = tables
  }

  /**
   * Merges one lifecycle message. `t` is the message time on the gateway
   * clock. A message for an event id owned by another unit is ignored: a unit
   * must not be able to rewrite another unit's event (or its clip digest).
   * Returns false when ignored.
   */
  record(device: EventSite, ev: IndexedMessage, t: number): boolean {
    const f = toIndexTuple(device, ev, t)
    const tables = this.#must()
    return (
      writeTransaction(this.#db, () => {
        tables.refresh()
        const admitted = mergeTuple(tables, f)
        if (this.#outbox && (admitted === 'new' || admitted === 'merged')) this.#toOutbox(f[0])
        return admitted
      }) !== 'foreign'
    )
  }

  /**
   * `record` inside the caller's transaction, saying what it did: the spool
   * stores an event's line in the same transaction unless it was a `repeat`,
   * so "durable", "indexed" and "seen once" are one commit. The caller calls
   * `refresh` once per transaction first.
   */
  admit(f: IndexTuple): Admission {
    if (!this.#db.inTransaction) throw new Error('EventIndex.admit runs inside a transaction')
    const admitted = mergeTuple(this.#must(), f)
    if (this.#outbox && (admitted === 'new' || admitted === 'merged')) this.#toOutbox(f[0])
    return admitted
  }

  /** Takes in what other connections changed in the catalogue (a month dropped). Inside the transaction. */
  refresh(): void {
    this.#must().refresh()
  }

  /** One chunk of quiet rows on into their months (the ingest worker's connection only). */
  rollOver(now: number, limits: RolloverLimits = DEFAULT_ROLLOVER): RolloverStep {
    return rollOver(this.#must(), limits, now)
  }

  /** Writes the months' id filters that changed (at close). */
  saveFilters(): void {
    const tables = this.#must()
    writeTransaction(this.#db, () => tables.saveFilters())
  }

  /** Removes events that started before `before`, except held ones (see event-retention.ts). */
  dropExpired(before: number, held: ReadonlySet<string>): RetentionResult {
    return dropExpired(this.#must(), before, held)
  }

  /** Rows per table: the recent one, then each month, newest first. */
  sizes(): Array<{ table: string; rows: number }> {
    const tables = this.#must()
    tables.refresh()
    const recent = (this.#db.prepare(`SELECT count(*) AS n FROM ${RECENT}`).get() as { n: number }).n
    return [
      { table: RECENT, rows: recent },
      ...tables.partitions().map((p) => ({ table: p.name, rows: p.rows })),
    ]
  }

  get(id: string): IndexedEvent | undefined {
    const tables = this.#must()
    tables.refresh()
    const found = tables.find(eventKey(id), id)
    return found ? toEvent(found.row) : undefined
  }

  setClipState(id: string, state: ClipState): void {
    const tables = this.#must()
    writeTransaction(this.#db, () => {
      tables.refresh()
      const found = tables.find(eventKey(id), id)
      if (!found) return
      tables
        .st(`UPDATE ${found.table} SET clip_state = ? WHERE id_key = ? AND event_id = ?`)
        .run(state, eventKey(id), id)
      if (this.#outbox) this.#toOutbox(id)
    })
  }

  /** The rows of these events as stored, those found (for the shipper): one read transaction. */
  rowsOf(ids: Iterable<string>): EventRow[] {
    const tables = this.#must()
    return this.#db.transaction(() => {
      tables.refresh()
      const out: EventRow[] = []
      for (const id of ids) {
        const found = tables.find(eventKey(id), id)
        if (found) out.push(found.row)
      }
      return out
    })()
  }

  /**
   * Names in the outbox the events of one of the index's tables after `afterRowid`, up to `limit`, in
   * rowid order, and runs `then` with the last rowid in the same transaction (the backfill's walk and
   * its cursor). Null when the table is gone (its month dropped meanwhile); 0 rows at its end.
   */
  enqueue(
    table: string,
    afterRowid: number,
    limit: number,
    then: (lastRowid: number, rows: number) => void,
  ): { rows: number; lastRowid: number } | null {
    const tables = this.#must()
    return writeTransaction(this.#db, () => {
      tables.refresh()
      if (table !== RECENT && !tables.partitions().some((p) => p.name === table)) return null
      const ids = tables
        .st(`SELECT rowid AS r, event_id AS id FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`)
        .all(afterRowid, limit) as Array<{ r: number; id: string }>
      const last = ids.at(-1)
      if (!last) return { rows: 0, lastRowid: afterRowid }
      for (const { id } of ids) this.#toOutbox(id)
      then(last.r, ids.length)
      return { rows: ids.length, lastRowid: last.r }
    })
  }

  #toOutbox(id: string): void {
    this.#must().st('INSERT INTO event_outbox (event_id) VALUES (?)').run(id)
  }

  /** Events that started before `before` whose clip never became ready (retention). */
  unfinishedClipsBefore(before: number): IndexedEvent[] {
    const rows: EventRow[] = []
    for (const t of this.#tablesFor(undefined, before)) {
      rows.push(
        ...(this.#db
          .prepare(
            `SELECT * FROM ${t} WHERE clip_state IN ('pending', 'uploading', 'rejected') AND ${CLIP_INDEXED}
               AND started_at < ?`,
          )
          .all(before) as EventRow[]),
      )
    }
    return rows.sort((a, b) => a.started_at - b.started_at).map(toEvent)
  }

  /** Newest first, keyset-paginated on (started_at, event_id). */
  query(q: EventsQuery): { events: IndexedEvent[]; nextCursor: string | null } {
    const { sql, params } = pageQuery(q, this.#tablesFor(q.from, q.to))
    const rows = this.#db.prepare(sql).all(...params) as EventRow[]
    const page = rows.slice(0, q.limit).map(toEvent)
    const last = page.at(-1)
    const nextCursor = rows.length > q.limit && last ? encodeCursor(last.startedAt, last.id) : null
    return { events: page, nextCursor }
  }

  /**
   * Every event of the units that started in [from, to], newest first, in one statement (a case's units
   * and window), at most `maxPerUnit` of each unit: the newest.
   */
  ofUnits(deviceIds: readonly string[], from: number, to: number, maxPerUnit: number): IndexedEvent[] {
    if (deviceIds.length === 0) return []
    const { sql, params } = unitsQuery(this.#tablesFor(from, to), deviceIds, from, to, maxPerUnit)
    return (this.#db.prepare(sql).all(...params) as EventRow[]).map(toEvent)
  }

  /** The tables that may hold events started in [from, to]: the recent one, the months overlapping, the kept. */
  #tablesFor(from: number | undefined, to: number | undefined): string[] {
    const tables = this.#must()
    tables.refresh()
    const out = [RECENT]
    for (const p of tables.partitions()) {
      if (p.month !== null) {
        if (from !== undefined && monthEnd(p.month) <= from) continue
        if (to !== undefined && monthStart(p.month) > to) continue
      }
      out.push(p.name)
    }
    return out
  }

  #must(): EventTables {
    if (!this.#tables) throw new Error('event index is not loaded')
    return this.#tables
  }
}
