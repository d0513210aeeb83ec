/**
 * bench:year-chart — the device page's heartbeat chart (7 days, and 29) with
 * a year of the city's heartbeats in InfluxDB, read from the raw points (as
 * before the 5-minute downsample) and through the downsample, in the same run.
 *
 *   npm run bench:year-chart [-- --units 2896 --full 60 --sparse-s 600 --hourly-days 363 --queries 200 --dir DIR]
 *
 * A year for 2,896 units at a heartbeat every 30 s is about 3 billion raw points, and InfluxDB would
 * not keep them: raw points live 30 days, the 5-minute aggregates 35 days, the hourly ones a year. So
 * the private influxd gets what the retention policies would hold, and at full rate only where the
 * measured queries read it:
 * - raw heartbeats for 30 days of `--full` units at one every 30 s (the units the charts are drawn for),
 *   and of every other unit at one every `--sparse-s` (every series exists, in shards of a real
 *   shape, without their full volume);
 * - the hourly aggregates for `--hourly-days` days of every unit (as `cq_heartbeat_hourly` writes them);
 * - the 5-minute aggregates for 35 days of every unit (as `cq_heartbeat_5m` writes them), those of the
 *   full-rate units recomputed from their raw points by the CQ's own query, so both paths chart the
 *   same heartbeats and the bench checks they agree.
 * A chart reads one unit's series only; its cost is that unit's points in the window (7 days of raw
 * heartbeats are 20,160 points, of 5-minute aggregates 2,016) and influxd's index over every series,
 * both as in the full year. The CQs run in the bench's influxd throughout, as they would in a gateway's.
 *
 * Writes bench/results/year-chart-<time>.json and a row in bench/README.md.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import {
  CQ_HEARTBEAT_5M,
  FIVEMIN_MEASUREMENT,
  fiveMinSelect,
  MARK_MEASUREMENT,
} from '../gateway/src/influx/heartbeat-schema.js'
import { InfluxStore, RP_FIVEMIN, RP_HOURLY, RP_RAW } from '../gateway/src/influx/influx-store.js'
import { ManagedInfluxd } from '../gateway/src/influx/managed-influxd.js'
import { createLogger } from '../gateway/src/log.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { CITY_UNITS, cityDevices } from './lib/city.js'
import { aggregateLine, type Loaded, rawLine, series, writeAll } from './lib/heartbeat-year.js'
import { cpuMicros, percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  units: z.coerce.number().int().min(100).max(CITY_UNITS).default(CITY_UNITS),
  full: z.coerce.number().int().min(5).max(500).default(60),
  'sparse-s': z.coerce.number().int().min(30).max(86_400).default(600),
  'hourly-days': z.coerce.number().int().min(1).max(363).default(363),
  queries: z.coerce.number().int().min(20).max(5_000).default(200),
  /** Keep the loaded influxd here (and reuse it on the next run) instead of a temp dir. */
  dir: z.string().optional(),
})
const args = benchArgs('year-chart', Args)
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const DB = 'doorstep'
const devices = cityDevices().slice(0, args.units)
const log = (s: string) => process.stderr.write(`year-chart: ${s}\n`)

/** The full-rate units, spread over the city (every district, both models). */
const sample = Array.from({ length: args.full }, (_, k) => Math.floor((k * args.units) / args.full))

interface Load {
  /** Where the data ends: the moment the load began. */
  end: number
  sample: number[]
  parts: Record<string, Loaded & { what: string }>
  seconds: number
}

