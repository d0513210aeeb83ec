/**
 * bench:ingest — sustained ingest through the real gateway over loopback,
 * against a naive forwarder measured in the same run (bare aedes → JSON.parse
 * → batches of 1,000 → InfluxDB). Reports landed points/s (verified by count
 * in InfluxDB), publish-to-stored latency from timed markers, and CPU µs per
 * message for the server process and for influxd.
 *
 *   npm run bench:ingest [-- --qos0 300000 --qos1 100000 --publishers 100 --rounds 3]
 *
 * Writes bench/results/ingest-<time>.json and a row in bench/README.md.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { z } from 'zod'
import { ManagedInfluxd } from '../gateway/src/influx/managed-influxd.js'
import { createLogger } from '../gateway/src/log.js'
import { benchArgs } from './lib/args.js'
import { freePort, ROOT, spawnTs, stopChild, waitFor } from './lib/children.js'
import {
  monotonicUs,
  STAGE_NOTES,
  STAGES,
  type StageReport,
  stageReport,
  type Window,
} from './lib/cpu-stages.js'
import { GATEWAY_NODE_FLAGS } from './lib/gateway-flags.js'
import { cpuMicros, percentile } from './lib/proc.js'
import { saveResults } from './lib/results.js'
import { connectUnit } from './lib/units.js'

const Args = z.object({
  qos0: z.coerce.number().int().min(1000).max(2_000_000).default(300_000),
  qos1: z.coerce.number().int().min(1000).max(1_000_000).default(100_000),
  publishers: z.coerce.number().int().min(1).max(2000).default(100),
  /** Rounds per mode, each measuring both servers back to back; the ratios reported are their medians. */
  rounds: z.coerce.number().int().min(1).max(9).default(3),
  'timeout-s': z.coerce.number().int().min(10).max(600).default(120),
  only: z.enum(['qos0', 'qos1']).optional(),
  /** Write a V8 CPU profile of each gateway run into this directory. */
  'cpu-prof': z.string().optional(),
  /** After the rounds, one more profiled gateway run per mode, its time split by stage (not in the ratios). */
  stages: z.enum(['on', 'off', 'detail']).default('on'),
})
const args = benchArgs('ingest', Args)
const timeoutMs = args['timeout-s'] * 1000

type Mode = 'qos0-heartbeats' | 'qos1-events'
type Server = 'naive' | 'doorstep'

