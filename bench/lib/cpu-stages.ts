/**
 * Where a gateway's time goes, from V8 CPU profiles (`node --cpu-prof`): each
 * sample is charged to the ingest stage of the nearest frame, from the leaf up,
 * that belongs to one (a JSON.parse called from decode.ts is decode; zod's own
 * code is validate). Frames of Node itself (sockets, streams, timers) belong to
 * whoever called them. The profiler samples a thread's wall time while it runs
 * JavaScript or native code, not while it waits in the event loop: on the main
 * thread, which never blocks, that is its CPU time; on the spool's worker it
 * also counts the waits for fsync.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'

export const STAGES = [
  'broker',
  'decode',
  'validate',
  'enrich',
  'alerts',
  'batch',
  'write',
  'spool',
  'gc',
  'other',
] as const
export type Stage = (typeof STAGES)[number]

/** What each stage is, for the report. */
export const STAGE_NOTES: Record<Stage, string> = {
  broker: 'aedes and MQTT framing, auth and topic ACL hooks, PUBACK',
  decode: 'payload bytes to an object (ingest/decode.ts, JSON.parse)',
  validate: 'the wire schemas (proto/, zod)',
  enrich: "routing a message, the unit's registry row, clock skew, the event's index tuple",
  alerts: 'live alerts to the event bus',
  batch: 'line protocol and the batch buffers',
  write: 'HTTP writes to InfluxDB',
  spool: 'the group commit on the main thread (handing groups to the worker, telling appenders)',
  gc: 'V8 garbage collection',
  other: "Node's own code not called from the above (timers, the event loop), the profiler",
}

/** First match wins, tested against each frame from the leaf up; node internals match none. */
const RULES: Array<[Stage, RegExp]> = [
  ['validate', /\/node_modules\/zod\/|\/proto\/src\//],
  ['decode', /\/ingest\/decode\.ts/],
  ['batch', /\/ingest\/(line-buffer|points)\.ts|\/influx\/line-protocol\.ts/],
  ['write', /\/ingest\/batch-writer\.ts|\/influx\/(http-post|influx-store)\.ts|\/node_modules\/undici\//],
  ['spool', /\/ingest\/spool\.ts|\/node_modules\/better-sqlite3\//],
  ['alerts', /\/alerts\/|\/event-bus\.ts/],
  [
    'enrich',
    /\/ingest\/(ingest|clock-skew|hello-limit|invalid-tracker)\.ts|\/registry\/|\/presence\/|\/events\//,
  ],
  [
    'broker',
    /\/node_modules\/(aedes[^/]*|mqtt-packet|bl|mqemitter|fastparallel|fastseries|reusify)\/|\/mqtt\//,
  ],
]

const Profile = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  startTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
})

/**
 * A span of the monotonic clock, in µs: what \`process.hrtime.bigint() / 1000n\` reads in any process
 * of the machine, and the clock V8 stamps profile samples with (both CLOCK_MONOTONIC on Linux).
 */
export interface Window {
  fromUs: number
  toUs: number
}

/** Now on the clock profiles are stamped with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Microseconds of a profile by stage; `idle` apart (the thread waiting for work). */
export function stagesOfProfile(
  file: string,
  window: Window,
): {
  busyUs: number
  idleUs: number
  byStage: Record<Stage, number>
  /** Self time by function (`stage name file:line`), for the detailed report. */
  byFunction: Map<string, number>
} {
  const p = Profile.parse(JSON.parse(fs.readFileSync(file, 'utf8')))
  const parent = new Map<number, number>()
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const memo = new Map<number, Stage | 'idle'>()
  const stageOf = (id: number): Stage | 'idle' => {
    const known = memo.get(id)
    if (known) return known
    const leaf = byId.get(id)?.callFrame.functionName
    let s: Stage | 'idle' = 'other'
    if (leaf === '(idle)') s = 'idle'
    else if (leaf === '(garbage collector)') s = 'gc'
    else {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const url = byId.get(at)?.callFrame.url ?? ''
        const hit = url ? RULES.find(([, re]) => re.test(url)) : undefined
        if (hit) {
          s = hit[0]
          break
        }
      }
    }
    memo.set(id, s)
    return s
  }
  const byStage = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>
  let idleUs = 0
  const byFunction = new Map<string, number>()
  // A sample lasts until the next one: timeDeltas[i + 1] belongs to samples[i]. Only the measured
  // span counts: the rest is start-up (module loading, provisioning) and shutdown.
  let at = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0
    if (at < window.fromUs || at >= window.toUs) continue
    const us = p.timeDeltas[i + 1] ?? 0
    const s = stageOf(p.samples[i] as number)
    if (s === 'idle') idleUs += us
    else {
      byStage[s] += us
      const f = byId.get(p.samples[i] as number)?.callFrame
      const where = f?.url ? `${f.url.replace(/^.*\/(node_modules|gateway|proto)\//, '$1/')}` : ''
      const key = `${s.padEnd(9)}${f?.functionName || '(anonymous)'} ${where}`
      byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    }
  }
  const busyUs = STAGES.reduce((n, s) => n + byStage[s], 0)
  return { busyUs, idleUs, byStage, byFunction }
}

export interface StageReport {
  messages: number
  /** Main thread: busy µs per message, by stage. */
  mainUsPerMsg: Record<Stage, number>
  mainBusyUsPerMsg: number
  /** The spool's worker thread: busy µs per message (SQLite, its fsync waits included). */
  workerBusyUsPerMsg: number
  profiles: number
  /** The main thread's functions with the most self time: `[stage name file, µs per message]`. */
  topFunctions: Array<[string, number]>
}

/**
 * The profiles a gateway run wrote into `dir` (one per thread): the thread
 * with the most busy time is the main one; the others are workers.
 */
export function stageReport(dir: string, messages: number, window: Window): StageReport {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) throw new Error(`no CPU profile in ${dir}: did the gateway exit cleanly?`)
  const parsed = files.map((f) => stagesOfProfile(path.join(dir, f), window))
  // The main thread is the one whose time is mostly the broker's (workers never run aedes).
  parsed.sort((a, b) => b.byStage.broker - a.byStage.broker)
  const [main, ...workers] = parsed as [
    ReturnType<typeof stagesOfProfile>,
    ...ReturnType<typeof stagesOfProfile>[],
  ]
  const per = (us: number) => Math.round((us / Math.max(1, messages)) * 100) / 100
  return {
    messages,
    mainUsPerMsg: Object.fromEntries(STAGES.map((s) => [s, per(main.byStage[s])])) as Record<Stage, number>,
    mainBusyUsPerMsg: per(main.busyUs),
    workerBusyUsPerMsg: per(workers.reduce((n, w) => n + w.busyUs, 0)),
    profiles: files.length,
    topFunctions: [...main.byFunction]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 30)
      .map(([k, us]) => [k, per(us)]),
  }
}
