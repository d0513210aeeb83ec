/**
 * bench:year — Doorstep in its second year: the event index holding a year
 * of the city's events (built in bulk, not through MQTT), against an empty
 * one, in the same run.
 *
 *   npm run bench:year [-- --events 30000000 --measure 300000 --group 2000 --rounds 3 --queries 200]
 *
 * Measures, for each: the spool's commit CPU per durable event (merge into
 * the index, append the line, fsync'd commit, delete what was delivered), and
 * apart from it the CPU of the moves of quiet rows into their months that the
 * ingest worker makes between commits; then, on the year, the events queries
 * (a district and a day, a radius and a week, a unit and a month, a case's
 * units and window) and the drop of the oldest month. The year is built in a
 * temp dir (`--dir` to keep and reuse one); building 30 million events takes
 * some minutes and about 12 GB of disk, reported in the results.
 *
 * Writes bench/results/year-<time>.json and a row in bench/README.md.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { EventsQuery } from '@doorstep/proto'
import { z } from 'zod'
import { openDb } from '../gateway/src/db/sqlite.js'
import { EventIndex } from '../gateway/src/events/event-index.js'
import { haversineM } from '../gateway/src/events/geo.js'
import { IdFilter } from '../gateway/src/events/id-filter.js'
import {
  COLUMNS,
  monthOf,
  monthStart,
  PART_ROWS,
  partitionName,
  tableDdl,
} from '../gateway/src/events/partitions.js'
import { DEFAULT_ROLLOVER } from '../gateway/src/events/rollover.js'
import { SpoolStore } from '../gateway/src/ingest/spool-store.js'
import type { DeviceRecord } from '../gateway/src/registry/registry.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { CITY_UNITS, cityDevices, newEventGroup } from './lib/city.js'
import { percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  events: z.coerce.number().int().min(100_000).max(60_000_000).default(30_000_000),
  measure: z.coerce.number().int().min(10_000).max(2_000_000).default(300_000),
  group: z.coerce.number().int().min(100).max(20_000).default(2_000),
  rounds: z.coerce.number().int().min(1).max(5).default(3),
  queries: z.coerce.number().int().min(10).max(5_000).default(200),
  /** Keep the built year here (and reuse it on the next run) instead of a temp dir. */
  dir: z.string().optional(),
})
const args = benchArgs('year', Args)
const DAY = 86_400_000
const devices = cityDevices()
/** The measured commits happen "now"; the year ends a day before. */
const NOW = Date.now()

const log = (s: string) => process.stderr.write(`year: ${s}\n`)

/** Bytes under a dir. */
function du(dir: string): number {
  let n = 0
  for (const f of fs.readdirSync(dir)) n += fs.statSync(path.join(dir, f)).size
  return n
}

/**
 * A year of events in monthly tables, as the gateway's moves would leave them, built table by table:
 * rows first in time order, then the indexes (SQLite sorts once instead of inserting at random), then
 * each month's id filter.
 */
