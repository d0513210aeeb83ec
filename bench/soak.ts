/**
 * bench:soak — the city for `--minutes` with memory, handles and the event
 * loop watched: does the gateway creep?
 *
 * The gateway runs as its own process (its own data dir in a temp dir, its own
 * managed influxd, as `npm start` runs it) and the simulated city in another:
 * `--devices` units, events at `--event-rate` times the normal rate, every
 * event's clip uploaded. This process watches the alert feed over a WebSocket,
 * opens a case every `--case-every-min` minutes, exports it and closes it,
 * and samples every 10 s: the gateway's RSS, V8 heap used and reserved, the
 * live heap after a full GC, external memory, open descriptors, event-loop
 * lag p99, influxd's RSS, spool bytes, the data dir's size, units online,
 * alerts delivered, and the warn and error lines the gateway logged. Clip
 * retention is shrunk to seconds, event retention to minutes, and the clips
 * given a room smaller than the four clips the city uploads, so retention,
 * eviction and the event index's retention all run during the run.
 *
 *   npm run bench:soak [-- --minutes 60 --devices 2896 --event-rate 10 --heap-diff yes]
 *
 * The report: each figure's least-squares slope over the last half of the
 * run and a verdict against the limits (lib/soak-verdict.ts). `--heap-diff
 * yes` takes heap snapshots at half time and at the end and prints which
 * constructors grew (each snapshot stops the gateway for seconds: the lag
 * figures of such a run are not its own). Writes bench/results/soak-<time>.json
 * and a row in bench/README.md.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ensureClips, observeAlerts } from '@doorstep/device-sim'
import { z } from 'zod'
import { benchArgs } from './lib/args.js'
import { spawnTs, stopChild } from './lib/children.js'
import { startGatewayProcess } from './lib/gateway-process.js'
import { growth, growthTable, summarise, takeSnapshot } from './lib/heap-snapshot.js'
import { mappingGrowth, rssByMapping } from './lib/proc.js'
import { scrape } from './lib/prom.js'
import { saveResults } from './lib/results.js'
import { childPid, type Sample, takeSample } from './lib/soak-sample.js'
import { reportLines, summariseSoak } from './lib/soak-verdict.js'

const Args = z.object({
  minutes: z.coerce
    .number()
    .min(1)
    .max(24 * 60)
    .default(60),
  devices: z.coerce.number().int().min(10).max(19_000).default(2896),
  'event-rate': z.coerce.number().min(0).max(1000).default(10),
  'sample-s': z.coerce.number().int().min(1).max(600).default(10),
  'case-every-min': z.coerce.number().min(0.5).max(60).default(3),
  'heap-diff': z.enum(['yes', 'no']).default('no'),
})
const args = benchArgs('soak', Args)
const say = (s: string) => process.stdout.write(`${s}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const DAY_MIN = 1440

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'doorstep-soak-'))
const snapshotDir = path.join(tmp, 'heap')
fs.mkdirSync(snapshotDir)

// The four clips the city's units upload (content-addressed: four files however many events). Their
// room is sized so that all four fill it past the watermark: every sweep then evicts.
const clips = await ensureClips({})
const clipBytes = clips.reduce((n, c) => n + c.bytes, 0)
const room = Math.floor(clipBytes / 0.9)
say(`soak: ${clips.length} clips, ${clipBytes} bytes; clip room ${room} bytes; temp ${tmp}`)

const gw = await startGatewayProcess({
  name: 'soak',
  dataRoot: tmp,
  env: {
    // Every simulated unit connects from 127.0.0.1, where a real fleet has an address per home.
    DOORSTEP_CONNECT_RATE_PER_ADDRESS: '1000000',
    // Shorter than the sweep interval, so clips expire by age at any hour. The four clips are
    // content-addressed: evicting a reference frees no bytes until the last one goes, so each sweep's
    // eviction takes nearly every ready clip. With a retention of minutes only clips that were already
    // that old when they became ready ever expired, which happens by day when uploads queue and not in
    // the city's night (2 minutes: a two-hour run from 01:37 at UTC+8 expired none).
    DOORSTEP_CLIP_RETENTION_DAYS: String(0.25 / DAY_MIN),
    DOORSTEP_CLIP_SWEEP_INTERVAL_S: '30',
    DOORSTEP_CLIP_DISK_BYTES: String(room),
    DOORSTEP_EVENT_RETENTION_DAYS: String(5 / DAY_MIN),
    DOORSTEP_EVENT_SWEEP_INTERVAL_S: '60',
  },
  nodeFlags: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`],
  logs: 'read',
})

// The gateway's log lines (JSON, pino levels: 40 warn, 50 error, 60 fatal), counted and the first kept.
const logged = { warn: 0, error: 0 }
const firstLines: string[] = []
let partial = ''
gw.child.stdout?.on('data', (d: Buffer) => {
  const lines = (partial + d.toString('utf8')).split('\n')
  partial = lines.pop() ?? ''
  for (const line of lines) {
    const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0)
    if (level >= 50) logged.error++
    else if (level >= 40) logged.warn++
    else continue
    if (firstLines.length < 50) firstLines.push(line.slice(0, 600))
  }
})
let gatewayExited: string | null = null
gw.child.once('exit', (code, signal) => {
  gatewayExited = `${code ?? signal}`
})

const simReport = path.join(tmp, 'sim-report.json')
const sim = spawnTs(
  'device-sim/src/main.ts',
  { DOORSTEP_ADMIN_TOKEN: gw.token },
  [],
  [
    '--devices',
    String(args.devices),
    '--gateway',
    gw.mqttUrl,
    '--http',
    gw.httpUrl,
    '--event-rate',
    String(args['event-rate']),
    '--connect-rate',
    '1000',
    '--upload-on-end',
    '--no-alerts',
    '--credentials-dir',
    path.join(tmp, 'sim-credentials'),
    '--report-file',
    simReport,
  ],
)
const simLines: string[] = []
sim.stderr?.on('data', (d: Buffer) => {
  for (const l of d.toString('utf8').split('\n')) if (l.trim()) simLines.push(l.slice(0, 300))
  if (simLines.length > 40) simLines.splice(0, simLines.length - 40)
})
sim.stdout?.resume()

const online = async () => (await scrape(gw.httpUrl, gw.token)).get('doorstep_units{state="online"}') ?? 0
const readyBy = performance.now() + 300_000
while ((await online()) < args.devices) {
  if (performance.now() > readyBy || sim.exitCode !== null) {
    say(`soak: the city did not come online:\n${simLines.join('\n')}`)
    await stopChild(sim)
    await gw.stop()
    process.exit(1)
  }
  await sleep(1000)
}
say(`soak: ${args.devices} units online; measuring for ${args.minutes} min`)

const observer = await observeAlerts(gw.httpUrl, gw.token, {})
const influxdPid = childPid(gw.pid, 'influxd')
const t0 = performance.now()
const endAt = t0 + args.minutes * 60_000
const samples: Sample[] = []
const cases: Array<Record<string, unknown>> = []
const snapshots: string[] = []
// Resident bytes per mapping at half time and at the end: which kind of memory the RSS slope is made of.
// Files are named by their base name only (the data dir is a temp dir).
const mappings = (): Map<string, number> => {
  const out = new Map<string, number>()
  for (const [name, bytes] of rssByMapping(gw.pid)) {
    const key = name.startsWith('/') ? path.basename(name.replace(/ \(deleted\)$/, '')) : name
    out.set(key, (out.get(key) ?? 0) + bytes)
  }
  return out
}
let halfMappings: Map<string, number> | null = null
let endMappings: Map<string, number> | null = null

async function caseRound(k: number): Promise<void> {
  const now = Date.now()
  const h = { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' }
  const t = performance.now()
  const row: Record<string, unknown> = { k, atMin: Math.round(((t - t0) / 60_000) * 100) / 100 }
  try {
    const created = await fetch(`${gw.httpUrl}/api/v1/cases`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({
        number: `SOAK-${now}-${k}`,
        reason: 'soak: a case opened, exported and closed during the run',
        from: now - 5 * 60_000,
        to: now,
        area: { kind: 'district', district: (k % 61) + 1 },
      }),
    })
    row.createStatus = created.status
    const c = (await created.json()) as { case?: { id?: string }; events?: unknown[]; holds?: unknown[] }
    row.events = Array.isArray(c.events) ? c.events.length : null
    row.holds = Array.isArray(c.holds) ? c.holds.length : null
    const id = c.case?.id
    if (!id) return
    const exp = await fetch(`${gw.httpUrl}/api/v1/cases/${id}/export`, { headers: h })
    row.exportStatus = exp.status
    row.exportBytes = (await exp.arrayBuffer()).byteLength
    // No body, so no content type: Fastify refuses an empty JSON body.
    const closed = await fetch(`${gw.httpUrl}/api/v1/cases/${id}/close`, {
      method: 'POST',
      headers: { authorization: h.authorization },
    })
    row.closeStatus = closed.status
  } catch (err) {
    row.error = (err as Error).message
  } finally {
    row.ms = Math.round(performance.now() - t)
    cases.push(row)
    say(`soak: case ${JSON.stringify(row)}`)
  }
}

let nextCase = t0 + args['case-every-min'] * 60_000
let caseK = 0
let halfSnapshot = args['heap-diff'] === 'yes'
while (performance.now() < endAt && gatewayExited === null) {
  const tick = performance.now()
  try {
    const s = await takeSample({
      gatewayPid: gw.pid,
      influxdPid,
      httpUrl: gw.httpUrl,
      token: gw.token,
      dataDir: gw.dataDir,
      t0,
      alerts: () => observer.counts().alerts,
      logLines: () => logged,
    })
    samples.push(s)
    say(
      `soak: t=${s.t.toFixed(1)} min rss ${s.rssMiB} (anon ${s.rssAnonMiB} file ${s.rssFileMiB} shmem ${s.rssShmemMiB}) heap ${s.heapUsedMiB}/${s.heapTotalMiB} live ${s.heapAfterGcMiB} ext ${s.externalMiB} MiB, ` +
        `fds ${s.fds}, lag p99 ${s.lagP99Ms} ms, influxd ${s.influxdRssMiB} MiB, spool ${s.spoolBytes} B, data ${s.dataDirMiB} MiB (db ${s.dbMiB}), ` +
        `online ${s.unitsOnline}, alerts ${s.alertsDelivered}, warn ${s.warnLines} error ${s.errorLines}, ` +
        `clips expired ${s.clipsExpired} evicted ${s.clipsEvicted}, events removed ${s.eventsRemoved}`,
    )
  } catch (err) {
    say(`soak: sample failed: ${(err as Error).message}`)
  }
  if (performance.now() >= nextCase) {
    nextCase += args['case-every-min'] * 60_000
    await caseRound(caseK++)
  }
  if (halfMappings === null && performance.now() >= t0 + (endAt - t0) / 2) halfMappings = mappings()
  if (halfSnapshot && performance.now() >= t0 + (endAt - t0) / 2) {
    halfSnapshot = false
    snapshots.push(await takeSnapshot(gw.pid, snapshotDir))
    say(`soak: heap snapshot ${snapshots.at(-1)}`)
  }
  await sleep(Math.max(0, tick + args['sample-s'] * 1000 - performance.now()))
}
if (gatewayExited === null) endMappings = mappings()
if (args['heap-diff'] === 'yes' && gatewayExited === null) {
  snapshots.push(await takeSnapshot(gw.pid, snapshotDir))
  say(`soak: heap snapshot ${snapshots.at(-1)}`)
}

observer.close()
await stopChild(sim, 60_000)
let simSummary: unknown = null
try {
  const r = JSON.parse(fs.readFileSync(simReport, 'utf8')) as Record<string, unknown>
  const keys = [
    'connectedAtEnd',
    'totals',
    'disconnects',
    'sessionEnds',
    'connectFailures',
    'errors',
    'errorKinds',
  ]
  simSummary = Object.fromEntries(
    [...keys, 'events', 'clips', 'clipBytes', 'uploadFailures', 'refusedConnects'].map((k) => [k, r[k]]),
  )
} catch {
  simSummary = { missing: true, lastLines: simLines.slice(-10) }
}
// Said before the gateway is stopped, which ends it too.
const exitedEarly = gatewayExited
await gw.stop()

const summary = summariseSoak(samples, {
  devices: args.devices,
  minutes: args.minutes,
  casesExported: cases.filter((c) => c.exportStatus === 200).length,
})
const lines = reportLines(summary)
if (exitedEarly !== null) lines.unshift(`soak: THE GATEWAY EXITED (${exitedEarly}) during the run`)
let heapGrowth: string | null = null
if (snapshots.length === 2) {
  heapGrowth = growthTable(growth(summarise(snapshots[0] as string), summarise(snapshots[1] as string)))
  lines.push('what grew between the heap snapshots (half time → end):', heapGrowth)
}
const rssGrowth = halfMappings && endMappings ? mappingGrowth(halfMappings, endMappings) : null
if (rssGrowth) {
  lines.push('what RSS grew in between half time and the end, by mapping (MiB):')
  for (const g of rssGrowth)
    lines.push(
      `  ${g.mapping.padEnd(28)} ${g.beforeMiB} → ${g.afterMiB} (${g.deltaMiB > 0 ? '+' : ''}${g.deltaMiB})`,
    )
}
for (const l of lines) say(l)
const load = fs.readFileSync('/proc/loadavg', 'utf8').trim()
const file = saveResults('soak', {
  args,
  load,
  gatewayNodeFlags: ['(GATEWAY_NODE_FLAGS)', '--heapsnapshot-signal=SIGUSR2'],
  setup: {
    clipRoomBytes: room,
    clipRetentionMin: 2,
    clipSweepS: 30,
    eventRetentionMin: 5,
    eventSweepS: 60,
  },
  summary,
  report: lines,
  cases,
  sim: simSummary,
  loggedLines: firstLines,
  heapGrowth,
  rssGrowth,
  samples,
})
say(`soak: results in ${file}; load average ${load}`)
fs.rmSync(tmp, { recursive: true, force: true })
process.exit(summary.pass ? 0 : 1)
