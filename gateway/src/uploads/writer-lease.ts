import { randomUUID } from 'node:crypto'
import { type QueryExecutorProvider, sql } from 'kysely'
import { DoorstepError } from '../errors.js'
import type { WriterHold } from './resumable-uploads.js'

/**
 * How long a PUT's hold outlives its last bytes in a cluster: a unit whose link died mid-upload can go
 * on through another gateway this long after (its old PUT may never see the end).
 */
export const CLUSTER_WRITER_LEASE_MS = 10_000

/** Where an upload's hold is kept: a row of the shared database with `writer` and `writer_seen` columns. */
export interface LeaseRow {
  /** The table, from code only (never from a request). */
  table: string
  /** Its key column. */
  key: string
}

/**
 * PUT holds on uploads kept in rows every gateway of a cluster sees (`UploadTarget.writer`): `writer`
 * names the PUT holding the upload, `writer_seen` when it last took bytes, on its gateway's clock (the
 * gateways' clocks must be in step). A hold lapses `lapseMs` after that; until then another PUT of the
 * same upload, through any gateway, is refused with DOORSTEP_ERR_UPLOAD_BUSY and Retry-After.
 */
export class WriterLeases {
  readonly #db: QueryExecutorProvider
  readonly #row: LeaseRow
  readonly #node: string
  readonly #now: () => number
  readonly lapseMs: number

  constructor(o: {
    db: QueryExecutorProvider
    row: LeaseRow
    node: string
    now: () => number
    lapseMs: number
  }) {
    this.#db = o.db
    this.#row = o.row
    this.#node = o.node
    this.#now = o.now
    this.lapseMs = o.lapseMs
  }

  /** This PUT's hold on the upload `id` (its row must exist), or DOORSTEP_ERR_UPLOAD_BUSY naming `noun`. */
  async hold(id: string, noun: string): Promise<WriterHold> {
    const writer = `${this.#node}:${randomUUID()}`
    const wait = await this.#take(id, writer)
    if (wait !== null) {
      const retryAfterS = Math.ceil(wait / 1000)
      throw new DoorstepError(
        'DOORSTEP_ERR_UPLOAD_BUSY',
        `Another upload of this ${noun} is in progress through another gateway; retry in ${retryAfterS} s`,
        { retryAfterS },
      )
    }
    return {
      lapseMs: this.lapseMs,
      renew: () => this.#renew(id, writer),
      release: () => this.#release(id, writer),
    }
  }

  /**
   * Null once `writer` holds it; else the ms until the other hold lapses. One statement, so two gateways
   * taking it at once cannot both succeed (PostgreSQL checks the condition again on the row it locked).
   */
  async #take(id: string, writer: string): Promise<number | null> {
    const now = this.#now()
    const { table, key } = this.#row
    const t = sql.table(table)
    const k = sql.ref(key)
    const r = await sql`UPDATE ${t} SET writer = ${writer}, writer_seen = ${now}
      WHERE ${k} = ${id}
        AND (writer IS NULL OR writer = ${writer} OR writer_seen IS NULL OR writer_seen <= ${now - this.lapseMs})`.execute(
      this.#db,
    )
    if (Number(r.numAffectedRows ?? 0) > 0) return null
    const held = await sql<{ writer_seen: number | string | null }>`SELECT writer_seen FROM ${t}
      WHERE ${k} = ${id}`.execute(this.#db)
    const seen = held.rows[0]?.writer_seen
    // Gone meanwhile (stored, or dropped): nobody holds it; the PUT goes on and finds out.
    if (seen === undefined || seen === null) return null
    return Math.max(1, Number(seen) + this.lapseMs - now)
  }

  async #renew(id: string, writer: string): Promise<boolean> {
    const r = await sql`UPDATE ${sql.table(this.#row.table)} SET writer_seen = ${this.#now()}
      WHERE ${sql.ref(this.#row.key)} = ${id} AND writer = ${writer}`.execute(this.#db)
    return Number(r.numAffectedRows ?? 0) > 0
  }

  async #release(id: string, writer: string): Promise<void> {
    await sql`UPDATE ${sql.table(this.#row.table)} SET writer = NULL, writer_seen = NULL
      WHERE ${sql.ref(this.#row.key)} = ${id} AND writer = ${writer}`.execute(this.#db)
  }
}