async function load(url: string): Promise<Load> {
  const t0 = Date.now()
  const end = Math.floor(t0 / 1000) * 1000
  const all = devices.map((_, i) => i)
  const full = new Set(sample)
  const others = all.filter((i) => !full.has(i))
  // An hour inside each RP's duration, so that no point is refused as too old.
  const rawFrom = end - 30 * DAY + HOUR
  const covered = Math.floor((end - 10 * MIN) / (5 * MIN)) * 5 * MIN
  const parts: Load['parts'] = {}
  const step = async (name: string, what: string, p: Promise<Loaded>) => {
    log(`loading ${name}: ${what}`)
    parts[name] = { what, ...(await p) }
    log(`loaded ${name}: ${parts[name].points.toLocaleString('en')} points in ${parts[name].seconds} s`)
  }
  const hourFrom = Math.ceil((end - args['hourly-days'] * DAY) / HOUR) * HOUR
  await step(
    'hourly',
    `${all.length} units, ${args['hourly-days']} days, one aggregate an hour (120 samples)`,
    writeAll(
      url,
      DB,
      RP_HOURLY,
      series(
        devices,
        all,
        hourFrom,
        Math.floor(end / HOUR) * HOUR,
        HOUR,
        (d, i, t) => aggregateLine('heartbeat_hourly', d, i, t, 120, false),
        false,
      ),
    ),
  )
  const fiveFrom = Math.ceil((end - 35 * DAY + HOUR) / (5 * MIN)) * 5 * MIN
  await step(
    'fivemin',
    `${all.length} units, 35 days up to where the CQ would have reached, one aggregate each 5 min (10 samples)`,
    writeAll(
      url,
      DB,
      RP_FIVEMIN,
      series(
        devices,
        all,
        fiveFrom,
        covered,
        5 * MIN,
        (d, i, t) => aggregateLine(FIVEMIN_MEASUREMENT, d, i, t, 10, true),
        false,
      ),
    ),
  )
  await step(
    'rawSparse',
    `${others.length} units, 30 days, one heartbeat each ${args['sparse-s']} s`,
    writeAll(url, DB, RP_RAW, series(devices, others, rawFrom, end, args['sparse-s'] * 1000, rawLine, true)),
  )
  await step(
    'rawFull',
    `${sample.length} units, 30 days, one heartbeat each 30 s`,
    writeAll(url, DB, RP_RAW, series(devices, sample, rawFrom, end, 30_000, rawLine, true)),
  )
  return { end, sample, parts, seconds: Math.round((Date.now() - t0) / 1000) }
}

/**
 * The charted units' 5-minute aggregates over their 30 raw days, from their raw points by the CQ's own
 * query (a day at a time), so that both paths chart the same heartbeats and the downsample has what the
 * CQ now writes. The charts end where the heartbeats do; by the time they are drawn the CQ would have
 * run past that end (it runs on the clock, over the last 15 minutes, where nothing is loaded here).
 */
async function downsampleCharted(store: InfluxStore, units: number[], end: number): Promise<number> {
  log('computing the charted units’ 5-minute aggregates from their raw points')
  const t0 = Date.now()
  const ids = units.map((i) => devices[i]?.id).join('|')
  for (let t = Math.floor((end - 30 * DAY) / DAY) * DAY; t <= end; t += DAY) {
    await store.query(fiveMinSelect(DB, `device =~ /^(${ids})$/ AND time >= ${t}ms AND time < ${t + DAY}ms`))
  }
  return Math.round((Date.now() - t0) / 1000)
}

/** The CQ "was created" before anything in the downsample: its mark, 35 days before the data ends. */
async function markDownsample(store: InfluxStore, since: number): Promise<void> {
  await store.writeLines(
    `${MARK_MEASUREMENT},cq=${CQ_HEARTBEAT_5M} since=${since}i ${Date.now()}000000`,
    RP_HOURLY,
  )
  await store.ensureSchema()
  if (store.downsampleSince !== since)
    throw new Error(`the mark reads ${store.downsampleSince}, not ${since}`)
}

/** influxd compacts what was loaded for a while: measure once its CPU has settled (at most 5 min). */
async function waitIdle(pid: number): Promise<number> {
  const t0 = Date.now()
  while (Date.now() - t0 < 300_000) {
    const c0 = cpuMicros(pid)
    await sleep(3000)
    if ((cpuMicros(pid) - c0) / 3e6 < 0.15) break
  }
  return Math.round((Date.now() - t0) / 1000)
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])
}

/** A small deterministic generator, so that runs draw the same units. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0
    return s / 2 ** 32
  }
}

interface Timing {
  p50: number
  p99: number
  max: number
  rows: number
}

function timing(ms: number[], rows: number): Timing {
  const sorted = [...ms].sort((a, b) => a - b)
  const r = (x: number) => Math.round(x * 100) / 100
  return {
    p50: r(percentile(sorted, 50)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted.at(-1) ?? 0),
    rows: Math.round(rows / ms.length),
  }
}

/**
 * `args.queries` charts of `days` for units drawn from the full-rate ones, each read both ways back
 * to back (which goes first alternates), after 20 unrecorded warm-up pairs. The first 20 pairs are
 * also compared: the largest difference between the two paths' bucket means, relative to the value.
 */