interface ScenarioResult {
  server: Server
  mode: Mode
  round: number
  sent: number
  landed: number
  seconds: number
  perSecond: number
  latencyMs: { p50: number; p99: number; samples: number }
  serverCpuUsPerMsg: number
  influxdCpuUsPerMsg: number
  maxConcurrentWrites: number | null
  /** The span the CPU figures cover, on the clock CPU profiles are stamped with. */
  window: Window
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-bench-'))
const influxd = new ManagedInfluxd({ dataDir: path.join(tmp, 'influxd'), log: createLogger('warn') })

function influxUrl(): string {
  if (!influxd.url) throw new Error('influxd is not running')
  return influxd.url
}

async function influxQuery(db: string, q: string): Promise<unknown[][]> {
  const res = await fetch(`${influxUrl()}/query?db=${db}&epoch=ms&q=${encodeURIComponent(q)}`)
  const body = (await res.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }
  return body.results[0]?.series?.[0]?.values ?? []
}

async function count(db: string, measurement: string, field: string): Promise<number> {
  // Summed over every retention policy: events live in their own.
  let total = 0
  for (const rp of ['raw_30d', 'events_1y', 'autogen']) {
    const v = await influxQuery(db, `SELECT count(${field}) FROM "${rp}"."${measurement}"`).catch(() => [])
    total += Number(v[0]?.[1] ?? 0)
  }
  return total
}

function heartbeatPayload(uptime: number): string {
  return JSON.stringify({
    v: 1,
    ts: Date.now(),
    uptimeS: uptime,
    storageFreeMb: 20_000,
    storageTotalMb: 65_536,
    recording: true,
    signalDbm: -61,
    temperatureC: 36.5,
  })
}

/**
 * A unit's events are at least a millisecond apart; the bench keeps that true
 * (`ts` steps per event), since InfluxDB keeps one point per series and time.
 */
function eventPayload(ts: number): string {
  return JSON.stringify({ v: 1, ts, eventId: randomUUID(), phase: 'start', kind: 'motion', score: 0.8 })
}

/**
 * Publishes `n` messages from one client, keeping at most `window` unfinished.
 * mqtt.js completes QoS 0 publishes synchronously, so the loop also yields
 * every few messages: otherwise one client would publish all of its share in
 * one go and the marker timer and poller would never run.
 */
async function pump(
  c: MqttClient,
  topic: string,
  n: number,
  qos: 0 | 1,
  make: (i: number) => string,
): Promise<number> {
  const window = qos === 0 ? 500 : 100
  let outstanding = 0
  let done = 0
  let wake: (() => void) | null = null
  for (let i = 0; i < n; i++) {
    if (i % 16 === 15) await new Promise<void>((r) => setImmediate(r))
    while (outstanding >= window) await new Promise<void>((r) => (wake = r))
    outstanding++
    c.publish(topic, make(i), { qos }, (err) => {
      outstanding--
      if (!err) done++
      const w = wake
      wake = null
      w?.()
    })
  }
  while (outstanding > 0) await new Promise<void>((r) => (wake = r))
  return done
}

/**
 * Waits until influxd has finished with the previous scenario's points (it
 * compacts them in the background): otherwise that work lands on whichever
 * scenario runs next, always the same one in a fixed order. Idle means under
 * 5% of a core over two half-second samples in a row; at most 60 s.
 */
async function influxdSettled(): Promise<number> {
  const pid = influxd.pid as number
  const t0 = performance.now()
  let quiet = 0
  let last = cpuMicros(pid)
  while (quiet < 2 && performance.now() - t0 < 60_000) {
    await new Promise((r) => setTimeout(r, 500))
    const now = cpuMicros(pid)
    quiet = now - last < 25_000 ? quiet + 1 : 0
    last = now
  }
  return Math.round(performance.now() - t0)
}

async function scenario(
  server: Server,
  mode: Mode,
  roundNo: number,
  profileDir?: string,
): Promise<ScenarioResult> {
  const settledMs = await influxdSettled()
  const db = `bench_${server}_${mode.replace(/-/g, '_')}_${Date.now()}`
  const mqttPort = await freePort()
  const qos: 0 | 1 = mode === 'qos0-heartbeats' ? 0 : 1
  const total = qos === 0 ? args.qos0 : args.qos1
  const ids = Array.from({ length: args.publishers + 1 }, (_, i) => `bench-${String(i).padStart(5, '0')}`)
  const secrets = new Map<string, string>()
  let child: ReturnType<typeof spawnTs>
  let metricsUrl: string | null = null
  let token = ''
  if (server === 'naive') {
    await fetch(`${influxUrl()}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' })
    child = spawnTs('bench/naive-forwarder.ts', { PORT: String(mqttPort), INFLUX_URL: influxUrl(), DB: db })
    await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()))
    for (const id of ids) secrets.set(id, 'x')
  } else {
    const httpPort = await freePort()
    token = randomBytes(24).toString('hex')
    const flags = [
      ...GATEWAY_NODE_FLAGS,
      ...(args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`] : []),
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=250'] : []),
    ]
    child = spawnTs(
      'gateway/src/main.ts',
      {
        DOORSTEP_DATA_DIR: path.join(tmp, `gw-${db}`),
        DOORSTEP_HTTP_PORT: String(httpPort),
        DOORSTEP_MQTT_PORT: String(mqttPort),
        DOORSTEP_INFLUX_URL: influxUrl(),
        DOORSTEP_INFLUX_DB: db,
        DOORSTEP_ADMIN_TOKEN: token,
        DOORSTEP_LOG_LEVEL: 'warn',
        DOORSTEP_CONNECT_RATE: '100000',
      },
      flags,
    )
    const base = `http://127.0.0.1:${httpPort}`
    await waitFor(async () => (await fetch(`${base}/api/v1/ping`)).ok, 30_000, 'gateway')
    const rows = ids.map((id, i) => ({
      id,
      serial: `BENCH-${id}`,
      district: (i % 61) + 1,
      address: `${(i % 12) + 1} Main St`,
      ownerContact: 'bench',
      lat: 29.3,
      lon: 117.2,
      model: 'DS-C3W',
    }))
    const res = await fetch(`${base}/api/v1/devices/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(rows),
    })
    if (res.status !== 201) throw new Error(`provisioning failed: ${res.status} ${await res.text()}`)
    for (const c of ((await res.json()) as { created: Array<{ id: string; secret: string }> }).created)
      secrets.set(c.id, c.secret)
    metricsUrl = `${base}/metrics`
  }
  const url = `mqtt://127.0.0.1:${mqttPort}`
  const [markerId, ...pubIds] = ids as [string, ...string[]]
  const clients = await Promise.all(pubIds.map((id) => connectUnit(url, id, secrets.get(id) as string)))
  const marker = await connectUnit(url, markerId, secrets.get(markerId) as string)
  const pid = child.pid as number
  const influxPid = influxd.pid as number
  const cpu0 = cpuMicros(pid)
  const icpu0 = cpuMicros(influxPid)
  const fromUs = monotonicUs()

  // Markers: a timed message every 20 ms; the poller notes when each is first stored.
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  let markerSeq = 0
  let publishing = true
  const markerTopic = topicFor(qos === 0 ? 'heartbeat' : 'event', markerId)
  const markerTimer = setInterval(() => {
    const n = 1_000_000 + markerSeq++
    sentAt.set(n, performance.now())
    const body =
      qos === 0
        ? heartbeatPayload(n)
        : JSON.stringify({ ...JSON.parse(eventPayload(Date.now())), score: n / 1e7 })
    marker.publish(markerTopic, body, { qos })
  }, 20)
  const seen = new Set<number>()
  const poll = async () => {
    while (publishing || seen.size < sentAt.size) {
      const q =
        qos === 0
          ? `SELECT uptime_s FROM "raw_30d".heartbeat WHERE device = '${markerId}' AND uptime_s >= 1000000`
          : `SELECT score FROM "events_1y".event WHERE device = '${markerId}'`
      const q2 = server === 'naive' ? q.replace(/"raw_30d"\.|"events_1y"\./, '') : q
      const now = performance.now()
      for (const row of await influxQuery(db, q2).catch(() => [])) {
        const n = qos === 0 ? Number(row[1]) : Math.round(Number(row[1]) * 1e7)
        if (!seen.has(n) && sentAt.has(n)) {
          seen.add(n)
          latencies.push(now - (sentAt.get(n) as number))
        }
      }
      if (!publishing && performance.now() - t0 > timeoutMs) break
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  const t0 = performance.now()
  const poller = poll()
  const per = Math.floor(total / clients.length)
  const firstTs = Date.now() - per
  const acked = (
    await Promise.all(
      clients.map((c, i) =>
        pump(c, topicFor(qos === 0 ? 'heartbeat' : 'event', pubIds[i] as string), per, qos, (k) =>
          qos === 0 ? heartbeatPayload(k) : eventPayload(firstTs + k),
        ),
      ),
    )
  ).reduce((a, b) => a + b, 0)
  clearInterval(markerTimer)
  const expected = per * clients.length + sentAt.size
  const measurement = qos === 0 ? 'heartbeat' : 'event'
  const field = qos === 0 ? 'uptime_s' : 'score'
  let landed = 0
  let tEnd = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    landed = await count(db, measurement, field)
    tEnd = performance.now()
    if (landed >= expected) break
    await new Promise((r) => setTimeout(r, 100))
  }
  publishing = false
  await poller
  const cpu1 = cpuMicros(pid)
  const icpu1 = cpuMicros(influxPid)
  const window = { fromUs, toUs: monotonicUs() }
  let maxConcurrentWrites: number | null = null
  if (metricsUrl) {
    const text = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } })).text()
    const m = /^doorstep_influx_writes_max_concurrent (\d+)/m.exec(text)
    maxConcurrentWrites = m ? Number(m[1]) : null
  }
  for (const c of [...clients, marker]) c.end(true)
  await stopChild(child)
  const seconds = (tEnd - t0) / 1000
  latencies.sort((a, b) => a - b)
  const r: ScenarioResult = {
    server,
    mode,
    round: roundNo,
    sent: qos === 1 ? acked + sentAt.size : expected,
    landed,
    seconds: Number(seconds.toFixed(2)),
    perSecond: Math.round(landed / seconds),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      samples: latencies.length,
    },
    serverCpuUsPerMsg: round((cpu1 - cpu0) / Math.max(1, landed)),
    influxdCpuUsPerMsg: round((icpu1 - icpu0) / Math.max(1, landed)),
    maxConcurrentWrites,
    window,
  }
  process.stdout.write(`${JSON.stringify({ ...r, influxdSettledMs: settledMs })}\n`)
  return r
}

