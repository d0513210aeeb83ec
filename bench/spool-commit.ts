/**
 * bench:spool-commit — the CPU a durable event costs in the spool's group
 * commit (merge into the event index, append its line, fsync'd WAL commit,
 * delete what was delivered), as the index fills, for the page size this
 * version gives a new database and for the 4 KiB of older ones. Runs
 * SpoolStore on this thread with no broker and no InfluxDB, so the figure is
 * SQLite's and the store's alone; events come from 2,896 units at their own
 * sites, in groups the size of a busy gateway's.
 *
 *   npm run bench:spool-commit [-- --events 300000 --group 2000 --rounds 3]
 *
 * Writes bench/results/spool-commit-<time>.json and a row in bench/README.md.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { z } from 'zod'
import { openDb, PAGE_SIZE } from '../gateway/src/db/sqlite.js'
import { EventIndex } from '../gateway/src/events/event-index.js'
import { SpoolStore } from '../gateway/src/ingest/spool-store.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { cityDevices, newEventGroup } from './lib/city.js'
import { percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  events: z.coerce.number().int().min(10_000).max(2_000_000).default(300_000),
  group: z.coerce.number().int().min(100).max(20_000).default(2_000),
  rounds: z.coerce.number().int().min(1).max(5).default(3),
})
const args = benchArgs('spool-commit', Args)

/** The figure is reported per fifth of the run: the cost grows with the index. */
const PARTS = 5
const PAGE_SIZES = [4096, PAGE_SIZE] as const

const devices = cityDevices()

interface Run {
  round: number
  pageSize: number
  events: number
  /** Commit CPU µs per event in each fifth of the run, first to last. */
  cpuUsPerEvent: number[]
  /** Every event was new, so every one must have a sequence number. */
  allStored: boolean
}

/** A database with the given page size, its event index made, as the gateway would leave it. */
function makeDb(file: string, pageSize: number): void {
  const raw = new Database(file)
  raw.pragma(`page_size = ${pageSize}`)
  raw.pragma('journal_mode = WAL')
  raw.close()
  const db = openDb(file)
  new EventIndex(db).load()
  db.close()
}

function measure(round: number, pageSize: number): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-spool-'))
  try {
    const file = path.join(dir, 'doorstep.db')
    makeDb(file, pageSize)
    const store = new SpoolStore(file)
    const perPart = Math.ceil(args.events / PARTS)
    const partCpu: number[] = []
    let cpu = 0
    let inPart = 0
    let stored = 0
    let delivered: Array<{ lo: number; hi: number }> = []
    let t = Date.UTC(2026, 10, 1)
    for (let n = 0; n < args.events; ) {
      const size = Math.min(args.group, args.events - n)
      const group = newEventGroup(devices, n, size, t)
      const events = group.events
      t = group.t
      const c0 = process.cpuUsage()
      const { seqs } = store.commit({ events, lines: [], deletes: delivered })
      const c = process.cpuUsage(c0)
      cpu += c.user + c.system
      // The previous group was written meanwhile: delivered, as the batch writer would say.
      const first = seqs[0] as number
      const last = seqs[seqs.length - 1] as number
      delivered = [{ lo: first, hi: last }]
      stored += seqs.filter((s) => s >= 0).length
      n += size
      inPart += size
      if (inPart >= perPart || n === args.events) {
        partCpu.push(Math.round((cpu / inPart) * 100) / 100)
        cpu = 0
        inPart = 0
      }
    }
    store.close()
    return { round, pageSize, events: args.events, cpuUsPerEvent: partCpu, allStored: stored === args.events }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The middle round (the lower middle for an even count), as the other benches report. */
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  )

const runs: Run[] = []
for (let round = 1; round <= args.rounds; round++) {
  // Alternating which goes first, so neither always meets a warmer page cache.
  const order = round % 2 === 1 ? PAGE_SIZES : [...PAGE_SIZES].reverse()
  for (const pageSize of order) {
    const r = measure(round, pageSize)
    process.stdout.write(`${JSON.stringify(r)}\n`)
    runs.push(r)
  }
}
const summary = Object.fromEntries(
  PAGE_SIZES.map((p) => {
    const of = runs.filter((r) => r.pageSize === p)
    const parts = Array.from({ length: PARTS }, (_, i) =>
      median(of.map((r) => r.cpuUsPerEvent[i] ?? Number.NaN)),
    )
    return [p, { cpuUsPerEventByFifth: parts, allStored: of.every((r) => r.allStored) }]
  }),
) as Record<number, { cpuUsPerEventByFifth: number[]; allStored: boolean }>
const file = saveResults('spool-commit', { args, runs, summary })
const cells = PAGE_SIZES.map((p) => {
  const s = summary[p] as { cpuUsPerEventByFifth: number[] }
  return `${s.cpuUsPerEventByFifth[0]} → ${s.cpuUsPerEventByFifth.at(-1)}`
})
process.stdout.write(
  `${PAGE_SIZES.map((p, i) => `${p / 1024} KiB pages: ${cells[i]} µs/event`).join('; ')}\nresults: ${path.relative(ROOT, file)}\n`,
)