async function charts(store: InfluxStore, days: number, end: number) {
  const pick = rng(days)
  const ms = { raw: [] as number[], downsampled: [] as number[] }
  const rows = { raw: 0, downsampled: 0 }
  let maxRelDiff = 0
  let bucketsDiffer = 0
  for (let i = -20; i < args.queries; i++) {
    const unit = devices[sample[Math.floor(pick() * sample.length)] as number]?.id as string
    const to = end
    const from = to - days * DAY
    const got: Record<'raw' | 'downsampled', Awaited<ReturnType<InfluxStore['heartbeats']>>> = {
      raw: [],
      downsampled: [],
    }
    const order = i % 2 === 0 ? (['raw', 'downsampled'] as const) : (['downsampled', 'raw'] as const)
    for (const path of order) {
      const t0 = process.hrtime.bigint()
      got[path] = await store.heartbeats(unit, from, to, { raw: path === 'raw' })
      const took = Number(process.hrtime.bigint() - t0) / 1e6
      if (i >= 0) {
        ms[path].push(took)
        rows[path] += got[path].length
      }
    }
    if (i < 0) continue
    if (i < 20) {
      if (got.raw.length !== got.downsampled.length) bucketsDiffer++
      for (let k = 0; k < Math.min(got.raw.length, got.downsampled.length); k++) {
        const a = got.raw[k] as Record<string, unknown>
        const b = got.downsampled[k] as Record<string, unknown>
        if (a.time !== b.time || a.samples !== b.samples) bucketsDiffer++
        for (const f of ['storage_free_mb', 'signal_dbm', 'temperature_c', 'battery_pct']) {
          const x = a[f]
          const y = b[f]
          if (typeof x === 'number' && typeof y === 'number')
            maxRelDiff = Math.max(maxRelDiff, Math.abs(x - y) / Math.max(1, Math.abs(x)))
          else if (x !== y) bucketsDiffer++
        }
      }
    }
  }
  return {
    days,
    raw: timing(ms.raw, rows.raw),
    downsampled: timing(ms.downsampled, rows.downsampled),
    check: { pairs: Math.min(20, args.queries), bucketsDiffer, maxRelDiff },
  }
}

const work = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-year-chart-'))
fs.mkdirSync(work, { recursive: true })
const loadedFile = path.join(work, 'loaded.json')
// A kept load's influxd opens about 130 shards before it answers: over 20 s on a busy machine.
const influxd = new ManagedInfluxd({
  dataDir: path.join(work, 'influxd'),
  log: createLogger('warn'),
  readyTimeoutMs: 180_000,
})
try {
  const url = await influxd.start()
  const store = new InfluxStore({ url, db: DB, log: createLogger('warn') })
  await store.ensureSchema()
  let loaded: Load & { reused: boolean }
  if (fs.existsSync(loadedFile)) {
    loaded = { ...(JSON.parse(fs.readFileSync(loadedFile, 'utf8')) as Load), reused: true }
    log(`reusing the heartbeats loaded in ${work} (they end at ${new Date(loaded.end).toISOString()})`)
  } else {
    loaded = { ...(await load(url)), reused: false }
    fs.writeFileSync(loadedFile, `${JSON.stringify(loaded, null, 2)}\n`)
  }
  await markDownsample(store, loaded.end - 35 * DAY)
  const recomputeS = await downsampleCharted(store, loaded.sample, loaded.end)
  const bytes = duBytes(path.join(work, 'influxd'))
  const points = Object.values(loaded.parts).reduce((n, p) => n + p.points, 0)
  log(
    `${points.toLocaleString('en')} points, ${(bytes / 2 ** 30).toFixed(2)} GiB on disk; waiting for influxd to settle`,
  )
  const settledS = await waitIdle(influxd.pid as number)
  const loadBefore = os.loadavg()
  log('7-day charts')
  const week = await charts(store, 7, loaded.end)
  log('29-day charts')
  const month = await charts(store, 29, loaded.end)
  const loadAfter = os.loadavg()
  const round2 = (xs: number[]) => xs.map((x) => Math.round(x * 100) / 100)
  const file = saveResults('year-chart', {
    args,
    load: { ...loaded, points, bytes, settledS, recomputeS },
    loadavg: { before: round2(loadBefore), after: round2(loadAfter) },
    week,
    month,
  })
  const line = (c: typeof week) =>
    `${c.days}-day chart p99 ms: raw ${c.raw.p99} (p50 ${c.raw.p50}, ${c.raw.rows} rows), downsampled ${c.downsampled.p99} (p50 ${c.downsampled.p50}); ${c.check.bucketsDiffer} buckets differ, max relative difference ${c.check.maxRelDiff.toExponential(1)}\n`
  process.stdout.write(
    `${line(week)}${line(month)}load average ${round2(loadBefore).join(' ')} → ${round2(loadAfter).join(' ')}\nresults: ${path.relative(ROOT, file)}\n`,
  )
} finally {
  await influxd.stop()
  if (!args.dir) fs.rmSync(work, { recursive: true, force: true })
}
