import type { Statement } from 'better-sqlite3'
import { type Db, statementCache } from '../db/index.js'
import type { EventRow } from './event-row.js'
import { IdFilter } from './id-filter.js'
import { COLUMNS, KEPT, type Month, monthOf, partitionName, RECENT, tableDdl } from './partitions.js'

/** One table of old events: a month's, or the kept rows (`month` null). */
export interface Partition {
  name: string
  month: Month | null
  rows: number
  /** Which ids may be in it; null on a connection that searches every table instead. */
  filter: IdFilter | null
}

/** Where an event's row was found. */
export interface Found {
  table: string
  row: EventRow
}

interface CatalogueRow {
  name: string
  month: number | null
  rows: number
  filter: Uint8Array | null
  filter_capacity: number
  filter_rows: number
}

/** A month's filter is sized for this many ids at least, or a quarter more than the largest month so far. */
const MIN_FILTER_CAPACITY = 250_000

/**
 * The event tables of one connection: the recent table and the catalogue of
 * months (`event_partitions`), reloaded when another connection changed it
 * (`event_catalogue.gen`). With `filters`, the connection keeps each month's
 * id filter and searches only the months that may hold an id: the ingest
 * worker does, since it looks up every new event; other connections search
 * every month, which only the API's single lookups do.
 */
export class EventTables {
  readonly #db: Db
  readonly #st: (sql: string) => Statement
  readonly #filters: boolean
  #gen = -1
  /** Rows in the recent table: counted at load, kept up by the merges and moves of this connection. */
  recentRows = 0
  /** Newest month first, the kept rows last. */
  #parts: Partition[] = []

  constructor(db: Db, opts: { filters: boolean }) {
    this.#db = db
    this.#st = statementCache(db)
    this.#filters = opts.filters
  }

  get db(): Db {
    return this.#db
  }

  /** A statement on this connection, prepared once per text. */
  st(sql: string): Statement {
    return this.#st(sql)
  }

