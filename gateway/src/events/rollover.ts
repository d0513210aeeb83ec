import { writeTransaction } from '../db/index.js'
import type { EventTables, Partition } from './event-tables.js'
import { COLUMNS, monthOf, RECENT } from './partitions.js'

export interface RolloverLimits {
  /** The recent table is brought back under this many rows (quiet rows only move). */
  maxRecentRows: number
  /** Rows whose last message is older than this move on even when the table is small. */
  maxRecentAgeMs: number
  /** A row still receiving messages more recently than this stays. */
  quietMs: number
  /** Rows per transaction: the ingest worker commits between chunks. */
  chunkRows: number
  /** Rows a month's table takes before the month goes on in a new part (`PART_ROWS` unless given). */
  partRows?: number
}

export const DEFAULT_ROLLOVER: RolloverLimits = {
  // Small enough that a group commit of 2,000 events touches only a few hundred index pages of it; see
  // gateway/README.md "The event index" and bench:year.
  maxRecentRows: 100_000,
  maxRecentAgeMs: 2 * 86_400_000,
  quietMs: 10 * 60_000,
  // Larger chunks dirty each month index's hot pages once per more rows (see bench:year); a chunk of
  // 10,000 holds the worker about half a second, as 5,000 did before moves were written in key order.
  chunkRows: 10_000,
}

/** A row to move: rowid, id key, start, unit. */
type MoveRow = [number, number, number, string]

/** What one call moved, and what it left for the next. */
export interface RolloverStep {
  moved: number
  recentRows: number
  /** More would move now if there were time: call again soon. */
  more: boolean
}

/**
 * Moves one chunk of quiet rows from the recent table into their months'
 * tables, in one transaction: past the size limit the quiet rows of the next
 * run of units (in turn), otherwise the rows past the age limit, oldest first. Only the ingest worker's
 * connection moves rows: it keeps the months' id filters, which must learn
 * every id a move puts in their month.
 */
export function rollOver(tables: EventTables, limits: RolloverLimits, now: number): RolloverStep {
  const over = tables.recentRows > limits.maxRecentRows
  const ageCut = now - limits.maxRecentAgeMs
  const quietCut = now - limits.quietMs
  const moved = writeTransaction(tables.db, () => {
    tables.refresh()
    // Past the size limit, the units take turns: a chunk holds the quiet rows of a run of units after
    // the last chunk's, so that it lands on as few pages of each month's per-unit and per-place indexes
    // as it can (a chunk of all units, oldest first, dirtied nearly every page of both at every move:
    // bench:year). Otherwise only the old rows, oldest first.
    let rows: MoveRow[]
    if (over) {
      const byUnit = (cmp: '>' | '<=', limit: number) =>
        tables
          .st(
            `SELECT rowid AS r, id_key AS k, started_at AS s, device_id AS d FROM ${RECENT}
             WHERE device_id ${cmp} ? AND updated_at < ? ORDER BY device_id, started_at LIMIT ?`,
          )
          .raw()
          .all(tables.moveFrom, quietCut, limit) as MoveRow[]
      rows = byUnit('>', limits.chunkRows)
      if (rows.length < limits.chunkRows && tables.moveFrom !== '')
        rows = rows.concat(byUnit('<=', limits.chunkRows - rows.length))
      const last = rows[rows.length - 1]
      if (last) tables.moveFrom = last[3]
    } else {
      rows = tables
        .st(
          `SELECT rowid AS r, id_key AS k, started_at AS s, device_id AS d FROM ${RECENT}
           WHERE started_at < ? AND updated_at < ? ORDER BY started_at LIMIT ?`,
        )
        .raw()
        .all(ageCut, quietCut, limits.chunkRows) as MoveRow[]
    }
    if (rows.length === 0) return 0
    const cols = COLUMNS.join(', ')
    const byMonth = new Map<number, MoveRow[]>()
    for (const row of rows) {
      const m = monthOf(row[2])
      const list = byMonth.get(m)
      if (list) list.push(row)
      else byMonth.set(m, [row])
    }
    // One statement per month over the chunk's rowids: row by row, an INSERT … SELECT cost ten times as
    // much per row (bench:year).
    for (const [month, list] of byMonth) {
      const p: Partition = tables.ensure(month, limits.partRows)
      tables
        .st(
          `INSERT INTO ${p.name} (${cols}) SELECT ${cols} FROM ${RECENT} WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY device_id, started_at`,
        )
        .run(JSON.stringify(list.map((r) => r[0])))
      for (const row of list) p.filter?.add(row[1])
      tables.added(p, list.length)
    }
    tables
      .st(`DELETE FROM ${RECENT} WHERE rowid IN (SELECT value FROM json_each(?))`)
      .run(JSON.stringify(rows.map((r) => r[0])))
    // Months before the newest one moved into take few moves from now on: their filters are written
    // once they are behind (the newest month's is written at close, or made again after a crash).
    tables.saveFilters(Math.max(...byMonth.keys()))
    return rows.length
  })
  tables.recentRows -= moved
  return { moved, recentRows: tables.recentRows, more: moved === limits.chunkRows }
}
