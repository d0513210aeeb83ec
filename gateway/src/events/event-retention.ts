import { writeTransaction } from '../db/index.js'
import { eventKey } from './event-key.js'
import type { EventTables } from './event-tables.js'
import { COLUMNS, KEPT, monthEnd, RECENT } from './partitions.js'

/** What one sweep removed and kept. */
export interface RetentionResult {
  /** Months dropped whole (all their parts). */
  months: number[]
  /** Rows removed with them and from the recent and kept tables. */
  removed: number
  /** Rows of dropped months kept because a case holds them. */
  kept: number
}

/**
 * Removes the events that started before `before`, except those `held`
 * names. A month wholly before it is dropped as a table (its held rows copied
 * to the kept table first), so a month of the city's events goes in about
 * the time of a DROP TABLE rather than a row-by-row delete that would hold
 * the write lock against ingest; the few old rows still in the recent table
 * and kept rows no longer held are deleted one by one.
 */
export function dropExpired(tables: EventTables, before: number, held: ReadonlySet<string>): RetentionResult {
  const out: RetentionResult = { months: [], removed: 0, kept: 0 }
  const cols = COLUMNS.join(', ')
  tables.refresh()
  const expired = tables.partitions().filter((p) => p.month !== null && monthEnd(p.month) <= before)
  for (const p of expired) {
    writeTransaction(tables.db, () => {
      let kept = 0
      if (held.size > 0) {
        const target = tables.ensure(null)
        const copy = tables.st(
          `INSERT INTO ${KEPT} (${cols}) SELECT ${cols} FROM ${p.name} WHERE id_key = ? AND event_id = ?`,
        )
        for (const id of held) kept += copy.run(eventKey(id), id).changes
        if (kept > 0) tables.added(target, kept)
      }
      tables.db.exec(`DROP TABLE ${p.name}`)
      tables.dropped(p.name)
      if (!out.months.includes(p.month as number)) out.months.push(p.month as number)
      out.removed += p.rows - kept
      out.kept += kept
    })
  }
  writeTransaction(tables.db, () => {
    for (const table of [RECENT, KEPT]) {
      if (table === KEPT && !tables.partitions().some((p) => p.name === KEPT)) continue
      const old = tables
        .st(`SELECT rowid AS r, event_id AS id FROM ${table} WHERE started_at < ?`)
        .all(before) as Array<{ r: number; id: string }>
      const del = tables.st(`DELETE FROM ${table} WHERE rowid = ?`)
      let n = 0
      for (const row of old) if (!held.has(row.id)) n += del.run(row.r).changes
      out.removed += n
      if (table === RECENT) tables.recentRows -= n
      else if (n > 0) tables.added(tables.ensure(null), -n)
    }
  })
  return out
}