  /** Reloads the catalogue if another connection changed it since; cheap when it did not. */
  refresh(): void {
    const gen = (this.#st('SELECT gen FROM event_catalogue WHERE id = 1').get() as { gen: number }).gen
    if (gen !== this.#gen) this.#load(gen)
  }

  partitions(): readonly Partition[] {
    return this.#parts
  }

  /** The recent table first, then each month (newest first) that may hold the id, then the kept rows. */
  find(key: number, eventId: string): Found | null {
    const r = this.#st(`SELECT * FROM ${RECENT} WHERE id_key = ? AND event_id = ?`).get(key, eventId) as
      | EventRow
      | undefined
    if (r) return { table: RECENT, row: r }
    for (const p of this.#parts) {
      if (p.filter && !p.filter.mayHave(key)) continue
      const row = this.#st(`SELECT * FROM ${p.name} WHERE id_key = ? AND event_id = ?`).get(key, eventId) as
        | EventRow
        | undefined
      if (row) return { table: p.name, row }
    }
    return null
  }

  /** The table of `month` (or the kept rows' for null), made if it does not exist yet. Inside a transaction. */
  ensure(month: Month | null): Partition {
    const name = month === null ? KEPT : partitionName(month)
    const have = this.#parts.find((p) => p.name === name)
    if (have) return have
    this.#db.exec(tableDdl(name))
    const largest = this.#parts.reduce((n, p) => Math.max(n, p.rows), 0)
    const capacity = Math.max(MIN_FILTER_CAPACITY, Math.ceil(largest * 1.25))
    this.#st(
      'INSERT INTO event_partitions (name, month, rows, filter, filter_capacity, filter_rows) VALUES (?, ?, 0, NULL, ?, 0)',
    ).run(name, month, capacity)
    const p: Partition = { name, month, rows: 0, filter: this.#filters ? new IdFilter(capacity) : null }
    this.#parts.push(p)
    this.#sort()
    this.bump()
    return p
  }

  /** Rows were added to `p` (their keys already in its filter): counted, and grown past its capacity. */
  added(p: Partition, n: number): void {
    p.rows += n
    this.#st('UPDATE event_partitions SET rows = ? WHERE name = ?').run(p.rows, p.name)
    if (p.filter && p.rows > p.filter.capacity) {
      p.filter = this.#rebuild(p.name, Math.ceil(p.rows * 2))
      this.#st('UPDATE event_partitions SET filter_capacity = ? WHERE name = ?').run(
        p.filter.capacity,
        p.name,
      )
      this.#saveFilter(p)
    }
  }

  /**
   * Writes the filters whose rows changed since they were last written, of the months before `before`
   * (all without it). Not at every move (a month's filter is megabytes): once a month is behind, and at
   * close; a filter found stale at load is made again from its table.
   */
  saveFilters(before?: Month): void {
    for (const p of this.#parts) if (before === undefined || (p.month ?? 0) < before) this.#saveFilter(p)
  }

  /**
   * A row of a month's table whose start moved (a late `start`) into another month goes to that
   * month's table. Inside a transaction.
   */
  rehome(table: string, key: number, eventId: string, startedAt: number): void {
    const from = this.#parts.find((p) => p.name === table)
    if (!from || from.month === null || from.month === monthOf(startedAt)) return
    const to = this.ensure(monthOf(startedAt))
    const cols = COLUMNS.join(', ')
    this.#st(
      `INSERT INTO ${to.name} (${cols}) SELECT ${cols} FROM ${from.name} WHERE id_key = ? AND event_id = ?`,
    ).run(key, eventId)
    this.#st(`DELETE FROM ${from.name} WHERE id_key = ? AND event_id = ?`).run(key, eventId)
    to.filter?.add(key)
    this.added(to, 1)
    this.added(from, -1)
  }

  /** Tells the other connections that the catalogue changed. Inside a transaction. */
  bump(): void {
    this.#st('UPDATE event_catalogue SET gen = gen + 1 WHERE id = 1').run()
    this.#gen = (this.#st('SELECT gen FROM event_catalogue WHERE id = 1').get() as { gen: number }).gen
  }

  /** Forgets a dropped table. Inside a transaction. */
  dropped(name: string): void {
    this.#st('DELETE FROM event_partitions WHERE name = ?').run(name)
    this.#parts = this.#parts.filter((p) => p.name !== name)
    this.bump()
  }

  #saveFilter(p: Partition): void {
    if (!p.filter) return
    const saved = this.#st('SELECT filter_rows FROM event_partitions WHERE name = ?').get(p.name) as
      | { filter_rows: number }
      | undefined
    if (saved?.filter_rows === p.rows) return
    this.#st('UPDATE event_partitions SET filter = ?, filter_rows = ? WHERE name = ?').run(
      p.filter.bytes(),
      p.rows,
      p.name,
    )
  }

  #load(gen: number): void {
    const rows = this.#st(
      'SELECT name, month, rows, filter, filter_capacity, filter_rows FROM event_partitions',
    ).all() as CatalogueRow[]
    const before = new Map(this.#parts.map((p) => [p.name, p]))
    this.#parts = rows.map((r) => {
      const p: Partition = { name: r.name, month: r.month, rows: r.rows, filter: null }
      if (!this.#filters) return p
      const mine = before.get(r.name)
      if (mine?.filter && mine.rows === r.rows) p.filter = mine.filter
      else if (r.filter && r.filter_rows === r.rows) p.filter = new IdFilter(r.filter_capacity, r.filter)
      // Written before its last moves (the process stopped between): made again from the table.
      else p.filter = this.#rebuild(r.name, Math.max(r.filter_capacity, r.rows))
      return p
    })
    this.#sort()
    this.#gen = gen
    this.recentRows = (this.#st(`SELECT count(*) AS n FROM ${RECENT}`).get() as { n: number }).n
  }

  #rebuild(name: string, capacity: number): IdFilter {
    const f = new IdFilter(capacity)
    for (const r of this.#st(`SELECT id_key FROM ${name}`).raw().iterate() as Iterable<[number]>) f.add(r[0])
    return f
  }

  #sort(): void {
    this.#parts.sort((a, b) => (b.month ?? -1) - (a.month ?? -1))
  }
}
