import type { ClipState, EventsQuery } from '@doorstep/proto'
import { type Db, migrate, writeTransaction } from '../db/index.js'
import { encodeCursor } from './event-cursor.js'
import { eventKey } from './event-key.js'
import { type Admission, type MergeStatements, mergeTuple, prepareMerge } from './event-merge.js'
import { EVENTS_SCHEMA } from './event-migrations.js'
import { CLIP_INDEXED, pageQuery } from './event-query.js'
import { type EventRow, type IndexedEvent, toEvent } from './event-row.js'
import { haversineM } from './geo.js'
import { type EventSite, type IndexedMessage, type IndexTuple, toIndexTuple } from './index-tuple.js'

export type { EventSite, IndexedEvent, IndexTuple }
// The index's parts, for the features, the ingest worker and the tests that use them.
export { EVENTS_SCHEMA, eventKey, toIndexTuple }

/**
 * The SQLite index of motion events: one row per event id, merged over its
 * lifecycle start → update* → end. The ingest path merges each message in
 * the spool's transaction, on the worker thread (`admit`); `record` is the
 * same merge in a transaction of its own. Answers the events API; the clips
 * feature moves `clip_state` along.
 */
export class EventIndex {
  readonly #db: Db
  #stmts: MergeStatements | null = null

  constructor(db: Db) {
    this.#db = db
  }

  /** Creates or migrates the table, then prepares the statements; the owner of the schema calls this. */
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
   * Prepares the merge statements on a table `load` made: the ingest worker
   * writes the index over its own connection this way.
   */
  prepare(): void {
    this.#stmts = prepareMerge(this.#db)
  }

  /**
   * Merges one lifecycle message. `t` is the message time on the gateway
   * clock. A message for an event id owned by another unit is ignored: a unit
   * must not be able to rewrite another unit's event (or its clip digest).
   * Returns false when ignored.
   */
  record(device: EventSite, ev: IndexedMessage, t: number): boolean {
    const f = toIndexTuple(device, ev, t)
    return writeTransaction(this.#db, () => this.#merge(f)) !== 'foreign'
  }

  /**
   * `record` inside the caller's transaction, saying what it did: the spool
   * stores an event's line in the same transaction unless it was a `repeat`,
   * so "durable", "indexed" and "seen once" are one commit.
   */
  admit(f: IndexTuple): Admission {
    if (!this.#db.inTransaction) throw new Error('EventIndex.admit runs inside a transaction')
    return this.#merge(f)
  }

  #merge(f: IndexTuple): Admission {
    if (!this.#stmts) throw new Error('event index is not loaded')
    return mergeTuple(this.#stmts, f)
  }

  get(id: string): IndexedEvent | undefined {
    const r = this.#db
      .prepare('SELECT * FROM event_index WHERE id_key = ? AND event_id = ?')
      .get(eventKey(id), id) as EventRow | undefined
    return r ? toEvent(r) : undefined
  }

  setClipState(id: string, state: ClipState): void {
    this.#db
      .prepare('UPDATE event_index SET clip_state = ? WHERE id_key = ? AND event_id = ?')
      .run(state, eventKey(id), id)
  }

  /** Events that started before `before` whose clip never became ready (retention). */
  unfinishedClipsBefore(before: number): IndexedEvent[] {
    const rows = this.#db
      .prepare(
        `SELECT * FROM event_index WHERE clip_state IN ('pending', 'uploading', 'rejected') AND ${CLIP_INDEXED}
           AND started_at < ? ORDER BY started_at`,
      )
      .all(before) as EventRow[]
    return rows.map(toEvent)
  }

  /** Newest first, keyset-paginated on (started_at, event_id). */
  query(q: EventsQuery): { events: IndexedEvent[]; nextCursor: string | null } {
    const { sql, params } = pageQuery(q)
    const rows = this.#db.prepare(sql).all(...params) as EventRow[]
    const page = rows.slice(0, q.limit).map(toEvent)
    const last = page.at(-1)
    const nextCursor = rows.length > q.limit && last ? encodeCursor(last.startedAt, last.id) : null
    return { events: page, nextCursor }
  }
}