function buildYear(file: string, total: number): { seconds: number; bytes: number; events: number } {
  const t0 = Date.now()
  const db = openDb(file)
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
  new EventIndex(db).load()
  const from = NOW - 365 * DAY
  const months: number[] = []
  for (let m = monthOf(from); m <= monthOf(NOW - DAY); m = monthOf(monthStart(m) + 32 * DAY)) months.push(m)
  const span = NOW - DAY - from
  const cols = COLUMNS.join(', ')
  let made = 0
  // The measured commits' moves go into the current month's newest part: it is built holding as many
  // rows as leaves them room to fill it, so they are measured at the most a move costs (a part's id index
  // at its largest), whatever the day of the month the bench runs.
  const toMove = Math.max(1, args.measure - DEFAULT_ROLLOVER.maxRecentRows)
  for (const month of months) {
    const lo = Math.max(from, monthStart(month))
    const hi = Math.min(NOW - DAY, monthStart(monthOf(monthStart(month) + 32 * DAY)))
    const natural = Math.round((total * (hi - lo)) / span)
    const current = month === months[months.length - 1]
    const n = current ? Math.floor(natural / PART_ROWS) * PART_ROWS + (PART_ROWS - toMove) : natural
    const filter = new IdFilter(Math.max(250_000, Math.ceil(n * 1.25)))
    const step = (hi - lo) / n
    const parts = Math.ceil(n / PART_ROWS)
    for (let part = 1; part <= parts; part++) {
      const first = (part - 1) * PART_ROWS
      const rows = Math.min(PART_ROWS, n - first)
      const name = partitionName(month, part)
      const [create, ...indexes] = tableDdl(name)
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean)
      db.exec(create as string)
      const insert = db.prepare(`INSERT INTO ${name} (${cols}) VALUES (${COLUMNS.map(() => '?').join(', ')})`)
      db.transaction(() => {
        for (let i = first; i < first + rows; i++) {
          const d = devices[(i * 7 + month) % CITY_UNITS] as DeviceRecord
          const id = randomUUID()
          const started = Math.floor(lo + i * step)
          const key = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
          filter.add(key)
          const clip = i % 5 === 0
          insert.run(
            id,
            key,
            d.id,
            d.district,
            'motion',
            'end',
            0.7,
            null,
            started,
            started + 10_000,
            started + 10_000,
            d.lat,
            d.lon,
            clip ? 'ready' : 'none',
            clip ? 1_500_000 : null,
            clip ? 'a'.repeat(64) : null,
            clip ? 10_000 : null,
            clip ? 'h264' : null,
            7,
          )
        }
      })()
      for (const ix of indexes) db.exec(ix)
      // The month's one filter is kept in the row of its first part, counting the rows of all of them.
      db.prepare(
        'INSERT INTO event_partitions (name, month, rows, filter, filter_capacity, filter_rows) VALUES (?, ?, ?, NULL, ?, 0)',
      ).run(name, month, rows, filter.capacity)
    }
    db.prepare('UPDATE event_partitions SET filter = ?, filter_rows = ? WHERE name = ?').run(
      filter.bytes(),
      n,
      partitionName(month),
    )
    made += n
    log(
      `built ${month} in ${parts} part${parts > 1 ? 's' : ''}: ${n.toLocaleString('en')} events (${made.toLocaleString('en')} in all)`,
    )
  }
  db.prepare('UPDATE event_catalogue SET gen = gen + 1').run()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return { seconds: Math.round((Date.now() - t0) / 1000), bytes: du(path.dirname(file)), events: made }
}

interface Commits {
  round: number
  base: 'empty' | 'year'
  events: number
  /** Commit CPU µs per event, each fifth of the run. */
  commitUsByFifth: number[]
  commitUs: number
  /** CPU of the moves into months between commits, µs per event committed. */
  moveUs: number
  moved: number
  allStored: boolean
}

