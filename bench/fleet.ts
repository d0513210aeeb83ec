/**
 * bench:fleet — the whole city on one machine: the real gateway as its own
 * process, the simulator in this one (it shares the two cores).
 *
 *   city   2,896 units connect; heartbeats every 30 s; events at ten times the
 *          normal rate; publish-to-alert latency from a WebSocket observer;
 *          heartbeats and events verified in InfluxDB.
 *   storm  every unit loses power at once and comes back at once: time until
 *          all are online again, with CPU and memory sampled meanwhile.
 *   big    19,000 units with heartbeats every 10 s: all land, publish-to-stored
 *          latency from markers, gateway memory per unit against bare aedes
 *          holding the same connections in the same run; why connections
 *          ended, as the gateway counted it and as the units saw it.
 *
 *   npm run bench:fleet [-- --scenario all|city|storm|big --duration-s 60 --big 19000]
 *
 * Writes bench/results/fleet-<time>.json and a row in bench/README.md (the
 * scenarios not run show as "–").
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type Fleet, observeAlerts, startFleet } from '@doorstep/device-sim'
import { z } from 'zod'
import { ManagedInfluxd } from '../gateway/src/influx/managed-influxd.js'
import { createLogger } from '../gateway/src/log.js'
import { benchArgs } from './lib/args.js'
import { freePort, ROOT, spawnTs, stopChild, waitFor } from './lib/children.js'
import {
  brief,
  type Counts,
  delta,
  dropped,
  gatewayDelta,
  gatewayDisconnects,
  sum,
} from './lib/disconnects.js'
import { type GatewayProcess, startGatewayProcess } from './lib/gateway-process.js'
import { StoredLatencyProbe } from './lib/markers.js'
import { cpuMicros, rssBytes } from './lib/proc.js'
import { saveResults } from './lib/results.js'

const Args = z.object({
  scenario: z.enum(['all', 'city', 'storm', 'big']).default('all'),
  devices: z.coerce.number().int().min(10).max(19_000).default(2896),
  big: z.coerce.number().int().min(100).max(19_000).default(19_000),
  'duration-s': z.coerce.number().int().min(10).max(600).default(60),
})
const args = benchArgs('fleet', Args)
const say = (s: string) => process.stdout.write(`${s}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-fleet-'))
const influxd = new ManagedInfluxd({ dataDir: path.join(tmp, 'influxd'), log: createLogger('warn') })

type Gw = GatewayProcess

function startGateway(name: string, env: Record<string, string> = {}): Promise<Gw> {
  // Every simulated unit connects from 127.0.0.1, where a real fleet has an address per home: the
  // per-address budget would stand in for the fleet's, so it is lifted here.
  const all = { DOORSTEP_CONNECT_RATE_PER_ADDRESS: '1000000', ...env }
  return startGatewayProcess({ name, dataRoot: tmp, influxUrl: influxd.url as string, env: all })
}

async function influxCount(db: string, q: string): Promise<number> {
  const res = await fetch(`${influxd.url}/query?db=${db}&q=${encodeURIComponent(q)}`)
  const body = (await res.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }
  return Number(body.results[0]?.series?.[0]?.values?.[0]?.[1] ?? 0)
}

/** Peak CPU share and RSS of a process, sampled every 250 ms while `during` runs. */
async function sampled<T>(
  pid: number,
  during: () => Promise<T>,
): Promise<{ result: T; peakCpuPct: number; peakRssMiB: number }> {
  let peakCpu = 0
  let peakRss = 0
  let last = cpuMicros(pid)
  let lastT = performance.now()
  const timer = setInterval(() => {
    const c = cpuMicros(pid)
    const t = performance.now()
    peakCpu = Math.max(peakCpu, ((c - last) / ((t - lastT) * 1000)) * 100)
    peakRss = Math.max(peakRss, rssBytes(pid))
    last = c
    lastT = t
  }, 250)
  try {
    return {
      result: await during(),
      peakCpuPct: Math.round(peakCpu),
      peakRssMiB: Math.round(peakRss / 1024 ** 2),
    }
  } finally {
    clearInterval(timer)
  }
}

const totalAcked = (f: Fleet) => Object.values(f.stats().acked).reduce((a, b) => a + b, 0)

