/**
 * bench:line-protocol — the client's cost of writing heartbeats to InfluxDB:
 * node-influx's `writePoints` (point objects, its own escaping and HTTP pool)
 * against Doorstep's hand-built lines (`heartbeatLine` into a pooled
 * LineBuffer, posted by `InfluxStore.writeLines`). Same points, same batches,
 * same managed influxd, one after the other; each batch is awaited, so
 * nothing but the client's work and influxd's answer is measured. Landed
 * points are counted in InfluxDB.
 *
 *   npm run bench:line-protocol [-- --points 200000 --batch 5000 --rounds 3]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Heartbeat } from '@doorstep/proto'
import { FieldType, InfluxDB, type IPoint } from 'influx'
import { z } from 'zod'
import { InfluxStore } from '../gateway/src/influx/influx-store.js'
import { ManagedInfluxd } from '../gateway/src/influx/managed-influxd.js'
import { type LineBuffer, LineBufferPool } from '../gateway/src/ingest/line-buffer.js'
import { heartbeatLine, SeriesKeys } from '../gateway/src/ingest/points.js'
import { createLogger } from '../gateway/src/log.js'
import type { DeviceRecord } from '../gateway/src/registry/registry.js'
import { benchArgs } from './lib/args.js'
import { ROOT } from './lib/children.js'
import { CITY_UNITS, cityDevices } from './lib/city.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  points: z.coerce.number().int().min(10_000).max(2_000_000).default(200_000),
  batch: z.coerce.number().int().min(100).max(50_000).default(5_000),
  rounds: z.coerce.number().int().min(1).max(10).default(3),
})
const args = benchArgs('line-protocol', Args)

const UNITS = CITY_UNITS
const devices = cityDevices()

/** The n-th heartbeat of the run: unit n mod 2,896, one second apart per unit. */
function heartbeat(n: number, t0: number): { device: DeviceRecord; hb: Heartbeat; at: number } {
  const device = devices[n % UNITS] as DeviceRecord
  const at = t0 + Math.floor(n / UNITS) * 1000
  return {
    device,
    at,
    hb: {
      v: 1,
      ts: at - 40,
      uptimeS: 1000 + n,
      storageFreeMb: 20_000 - (n % 1000),
      storageTotalMb: 65_536,
      recording: true,
      signalDbm: -61 - (n % 20),
      temperatureC: 36.5,
    },
  }
}

function cpuNow(): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

async function count(url: string, db: string): Promise<number> {
  const res = await fetch(
    `${url}/query?db=${db}&q=${encodeURIComponent('SELECT count(uptime_s) FROM heartbeat')}`,
  )
  const body = (await res.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }
  return Number(body.results[0]?.series?.[0]?.values?.[0]?.[1] ?? 0)
}

interface Run {
  way: 'writePoints' | 'hand-built'
  round: number
  points: number
  landed: number
  seconds: number
  clientCpuUsPerPoint: number
  /** The client's work alone: building the batch, before anything is sent. */
  buildUsPerPoint: number
}

/**
 * One way of writing: `build` turns heartbeats [from, to) into a batch (the
 * part timed as build), `send` writes it. The loop, the timing and the count
 * are the same for both ways.
 */
interface Way<B> {
  build(from: number, to: number, t0: number): B
  send(batch: B): Promise<void>
}

async function measure<B>(way: Run['way'], w: Way<B>, url: string, db: string, round: number): Promise<Run> {
  const t0 = Date.now() - 3_600_000
  const cpu0 = cpuNow()
  const w0 = performance.now()
  let build = 0
  for (let i = 0; i < args.points; i += args.batch) {
    const b0 = cpuNow()
    const batch = w.build(i, Math.min(args.points, i + args.batch), t0)
    build += cpuNow() - b0
    await w.send(batch)
  }
  const seconds = (performance.now() - w0) / 1000
  const cpu = cpuNow() - cpu0
  return {
    way,
    round,
    points: args.points,
    landed: await count(url, db),
    seconds: Math.round(seconds * 100) / 100,
    clientCpuUsPerPoint: Math.round((cpu / args.points) * 100) / 100,
    buildUsPerPoint: Math.round((build / args.points) * 100) / 100,
  }
}