/** The profiled runs' split, as a table: µs of the gateway's main thread per message, by stage. */
function formatStages(st: Partial<Record<Mode, StageReport & { cpuUsPerMsg: number }>>): string {
  const modes = (['qos0-heartbeats', 'qos1-events'] as const).filter((m) => st[m])
  const pad = (x: string, n: number) => x.padEnd(n)
  const rows = [
    `\n${pad('stage', 10)}${modes.map((m) => pad(`${m} µs/msg`, 24)).join('')}what`,
    ...STAGES.map(
      (s) =>
        `${pad(s, 10)}${modes.map((m) => pad(String(st[m]?.mainUsPerMsg[s]), 24)).join('')}${STAGE_NOTES[s]}`,
    ),
    `${pad('main', 10)}${modes.map((m) => pad(String(st[m]?.mainBusyUsPerMsg), 24)).join('')}the main thread, busy`,
    `${pad('worker', 10)}${modes.map((m) => pad(String(st[m]?.workerBusyUsPerMsg), 24)).join('')}the spool's worker thread, busy (its fsync waits included)`,
    `${pad('process', 10)}${modes.map((m) => pad(String(st[m]?.cpuUsPerMsg), 24)).join('')}the whole process's CPU (/proc), every thread`,
  ]
  return `${rows.join('\n')}\n`
}

