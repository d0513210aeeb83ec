import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { type Finding, ok, warn } from './check.js'

/** The gateway's alert rule warns past this many unshipped events; the doctor says the same. */
const OUTBOX_WARN = 10_000

/**
 * What this gateway's data dir holds for the shared event index: events indexed and not yet shipped
 * to PostgreSQL (the outbox), and how far the copy of its earlier events has got. Null when there is
 * nothing to say (no database yet, or an outbox empty on a gateway that does not share one).
 */
export function checkSharedEvents(dataDir: string, sharedInPostgres: boolean): Finding | null {
  const file = path.join(dataDir, 'doorstep.db')
  if (!fs.existsSync(file)) return null
  let outbox = 0
  let copy: { tbl: string; queued: number } | undefined
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const has = (t: string) =>
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined
    if (!has('event_outbox')) return null
    outbox = (db.prepare('SELECT count(*) AS n FROM event_outbox').get() as { n: number }).n
    if (has('event_backfill'))
      copy = db.prepare('SELECT tbl, queued FROM event_backfill LIMIT 1').get() as typeof copy
  } finally {
    db.close()
  }
  if (!sharedInPostgres) {
    if (outbox === 0) return null
    return warn(
      'shared events',
      `${outbox} events indexed while this gateway shared PostgreSQL were never shipped there`,
      "set DOORSTEP_DATABASE_URL back and start the gateway to ship them; without it they stay in this gateway's own index only",
    )
  }
  const copying = copy
    ? `; the copy of its earlier events is under way (${copy.queued} named so far, at ${copy.tbl})`
    : ''
  const detail = `${outbox} events waiting to be shipped to the shared PostgreSQL${copying}`
  if (outbox > OUTBOX_WARN)
    return warn(
      'shared events',
      detail,
      'they ship while the gateway runs and PostgreSQL answers; other gateways list them only then',
    )
  return ok('shared events', detail)
}