/** Why units' connections ended so far, from the simulator's side. */
function unitEnds(f: Fleet): { sessionEnds: Counts; connectFailures: Counts } {
  const s = f.stats()
  return { sessionEnds: s.sessionEnds, connectFailures: s.connectFailures }
}

/**
 * Every second while `during` runs: units connected, sessions the units lost and connections the
 * gateway saw end other than refusals; a row only when one of them moved, so drops can be placed in time.
 */
async function timeline<T>(
  fleet: () => Fleet | null,
  gw: Gw,
  during: () => Promise<T>,
): Promise<{ result: T; rows: Array<[number, number, number, number]> }> {
  const rows: Array<[number, number, number, number]> = []
  const t0 = performance.now()
  let last = ''
  let busy = false
  const timer = setInterval(async () => {
    const f = fleet()
    if (!f || busy) return
    busy = true
    try {
      const s = f.stats()
      const gDrops = sum(dropped(await gatewayDisconnects(gw.httpUrl, gw.token)))
      const key = `${s.connected}/${s.disconnects}/${gDrops}`
      if (key !== last)
        rows.push([Math.round((performance.now() - t0) / 100) / 10, s.connected, s.disconnects, gDrops])
      last = key
    } catch {
      // A scrape that fails under load leaves a gap, not a failed bench.
    } finally {
      busy = false
    }
  }, 1000)
  try {
    return { result: await during(), rows }
  } finally {
    clearInterval(timer)
  }
}

async function waitConnected(fleet: Fleet, n: number, timeoutMs: number): Promise<number | null> {
  const t0 = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    if (fleet.stats().connected >= n) return Math.round(performance.now() - t0)
    await sleep(100)
  }
  return null
}

async function cityAndStorm(): Promise<Record<string, unknown>> {
  const gw = await startGateway('city')
  const credentialsDir = path.join(tmp, 'creds-city')
  const fleet = await startFleet({
    devices: args.devices,
    mqttUrl: gw.mqttUrl,
    httpUrl: gw.httpUrl,
    adminToken: gw.token,
    credentialsDir,
    heartbeatS: 30,
    eventRate: 10,
    connectRate: 5000,
    uploader: null,
    log: () => {},
  })
  // Provisioning is done; what counts is the connect itself, measured from here.
  const connectMs = await waitConnected(fleet, args.devices, 60_000)
  say(`city: ${args.devices} units connected in ${connectMs ?? '> 60000'} ms`)
  const observer = await observeAlerts(gw.httpUrl, gw.token, { sentAt: (id) => fleet.sentAt(id) })
  const cpu0 = cpuMicros(gw.pid)
  const acked0 = totalAcked(fleet)
  await sleep(args['duration-s'] * 1000)
  const cpu1 = cpuMicros(gw.pid)
  const acked1 = totalAcked(fleet)
  const messages = acked1 - acked0
  const latency = observer.summary()
  observer.close()
  // Nothing lost: what InfluxDB holds must lie between what the units had sent before the count
  // (given 2 s to flush) and what they had sent once it was taken; they keep publishing meanwhile.
  const before = fleet.stats()
  await sleep(2000)
  const heartbeatsStored = await influxCount(
    gw.db,
    `SELECT count(uptime_s) FROM heartbeat WHERE device =~ /^cam-/`,
  )
  const eventsStored = await influxCount(gw.db, `SELECT count(score) FROM "events_1y".event`)
  const s = fleet.stats()
  const city = {
    units: args.devices,
    connectMs,
    durationS: args['duration-s'],
    messagesPerS: Math.round(messages / args['duration-s']),
    gatewayCpuUsPerMsg: Math.round(((cpu1 - cpu0) / Math.max(1, messages)) * 10) / 10,
    gatewayRssMiB: Math.round(rssBytes(gw.pid) / 1024 ** 2),
    sent: s.sent,
    acked: s.acked,
    heartbeats: {
      sentBefore: before.heartbeatsValid,
      stored: heartbeatsStored,
      sentAfter: s.heartbeatsValid,
    },
    events: { ackedBefore: before.acked.event, stored: eventsStored, ackedAfter: s.acked.event },
    lossFree:
      heartbeatsStored >= before.heartbeatsValid &&
      heartbeatsStored <= s.heartbeatsValid &&
      eventsStored >= before.acked.event,
    alertLatencyMs: latency,
    errors: s.errors,
    errorKinds: s.errorKinds,
    disconnects: {
      gateway: gatewayDelta(await gatewayDisconnects(gw.httpUrl, gw.token)),
      units: unitEnds(fleet),
    },
  }
  say(`city: ${JSON.stringify(city)}`)

  // The storm: every unit at once.
  const storm = await sampled(gw.pid, async () => {
    const cut = fleet.powerCut(1, { outageMs: 3000 })
    await waitFor(async () => fleet.stats().connected < args.devices / 10, 10_000, 'units to drop')
    const back = await waitConnected(fleet, args.devices, 60_000)
    return { cut, backMs: back === null ? null : back + 0, refusedConnects: fleet.stats().refusedConnects }
  })
  say(`storm: ${JSON.stringify(storm)}`)
  await fleet.stop()
  await gw.stop()
  return {
    city,
    storm: { ...storm.result, outageMs: 3000, peakCpuPct: storm.peakCpuPct, peakRssMiB: storm.peakRssMiB },
  }
}

