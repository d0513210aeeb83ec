import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

/** What the converting thread is given. */
export interface RepageJob {
  source: string
  target: string
  pageSize: number
}

/** What it answers: the row count of every table in both files, or why it failed. */
export type RepageReply = { ok: true; counts: Array<[string, number, number]> } | { ok: false; error: string }

function tableCounts(db: Database.Database): Map<string, number> {
  const names = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[]
  const out = new Map<string, number>()
  for (const n of names)
    out.set(
      n,
      db
        .prepare(`SELECT count(*) FROM "${n.replaceAll('"', '""')}"`)
        .pluck()
        .get() as number,
    )
  return out
}

// On its own thread: a VACUUM of a large database takes minutes, and the main thread reports progress meanwhile.
function run(job: RepageJob): RepageReply {
  const src = new Database(job.source, { readonly: true })
  try {
    // A page size set before VACUUM INTO is the one the new file is written with.
    src.pragma(`page_size = ${job.pageSize}`)
    src.prepare('VACUUM INTO ?').run(job.target)
    const dst = new Database(job.target)
    try {
      dst.pragma('journal_mode = WAL')
      const before = tableCounts(src)
      const after = tableCounts(dst)
      const counts: Array<[string, number, number]> = []
      for (const name of new Set([...before.keys(), ...after.keys()]))
        counts.push([name, before.get(name) ?? -1, after.get(name) ?? -1])
      return { ok: true, counts }
    } finally {
      dst.close()
    }
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) }
  } finally {
    src.close()
  }
}

parentPort?.postMessage(run(workerData as RepageJob))