/** `args.measure` new events committed in groups, the worker's moves between them, as the gateway would. */
function commits(round: number, base: 'empty' | 'year', file: string): Commits {
  const store = new SpoolStore(file)
  let commitCpu = 0
  let moveCpu = 0
  let moved = 0
  let stored = 0
  const fifths: number[] = []
  let partCpu = 0
  let inPart = 0
  const perPart = Math.ceil(args.measure / 5)
  let delivered: Array<{ lo: number; hi: number }> = []
  let t = NOW - 3_600_000
  for (let n = 0; n < args.measure; ) {
    const size = Math.min(args.group, args.measure - n)
    const group = newEventGroup(devices, n, size, t)
    const events = group.events
    t = group.t
    const c0 = process.cpuUsage()
    const { seqs } = store.commit({ events, lines: [], deletes: delivered })
    const c = process.cpuUsage(c0)
    commitCpu += c.user + c.system
    partCpu += c.user + c.system
    delivered = [{ lo: seqs[0] as number, hi: seqs[seqs.length - 1] as number }]
    stored += seqs.filter((s) => s >= 0).length
    // The worker looks for rows to move about once a second; a busy gateway commits a few times in it.
    // Moved as it would be: a chunk, and more chunks at once while there are more. The clock runs an
    // hour ahead of the events so that they are quiet by the time the table is over its limit.
    const m0 = process.cpuUsage()
    for (let i = 0; i < 20; i++) {
      const step = store.rollOver(t + 3_600_000)
      moved += step.moved
      if (!step.more) break
    }
    const m = process.cpuUsage(m0)
    moveCpu += m.user + m.system
    n += size
    inPart += size
    if (inPart >= perPart || n === args.measure) {
      fifths.push(Math.round((partCpu / inPart) * 100) / 100)
      partCpu = 0
      inPart = 0
    }
  }
  store.close()
  const r = (x: number) => Math.round(x * 100) / 100
  return {
    round,
    base,
    events: args.measure,
    commitUsByFifth: fifths,
    commitUs: r(commitCpu / args.measure),
    moveUs: r(moveCpu / args.measure),
    moved,
    allStored: stored === args.measure,
  }
}