function writePointsWay(url: string, db: string): Way<IPoint[]> {
  const influx = new InfluxDB({
    host: new URL(url).hostname,
    port: Number(new URL(url).port),
    database: db,
    schema: [
      {
        measurement: 'heartbeat',
        tags: ['device', 'district'],
        fields: {
          model: FieldType.STRING,
          uptime_s: FieldType.INTEGER,
          storage_free_mb: FieldType.FLOAT,
          storage_total_mb: FieldType.FLOAT,
          recording: FieldType.BOOLEAN,
          signal_dbm: FieldType.FLOAT,
          temperature_c: FieldType.FLOAT,
          skew_ms: FieldType.INTEGER,
        },
      },
    ],
  })
  return {
    build(from, to, t0) {
      const points: IPoint[] = []
      for (let n = from; n < to; n++) {
        const { device, hb, at } = heartbeat(n, t0)
        points.push({
          measurement: 'heartbeat',
          tags: { device: device.id, district: String(device.district) },
          fields: {
            model: device.model,
            uptime_s: hb.uptimeS,
            storage_free_mb: hb.storageFreeMb,
            storage_total_mb: hb.storageTotalMb,
            recording: hb.recording,
            signal_dbm: hb.signalDbm,
            temperature_c: hb.temperatureC,
            skew_ms: at - hb.ts,
          },
          timestamp: new Date(at),
        })
      }
      return points
    },
    send: (points) => influx.writePoints(points, { precision: 'ms' }),
  }
}

function handBuiltWay(url: string, db: string): Way<LineBuffer> {
  const store = new InfluxStore({ url, db, log: createLogger('warn') })
  const keys = new SeriesKeys()
  const pool = new LineBufferPool()
  return {
    build(from, to, t0) {
      const buf = pool.take()
      for (let n = from; n < to; n++) {
        const { device, hb, at } = heartbeat(n, t0)
        buf.append(heartbeatLine(keys.of(device), hb, at))
      }
      return buf
    },
    async send(buf) {
      await store.writeLines(buf.view())
      pool.give(buf)
    },
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-lp-'))
const influxd = new ManagedInfluxd({ dataDir: path.join(tmp, 'influxd'), log: createLogger('warn') })
try {
  const url = await influxd.start()
  const runs: Run[] = []
  for (let round = 1; round <= args.rounds; round++) {
    // Alternating which goes first, so neither always meets a warmer influxd.
    const order =
      round % 2 === 1 ? (['writePoints', 'hand-built'] as const) : (['hand-built', 'writePoints'] as const)
    for (const way of order) {
      const db = `bench_lp_${way.replace('-', '_')}_${round}_${Date.now()}`
      await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' })
      const r =
        way === 'writePoints'
          ? await measure(way, writePointsWay(url, db), url, db, round)
          : await measure(way, handBuiltWay(url, db), url, db, round)
      process.stdout.write(`${JSON.stringify(r)}\n`)
      runs.push(r)
    }
  }
  const of = (way: Run['way']) => runs.filter((r) => r.way === way)
  const summary = Object.fromEntries(
    (['writePoints', 'hand-built'] as const).map((way) => [
      way,
      {
        clientCpuUsPerPoint: median(of(way).map((r) => r.clientCpuUsPerPoint)),
        buildUsPerPoint: median(of(way).map((r) => r.buildUsPerPoint)),
        pointsPerS: Math.round(median(of(way).map((r) => r.points / r.seconds))),
        lossFree: of(way).every((r) => r.landed === r.points),
      },
    ]),
  ) as Record<
    Run['way'],
    { clientCpuUsPerPoint: number; buildUsPerPoint: number; pointsPerS: number; lossFree: boolean }
  >
  const file = saveResults('line-protocol', { args, runs, summary })
  const w = summary.writePoints
  const h = summary['hand-built']
  process.stdout.write(
    `writePoints ${w.clientCpuUsPerPoint} µs/point (build ${w.buildUsPerPoint}), hand-built ${h.clientCpuUsPerPoint} µs/point (build ${h.buildUsPerPoint})\nresults: ${path.relative(ROOT, file)}\n`,
  )
} finally {
  await influxd.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
}
