/**
 * bench:event-shipping — what sharing the event index costs. Gateways that share PostgreSQL name each
 * indexed event in a local outbox in the spool's commit, and a shipper copies those rows to the shared
 * table (gateway/src/events/event-shipper.ts). Measured here, on this thread with no broker:
 *
 * - the spool's commit CPU per durable event with the outbox and without it, in the same run,
 *   alternating which goes first over `--rounds` (as bench:spool-commit commits);
 * - the shipper draining what the "with" runs indexed into a private PostgreSQL (Debian's, started on
 *   loopback in a temp dir): rows a second, and the gateway's CPU per row shipped;
 * - that every event arrived.
 *
 *   npm run bench:event-shipping [-- --events 200000 --group 2000 --rounds 3]
 *
 * Writes bench/results/event-shipping-<time>.json and a row in bench/README.md.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { openPostgres } from '../gateway/src/db/index.js'
import { openDb } from '../gateway/src/db/sqlite.js'
import { EventIndex } from '../gateway/src/events/event-index.js'
import { EventShipper } from '../gateway/src/events/event-shipper.js'
import { SharedEventTable } from '../gateway/src/events/shared-events.js'
import { SpoolStore } from '../gateway/src/ingest/spool-store.js'
import { createLogger } from '../gateway/src/log.js'
import { startTestPostgres } from '../test/helpers/postgres.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { cityDevices, newEventGroup } from './lib/city.js'
import { percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  events: z.coerce.number().int().min(10_000).max(2_000_000).default(200_000),
  group: z.coerce.number().int().min(100).max(20_000).default(2_000),
  rounds: z.coerce.number().int().min(1).max(5).default(3),
})
const args = benchArgs('event-shipping', Args)
const devices = cityDevices()

interface CommitRun {
  round: number
  outbox: boolean
  commitUsPerEvent: number
  allStored: boolean
}

interface ShipRun {
  round: number
  rows: number
  wallMs: number
  rowsPerS: number
  cpuUsPerRow: number
  allShipped: boolean
}

/** Commits `args.events` new events in groups, as the spool's worker does; the CPU per event. */
function commitAll(file: string, outbox: boolean): { us: number; stored: number; ids: string[] } {
  // The events feature makes the index (and the outbox table) before the spool opens the file.
  const made = openDb(file)
  new EventIndex(made).load()
  made.close()
  const store = new SpoolStore(file, undefined, { outbox })
  const ids: string[] = []
  let cpu = 0
  let stored = 0
  let delivered: Array<{ lo: number; hi: number }> = []
  let t = Date.UTC(2026, 10, 1)
  for (let n = 0; n < args.events; ) {
    const size = Math.min(args.group, args.events - n)
    const group = newEventGroup(devices, n, size, t)
    const events = group.events
    t = group.t
    ids.push(...group.ids)
    const c0 = process.cpuUsage()
    const { seqs } = store.commit({ events, lines: [], deletes: delivered })
    const c = process.cpuUsage(c0)
    cpu += c.user + c.system
    delivered = [{ lo: seqs[0] as number, hi: seqs[seqs.length - 1] as number }]
    stored += seqs.filter((s) => s >= 0).length
    n += size
  }
  store.close()
  return { us: cpu / args.events, stored, ids }
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  )
const round2 = (x: number) => Math.round(x * 100) / 100

const log = createLogger('warn')
const pg = await startTestPostgres()
const commits: CommitRun[] = []
const ships: ShipRun[] = []
try {
  for (let round = 1; round <= args.rounds; round++) {
    const order = round % 2 === 1 ? [false, true] : [true, false]
    for (const outbox of order) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-ship-'))
      try {
        const file = path.join(dir, 'doorstep.db')
        const c = commitAll(file, outbox)
        const run: CommitRun = {
          round,
          outbox,
          commitUsPerEvent: round2(c.us),
          allStored: c.stored === args.events,
        }
        process.stdout.write(`${JSON.stringify(run)}\n`)
        commits.push(run)
        if (!outbox) continue
        // Ship what this run indexed into an empty database of its own.
        const shared = await openPostgres({ url: await pg.database(), nodeId: 'bench', log })
        const db = openDb(file)
        try {
          const index = new EventIndex(db, { outbox: true })
          index.prepare()
          const table = new SharedEventTable(shared)
          await table.migrate()
          const shipper = new EventShipper({ db, index: () => index, table, node: 'bench', log })
          const c0 = process.cpuUsage()
          const t0 = performance.now()
          // flush() waits at most 2 s a call; the shipper goes on between calls.
          for (let i = 0; i < 1_000 && shipper.pending() > 0; i++) await shipper.flush()
          const wallMs = performance.now() - t0
          const cpu = process.cpuUsage(c0)
          await shipper.stop()
          const count = await shared
            .tables<{ events: { event_id: string } }>()
            .selectFrom('events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
          const ship: ShipRun = {
            round,
            rows: shipper.shippedTotal,
            wallMs: Math.round(wallMs),
            rowsPerS: Math.round(shipper.shippedTotal / (wallMs / 1000)),
            cpuUsPerRow: round2((cpu.user + cpu.system) / Math.max(1, shipper.shippedTotal)),
            allShipped: Number(count.n) === args.events && shipper.pending() === 0,
          }
          process.stdout.write(`${JSON.stringify(ship)}\n`)
          ships.push(ship)
        } finally {
          db.close()
          await shared.close()
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
} finally {
  await pg.stop()
}

const without = median(commits.filter((r) => !r.outbox).map((r) => r.commitUsPerEvent))
const withOutbox = median(commits.filter((r) => r.outbox).map((r) => r.commitUsPerEvent))
const summary = {
  commitUsWithout: without,
  commitUsWithOutbox: withOutbox,
  outboxRatio: round2(withOutbox / without),
  shipRowsPerS: median(ships.map((s) => s.rowsPerS)),
  shipCpuUsPerRow: median(ships.map((s) => s.cpuUsPerRow)),
  allStored: commits.every((r) => r.allStored),
  allShipped: ships.every((s) => s.allShipped),
}
const file = saveResults('event-shipping', { args, commits, ships, summary })
process.stdout.write(
  `commit ${without} µs/event without the outbox, ${withOutbox} with (${summary.outboxRatio}×); shipped ${summary.shipRowsPerS} rows/s at ${summary.shipCpuUsPerRow} µs of gateway CPU a row; all shipped: ${summary.allShipped}\nresults: ${path.relative(ROOT, file)}\n`,
)