/** p50 and p99 ms of `fn` over `args.queries` calls with varying inputs. */
function timed(fn: (i: number) => number): { p50: number; p99: number; rows: number } {
  const ms: number[] = []
  let rows = 0
  for (let i = 0; i < args.queries; i++) {
    const t0 = process.hrtime.bigint()
    rows += fn(i)
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  ms.sort((a, b) => a - b)
  const r = (x: number) => Math.round(x * 100) / 100
  return { p50: r(percentile(ms, 50)), p99: r(percentile(ms, 99)), rows: Math.round(rows / args.queries) }
}

function queries(file: string) {
  const db = openDb(file)
  const index = new EventIndex(db)
  index.load()
  const day = (i: number) => NOW - (10 + (i % 300)) * DAY
  const q = (o: Record<string, string>) =>
    index.query(EventsQuery.parse({ limit: '100', ...o })).events.length
  const out = {
    districtDay: timed((i) =>
      q({ district: String((i % 61) + 1), from: String(day(i)), to: String(day(i) + DAY) }),
    ),
    radiusWeek: timed((i) => {
      const d = devices[(i * 37) % CITY_UNITS] as DeviceRecord
      return q({ near: `${d.lat},${d.lon},500`, from: String(day(i)), to: String(day(i) + 7 * DAY) })
    }),
    unitMonth: timed((i) =>
      q({
        device: (devices[(i * 13) % CITY_UNITS] as DeviceRecord).id,
        from: String(day(i)),
        to: String(day(i) + 30 * DAY),
      }),
    ),
    // A case: the units within 300 m of a point and every event of theirs in a six-hour window, in one
    // query as the cases feature asks (with its 15 minutes' lead and 2,000 events a unit at most).
    caseOpen: timed((i) => {
      const c = devices[(i * 101) % CITY_UNITS] as DeviceRecord
      const from = day(i) + 20 * 3_600_000
      const units = devices.filter((d) => haversineM(c.lat, c.lon, d.lat, d.lon) <= 300).map((d) => d.id)
      return index.ofUnits(units, from - 15 * 60_000, from + 6 * 3_600_000, 2000).length
    }),
  }
  db.close()
  return out
}

function dropOldest(file: string): { month: number; rows: number; ms: number } {
  const db = openDb(file)
  const index = new EventIndex(db)
  index.load()
  const months = index.sizes().flatMap((t) => {
    const m = /^event_m_(\d{6})/.exec(t.table)
    return m ? [{ month: Number(m[1]), rows: t.rows }] : []
  })
  const month = Math.min(...months.map((m) => m.month))
  const oldest = { rows: months.filter((m) => m.month === month).reduce((n, m) => n + m.rows, 0) }
  const t0 = process.hrtime.bigint()
  index.dropExpired(monthStart(monthOf(monthStart(month) + 32 * DAY)), new Set())
  const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100
  db.close()
  return { month, rows: oldest.rows, ms }
}

const work = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-year-'))
fs.mkdirSync(work, { recursive: true })
const yearFile = path.join(work, 'year', 'doorstep.db')
try {
  let build: { seconds: number; bytes: number; reused: boolean; events: number }
  if (fs.existsSync(yearFile)) {
    const db = openDb(yearFile)
    const { n } = db.prepare('SELECT sum(rows) AS n FROM event_partitions').get() as { n: number }
    db.close()
    build = { seconds: 0, bytes: du(path.dirname(yearFile)), reused: true, events: n }
    log(`reusing the year in ${path.dirname(yearFile)}`)
  } else {
    log(`building ${args.events.toLocaleString('en')} events`)
    build = { ...buildYear(yearFile, args.events), reused: false }
    log(`built in ${build.seconds} s, ${(build.bytes / 2 ** 30).toFixed(1)} GiB`)
  }
  // The measured commits go into a copy, so that a kept year stays as built.
  const runs: Commits[] = []
  let drop: ReturnType<typeof dropOldest> | null = null
  for (let round = 1; round <= args.rounds; round++) {
    const order: Array<'empty' | 'year'> = round % 2 === 1 ? ['empty', 'year'] : ['year', 'empty']
    for (const base of order) {
      const dir = path.join(work, `run-${base}`)
      fs.rmSync(dir, { recursive: true, force: true })
      fs.mkdirSync(dir)
      const file = path.join(dir, 'doorstep.db')
      if (base === 'year') {
        for (const f of fs.readdirSync(path.dirname(yearFile)))
          fs.copyFileSync(path.join(path.dirname(yearFile), f), path.join(dir, f))
      } else {
        const db = openDb(file)
        new EventIndex(db).load()
        db.close()
      }
      const r = commits(round, base, file)
      process.stdout.write(`${JSON.stringify(r)}\n`)
      runs.push(r)
      // The drop is measured on the last copy of the year, so that a kept year stays whole.
      if (base === 'year' && round === args.rounds) drop = dropOldest(file)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  log('queries')
  const q = queries(yearFile)
  const med = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    )
  const of = (base: string, k: 'commitUs' | 'moveUs') =>
    med(runs.filter((r) => r.base === base).map((r) => r[k]))
  const summary = {
    empty: { commitUs: of('empty', 'commitUs'), moveUs: of('empty', 'moveUs') },
    year: { commitUs: of('year', 'commitUs'), moveUs: of('year', 'moveUs') },
    ratio: Math.round((of('year', 'commitUs') / of('empty', 'commitUs')) * 100) / 100,
    ratioWithMoves:
      Math.round(
        ((of('year', 'commitUs') + of('year', 'moveUs')) /
          (of('empty', 'commitUs') + of('empty', 'moveUs'))) *
          100,
      ) / 100,
    allStored: runs.every((r) => r.allStored),
    queries: q,
    drop,
    build,
  }
  const file = saveResults('year', { args, runs, summary })
  process.stdout.write(
    `commit µs/event: empty ${summary.empty.commitUs} (+${summary.empty.moveUs} moves), year ${summary.year.commitUs} (+${summary.year.moveUs} moves): ${summary.ratio}× (${summary.ratioWithMoves}× with moves)\n` +
      `queries p99 ms: district/day ${q.districtDay.p99}, radius/week ${q.radiusWeek.p99}, unit/month ${q.unitMonth.p99}, case ${q.caseOpen.p99}\n` +
      `${drop ? `drop of ${drop.rows.toLocaleString('en')} events (${drop.month}): ${drop.ms} ms\n` : ''}results: ${path.relative(ROOT, file)}\n`,
  )
} finally {
  if (!args.dir) fs.rmSync(work, { recursive: true, force: true })
}
