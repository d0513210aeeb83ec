import type { Statement } from 'better-sqlite3'
import { type Db, statementCache } from '../db/index.js'
import type { EventRow } from './event-row.js'
import { IdFilter, KeyHashes } from './id-filter.js'
import {
  COLUMNS,
  KEPT,
  type Month,
  monthOf,
  PART_ROWS,
  partitionName,
  partOf,
  RECENT,
  tableDdl,
} from './partitions.js'

/** One table of old events: a part of a month's, or the kept rows (`month` null). */
export interface Partition {
  name: string
  month: Month | null
  /** Which part of its month (1 for the first; 1 for the kept rows). */
  part: number
  rows: number
  /**
   * Which ids may be in it: one filter for all the parts of a month, so a new event probes a filter per
   * month however many parts it has; null on a connection that searches every table instead.
   */
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
  /** The unit after which the next move over the size limit starts (`rollover.ts`); '' for the first. */
  moveFrom = ''
  readonly #hashes = new KeyHashes()
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
    const hashes = this.#hashes.of(key)
    // A month's parts sit together and share its filter: probed once for them all.
    let probed: IdFilter | null = null
    let may = true
    for (const p of this.#parts) {
      if (p.filter) {
        if (p.filter !== probed) {
          probed = p.filter
          may = p.filter.mayHaveHashed(hashes)
        }
        if (!may) continue
      }
      const row = this.#st(`SELECT * FROM ${p.name} WHERE id_key = ? AND event_id = ?`).get(key, eventId) as
        | EventRow
        | undefined
      if (row) return { table: p.name, row }
    }
    return null
  }

  /**
   * The table new rows of `month` go to (the kept rows' for null): its newest part, or a new part once
   * that holds `partRows`; made if it does not exist yet. Inside a transaction.
   */
  ensure(month: Month | null, partRows = PART_ROWS): Partition {
    if (month === null) {
      const kept = this.#parts.find((p) => p.name === KEPT)
      return kept ?? this.#make(KEPT, null, 1, null)
    }
    const parts = this.#month(month)
    const last = parts[0]
    if (last && last.rows < partRows) return last
    return this.#make(
      partitionName(month, last ? last.part + 1 : 1),
      month,
      last ? last.part + 1 : 1,
      last?.filter ?? null,
    )
  }

  #make(name: string, month: Month | null, part: number, shared: IdFilter | null): Partition {
    this.#db.exec(tableDdl(name))
    const largest = Math.max(0, ...this.#groups().map((g) => rowsOf(g)))
    const capacity = shared?.capacity ?? Math.max(MIN_FILTER_CAPACITY, Math.ceil(largest * 1.25))
    this.#st(
      'INSERT INTO event_partitions (name, month, rows, filter, filter_capacity, filter_rows) VALUES (?, ?, 0, NULL, ?, 0)',
    ).run(name, month, capacity)
    const filter = this.#filters ? (shared ?? new IdFilter(capacity)) : null
    const p: Partition = { name, month, part, rows: 0, filter }
    this.#parts.push(p)
    this.#sort()
    this.bump()
    return p
  }

  /** Rows were added to `p` (their keys already in its filter): counted, and the month's filter grown past its capacity. */
  added(p: Partition, n: number): void {
    p.rows += n
    this.#st('UPDATE event_partitions SET rows = ? WHERE name = ?').run(p.rows, p.name)
    if (!p.filter) return
    const group = p.month === null ? [p] : this.#month(p.month)
    const rows = rowsOf(group)
    if (rows <= p.filter.capacity) return
    const grown = this.#rebuild(group, Math.ceil(rows * 2))
    for (const q of group) {
      q.filter = grown
      this.#st('UPDATE event_partitions SET filter_capacity = ? WHERE name = ?').run(grown.capacity, q.name)
    }
    this.#saveFilter(group)
  }

  /**
   * Writes the filters whose rows changed since they were last written, of the months before `before`
   * (all without it). Not at every move (a month's filter is megabytes): once a month is behind, and at
   * close; a filter found stale at load is made again from its table.
   */
  saveFilters(before?: Month): void {
    for (const g of this.#groups())
      if (before === undefined || (g[0]?.month ?? 0) < before) this.#saveFilter(g)
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

  /** A month's filter is written in the row of its oldest part, with the rows of all its parts. */
  #saveFilter(group: readonly Partition[]): void {
    const head = group[group.length - 1]
    if (!head?.filter) return
    const rows = rowsOf(group)
    const saved = this.#st('SELECT filter_rows FROM event_partitions WHERE name = ?').get(head.name) as
      | { filter_rows: number }
      | undefined
    if (saved?.filter_rows === rows) return
    this.#st('UPDATE event_partitions SET filter = ?, filter_rows = ? WHERE name = ?').run(
      head.filter.bytes(),
      rows,
      head.name,
    )
  }

  #load(gen: number): void {
    const rows = this.#st(
      'SELECT name, month, rows, filter, filter_capacity, filter_rows FROM event_partitions',
    ).all() as CatalogueRow[]
    const byName = new Map(rows.map((r) => [r.name, r]))
    const before = new Map(this.#parts.map((p) => [p.name, p]))
    this.#parts = rows.map((r) => ({
      name: r.name,
      month: r.month,
      part: r.month === null ? 1 : partOf(r.name),
      rows: r.rows,
      filter: null,
    }))
    this.#sort()
    if (this.#filters) {
      for (const group of this.#groups()) {
        const head = group[group.length - 1] as Partition
        const saved = byName.get(head.name) as CatalogueRow
        const total = rowsOf(group)
        const mine = group.map((p) => before.get(p.name))
        let filter: IdFilter
        if (mine.every((m, i) => m?.filter && m.filter === mine[0]?.filter && m.rows === group[i]?.rows))
          filter = mine[0]?.filter as IdFilter
        else {
          const read =
            saved.filter && saved.filter_rows === total
              ? IdFilter.read(saved.filter_capacity, saved.filter)
              : null
          // Written before its last moves (the process stopped between), or by a version with filters of
          // another shape: made again from the tables.
          filter = read ?? this.#rebuild(group, Math.max(saved.filter_capacity, total))
        }
        for (const p of group) p.filter = filter
      }
    }
    this.#gen = gen
    this.recentRows = (this.#st(`SELECT count(*) AS n FROM ${RECENT}`).get() as { n: number }).n
  }

  #rebuild(group: readonly Partition[], capacity: number): IdFilter {
    const f = new IdFilter(capacity)
    for (const p of group)
      for (const r of this.#st(`SELECT id_key FROM ${p.name}`).raw().iterate() as Iterable<[number]>)
        f.add(r[0])
    return f
  }

  /** The parts of `month`, newest first. */
  #month(month: Month): Partition[] {
    return this.#parts.filter((p) => p.month === month)
  }

  /** The partitions by month (each newest part first), and the kept rows as one more group. */
  #groups(): Partition[][] {
    const out: Partition[][] = []
    for (const p of this.#parts) {
      const last = out[out.length - 1]
      if (last && p.month !== null && last[0]?.month === p.month) last.push(p)
      else out.push([p])
    }
    return out
  }

  #sort(): void {
    this.#parts.sort((a, b) => (b.month ?? -1) - (a.month ?? -1) || b.part - a.part)
  }
}

function rowsOf(group: readonly Partition[]): number {
  return group.reduce((n, p) => n + p.rows, 0)
}