function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 10) / 10 : Number.NaN
}

/** The middle round (the lower middle for an even count): the percentile the latency figures use. */
function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  )
}

/** One mode's rounds, summarised: the ratio is the median of each round's own ratio (its two runs sat side by side). */
function summarise(results: readonly ScenarioResult[], mode: Mode) {
  const of = (server: Server) => results.filter((r) => r.mode === mode && r.server === server)
  const naive = of('naive')
  const doorstep = of('doorstep')
  const roundRatios = doorstep.map((d) => {
    const n = naive.find((x) => x.round === d.round) as ScenarioResult
    return Math.round((d.perSecond / n.perSecond) * 100) / 100
  })
  const med = (pick: (r: ScenarioResult) => number) => round(median(doorstep.map(pick)))
  return {
    ratio: median(roundRatios),
    roundRatios,
    naivePerSecond: Math.round(median(naive.map((r) => r.perSecond))),
    doorstepPerSecond: Math.round(median(doorstep.map((r) => r.perSecond))),
    latencyP50: med((r) => r.latencyMs.p50),
    latencyP99: med((r) => r.latencyMs.p99),
    cpuUsPerMsg: med((r) => r.serverCpuUsPerMsg),
    influxdCpuUsPerMsg: med((r) => r.influxdCpuUsPerMsg),
    maxConcurrentWrites: Math.max(...doorstep.map((r) => r.maxConcurrentWrites ?? 0)),
    lossFree: doorstep.every((r) => r.landed >= r.sent),
  }
}

try {
  await influxd.start()
  const results: ScenarioResult[] = []
  const modes = (['qos0-heartbeats', 'qos1-events'] as const).filter(
    (m) => !args.only || m.startsWith(args.only),
  )
  const stages: Partial<Record<Mode, StageReport & { cpuUsPerMsg: number }>> = {}
  for (const mode of modes) {
    // One unrecorded run first: the load generator's code is then optimised by the JIT before anything
    // is measured (a cold generator flattered whichever server met it: the first one measured).
    process.stdout.write(`warm-up (${mode}, not recorded): `)
    await scenario('naive', mode, -1)
    for (let r = 0; r < args.rounds; r++) {
      // Alternate which server goes first, so neither always meets the load generator or influxd in the same state.
      const order = r % 2 === 0 ? (['naive', 'doorstep'] as const) : (['doorstep', 'naive'] as const)
      for (const server of order) results.push(await scenario(server, mode, r))
    }
    if (args.stages !== 'off') {
      process.stdout.write(`profiled run (${mode}, not in the ratios): `)
      const dir = path.join(tmp, `profile-${mode}`)
      fs.mkdirSync(dir)
      const run = await scenario('doorstep', mode, -2, dir)
      stages[mode] = { ...stageReport(dir, run.landed, run.window), cpuUsPerMsg: run.serverCpuUsPerMsg }
      if (args.stages === 'detail')
        for (const [f, us] of stages[mode]?.topFunctions ?? [])
          process.stdout.write(`${String(us).padStart(8)}  ${f}\n`)
    }
  }
  if (Object.keys(stages).length > 0) process.stdout.write(formatStages(stages))
  if (args.only) {
    // A partial run writes no results file; it still ends its influxd (below), unlike an early exit would.
    process.stdout.write(`${JSON.stringify(results)}\n(partial run: no results file)\n`)
  } else {
    const q0 = summarise(results, 'qos0-heartbeats')
    const q1 = summarise(results, 'qos1-events')
    const lossFree = q0.lossFree && q1.lossFree
    const file = saveResults('ingest', {
      args,
      results,
      ratios: { qos0: q0.ratio, qos1: q1.ratio },
      roundRatios: { qos0: q0.roundRatios, qos1: q1.roundRatios },
      stages,
      targets: { qos0: '>= 1.0', qos1: '>= 0.8', lossFree, maxConcurrentWrites: '< 4' },
    })
    process.stdout.write(
      `\nqos0 ratio ${q0.ratio} (target 1.0; rounds ${q0.roundRatios.join(', ')}), qos1 ratio ${q1.ratio} (target 0.8; rounds ${q1.roundRatios.join(', ')}), loss-free: ${lossFree}\n`,
    )
    process.stdout.write(`results: ${path.relative(ROOT, file)}\n`)
  }
} finally {
  await influxd.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
}