async function memoryPerUnit(
  pid: number,
  fleet: () => Promise<Fleet>,
  n: number,
  started: (f: Fleet) => void = () => {},
): Promise<{ fleet: Fleet; perUnitKiB: number; connectMs: number | null }> {
  await sleep(2000)
  const before = rssBytes(pid)
  const f = await fleet()
  started(f)
  const connectMs = await waitConnected(f, n, 120_000)
  await sleep(10_000)
  const after = rssBytes(pid)
  return { fleet: f, perUnitKiB: Math.round(((after - before) / n / 1024) * 10) / 10, connectMs }
}

async function big(): Promise<Record<string, unknown>> {
  const n = args.big
  // Bare aedes first, with the same number of connections.
  const barePort = await freePort()
  const bare = spawnTs('bench/bare-broker.ts', { PORT: String(barePort) })
  await new Promise<void>((resolve) => bare.stdout?.once('data', () => resolve()))
  const secrets = new Map(
    Array.from({ length: n }, (_, i) => [`cam-${String(i + 1).padStart(5, '0')}`, 'x'] as const),
  )
  const bareRun = await memoryPerUnit(
    bare.pid as number,
    () =>
      startFleet({
        devices: n,
        mqttUrl: `mqtt://127.0.0.1:${barePort}`,
        secrets,
        heartbeatS: 10,
        eventRate: 0,
        connectRate: 2000,
        uploader: null,
        log: () => {},
      }),
    n,
  )
  await bareRun.fleet.stop()
  await stopChild(bare)
  say(`big: bare aedes ${bareRun.perUnitKiB} KiB per unit`)

  const gw = await startGateway('big', { DOORSTEP_CONNECT_RATE: '2000' })
  // Provision before measuring memory, so the registry's own growth is not counted as connections'.
  const credentialsDir = path.join(tmp, 'creds-big')
  const provision = await startFleet({
    devices: n,
    mqttUrl: gw.mqttUrl,
    httpUrl: gw.httpUrl,
    adminToken: gw.token,
    credentialsDir,
    heartbeatS: 10,
    eventRate: 0,
    connectRate: 1,
    uploader: null,
    log: () => {},
  })
  await provision.stop()
  await sleep(3000)
  // What the gateway counted before this fleet: the provisioning run's clean goodbyes.
  const gwBefore = await gatewayDisconnects(gw.httpUrl, gw.token)
  let live: Fleet | null = null
  const { result: run, rows: connectTimeline } = await timeline(
    () => live,
    gw,
    () =>
      memoryPerUnit(
        gw.pid,
        () =>
          startFleet({
            devices: n,
            mqttUrl: gw.mqttUrl,
            httpUrl: gw.httpUrl,
            adminToken: gw.token,
            credentialsDir,
            heartbeatS: 10,
            eventRate: 0,
            connectRate: 2000,
            uploader: null,
            log: () => {},
          }),
        n,
        (f) => {
          live = f
        },
      ),
  )
  say(`big: gateway ${run.perUnitKiB} KiB per unit; connected in ${run.connectMs} ms`)
  // Counted before one unit is stopped to make way for the latency marker that speaks as it.
  const connectedAll = run.fleet.stats().connected
  const gwAtCount = await gatewayDisconnects(gw.httpUrl, gw.token)
  const unitsAtCount = unitEnds(run.fleet)
  say(
    `big: ${connectedAll} connected when counted; dropped: units ${brief(unitsAtCount.sessionEnds)}, ` +
      `gateway ${brief(dropped(gatewayDelta(gwAtCount, gwBefore)))}`,
  )
  // The marker speaks as one of the fleet's units, with that unit's saved secret; the unit itself is stopped.
  const creds = JSON.parse(fs.readFileSync(run.fleet.credentialsFile as string, 'utf8')) as {
    devices: Record<string, string>
  }
  const markerId = `cam-${String(n).padStart(5, '0')}`
  const markerSecret = creds.devices[markerId]
  let latency: Awaited<ReturnType<StoredLatencyProbe['stop']>> | null = null
  const cpu0 = cpuMicros(gw.pid)
  const acked0 = totalAcked(run.fleet)
  if (markerSecret) {
    await run.fleet.unit(markerId)?.stop()
    const p = new StoredLatencyProbe({
      mqttUrl: gw.mqttUrl,
      id: markerId,
      secret: markerSecret,
      influxUrl: influxd.url as string,
      db: gw.db,
    })
    await p.start()
    await sleep(args['duration-s'] * 1000)
    latency = await p.stop()
  } else {
    await sleep(args['duration-s'] * 1000)
  }
  const cpu1 = cpuMicros(gw.pid)
  const messages = totalAcked(run.fleet) - acked0
  const sentBefore = run.fleet.stats().heartbeatsValid
  await sleep(3000)
  const stored = await influxCount(gw.db, 'SELECT count(uptime_s) FROM heartbeat WHERE uptime_s < 1000000000')
  const sentAfter = run.fleet.stats().heartbeatsValid
  const gwAtEnd = await gatewayDisconnects(gw.httpUrl, gw.token)
  const unitsAtEnd = unitEnds(run.fleet)
  const result = {
    units: n,
    connectMs: run.connectMs,
    connected: connectedAll,
    gatewayKiBPerUnit: run.perUnitKiB,
    bareAedesKiBPerUnit: bareRun.perUnitKiB,
    memoryRatio: Math.round((run.perUnitKiB / bareRun.perUnitKiB) * 100) / 100,
    heartbeatsPerS: Math.round(messages / args['duration-s']),
    gatewayCpuUsPerMsg: Math.round(((cpu1 - cpu0) / Math.max(1, messages)) * 10) / 10,
    heartbeats: { sentBefore, stored, sentAfter },
    lossFree: stored >= sentBefore && stored <= sentAfter,
    publishToStoredMs: latency,
    // Why connections ended: until the count above (the connect ramp and the 10 s after), then to the end.
    // The gateway's side counts every connection, refusals included; the marker's own connection
    // and the stopped unit it replaced are among the later ones.
    disconnects: {
      untilCounted: { gateway: gatewayDelta(gwAtCount, gwBefore), units: unitsAtCount },
      afterCounted: {
        gateway: gatewayDelta(gwAtEnd, gwAtCount),
        units: {
          sessionEnds: delta(unitsAtEnd.sessionEnds, unitsAtCount.sessionEnds),
          connectFailures: delta(unitsAtEnd.connectFailures, unitsAtCount.connectFailures),
        },
      },
      // [seconds since the fleet started, units connected, sessions units lost, gateway-side drops]
      timeline: connectTimeline,
    },
  }
  say(`big: ${JSON.stringify(result)}`)
  await run.fleet.stop()
  await gw.stop()
  return result
}

try {
  await influxd.start()
  const out: Record<string, unknown> = { args }
  if (args.scenario === 'all' || args.scenario === 'city' || args.scenario === 'storm')
    Object.assign(out, await cityAndStorm())
  if (args.scenario === 'all' || args.scenario === 'big') out.big = await big()
  const file = saveResults('fleet', out)
  say(`results: ${path.relative(ROOT, file)}`)
} finally {
  await influxd.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
}
