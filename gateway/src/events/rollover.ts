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

/** What one call moved, and what it left for the next. */
export interface RolloverStep {
  moved: number
  recentRows: number
  /** More would move now if there were time: call again soon. */
  more: boolean
}

/**
 * Moves one chunk of quiet rows, oldest start first, from the recent table
 * into their months' tables, in one transaction. Only the ingest worker's
 * connection moves rows: it keeps the months' id filters, which must learn
 * every id a move puts in their month.
 */
export function rollOver(tables: EventTables, limits: RolloverLimits, now: number): RolloverStep {
  const over = tables.recentRows > limits.maxRecentRows
  const ageCut = now - limits.maxRecentAgeMs
  const quietCut = now - limits.quietMs
  // Past the size limit, quiet rows move oldest first until it is met; otherwise only the old ones.
  const moved = writeTransaction(tables.db, () => {
    tables.refresh()
    // Two statements rather than one with an OR, so that each walks the start index only as far as it must.
    const rows = (
      over
        ? tables
            .st(
              `SELECT rowid AS r, id_key AS k, started_at AS s FROM ${RECENT}
               WHERE updated_at < ? ORDER BY started_at LIMIT ?`,
            )
            .raw()
            .all(quietCut, limits.chunkRows)
        : tables
            .st(
              `SELECT rowid AS r, id_key AS k, started_at AS s FROM ${RECENT}
               WHERE started_at < ? AND updated_at < ? ORDER BY started_at LIMIT ?`,
            )
            .raw()
            .all(ageCut, quietCut, limits.chunkRows)
    ) as Array<[number, number, number]>
    if (rows.length === 0) return 0
    const cols = COLUMNS.join(', ')
    const byMonth = new Map<number, Array<[number, number, number]>>()
    for (const row of rows) {
      const m = monthOf(row[2])
      const list = byMonth.get(m)
      if (list) list.push(row)
      else byMonth.set(m, [row])
    }
    // One statement per month over the chunk's rowids: row by row, an INSERT … SELECT cost ten times as
    // much per row (bench:year).
    for (const [month, list] of byMonth) {
      const p: Partition = tables.ensure(month)
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
