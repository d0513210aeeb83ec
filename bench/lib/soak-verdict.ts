import { slope } from './slope.js'
import type { Sample } from './soak-sample.js'

/** The limits a soak is held to (issue: memory and handles flat, a responsive loop, nothing lost). */
export const LIMITS = {
  /** MiB per minute, over the last half of the run. */
  memorySlopeMiBPerMin: 0.1,
  /** Descriptors per minute over the last half: "flat" allows the odd upload's socket. */
  fdSlopePerMin: 1,
  lagP99Ms: 50,
} as const

/** Per-minute slopes over the last half of the run, the warm-up left out. */
export type Slopes = Record<
  | 'rssMiB'
  | 'rssAnonMiB'
  | 'rssFileMiB'
  | 'rssShmemMiB'
  | 'heapUsedMiB'
  | 'heapTotalMiB'
  | 'heapAfterGcMiB'
  | 'externalMiB'
  | 'fds'
  | 'influxdRssMiB'
  | 'spoolBytes'
  | 'dataDirMiB'
  | 'dbMiB'
  | 'lagP99Ms',
  number
>

export interface Check {
  name: string
  value: number
  limit: string
  pass: boolean
}

export interface SoakSummary {
  minutes: number
  samples: number
  lastHalfFrom: number
  slopes: Slopes
  lagP99MaxMs: number
  lagP99MedianMs: number
  unitsLost: number
  minUnitsOnline: number
  errorLines: number
  warnLines: number
  alertsDelivered: number
  clipsExpired: number
  clipsEvicted: number
  eventsRemoved: number
  casesExported: number
  first: Sample | null
  last: Sample | null
  checks: Check[]
  pass: boolean
}

const r3 = (n: number) => Math.round(n * 1000) / 1000

export function summariseSoak(
  samples: readonly Sample[],
  o: { devices: number; minutes: number; casesExported: number },
): SoakSummary {
  const first = samples[0] ?? null
  const last = samples.at(-1) ?? null
  const end = last?.t ?? 0
  const half = samples.filter((s) => s.t >= end / 2)
  const per = (k: keyof Slopes) =>
    r3(
      slope(
        half
          .filter((s) => typeof s[k] === 'number' && Number.isFinite(s[k]))
          .map((s) => [s.t, s[k] as number] as const),
      ),
    )
  // The live heap changes only at a full GC (a few a minute under load, fewer with a large young
  // generation): one point per collection, or every sample if there were too few to fit a line.
  const gcPoints = half.filter(
    (s, i) => s.heapAfterGcMiB !== null && (i === 0 || s.majorGcs !== half[i - 1]?.majorGcs),
  )
  const liveHeap =
    gcPoints.length >= 3
      ? r3(slope(gcPoints.map((s) => [s.t, s.heapAfterGcMiB as number] as const)))
      : per('heapAfterGcMiB')
  const slopes: Slopes = {
    rssMiB: per('rssMiB'),
    rssAnonMiB: per('rssAnonMiB'),
    rssFileMiB: per('rssFileMiB'),
    rssShmemMiB: per('rssShmemMiB'),
    heapUsedMiB: per('heapUsedMiB'),
    heapTotalMiB: per('heapTotalMiB'),
    heapAfterGcMiB: liveHeap,
    externalMiB: per('externalMiB'),
    fds: per('fds'),
    influxdRssMiB: per('influxdRssMiB'),
    spoolBytes: per('spoolBytes'),
    dataDirMiB: per('dataDirMiB'),
    dbMiB: per('dbMiB'),
    lagP99Ms: per('lagP99Ms'),
  }
  const lags = samples.map((s) => s.lagP99Ms).sort((a, b) => a - b)
  const lagP99MaxMs = lags.at(-1) ?? Number.NaN
  const lagP99MedianMs = lags[lags.length >> 1] ?? Number.NaN
  const minUnitsOnline = Math.min(...samples.map((s) => s.unitsOnline))
  const unitsLost = o.devices - (last?.unitsOnline ?? 0)
  const errorLines = last?.errorLines ?? 0
  const mem = LIMITS.memorySlopeMiBPerMin
  const checks: Check[] = [
    { name: 'RSS slope, MiB/min', value: slopes.rssMiB, limit: `< ${mem}`, pass: slopes.rssMiB < mem },
    {
      name: 'heap used slope, MiB/min',
      value: slopes.heapUsedMiB,
      limit: `< ${mem}`,
      pass: slopes.heapUsedMiB < mem,
    },
    {
      name: 'live heap (after GC) slope, MiB/min',
      value: slopes.heapAfterGcMiB,
      limit: `< ${mem}`,
      pass: slopes.heapAfterGcMiB < mem,
    },
    {
      name: 'external slope, MiB/min',
      value: slopes.externalMiB,
      limit: `< ${mem}`,
      pass: slopes.externalMiB < mem,
    },
    {
      name: 'fds slope, per min',
      value: slopes.fds,
      limit: `|x| < ${LIMITS.fdSlopePerMin}`,
      pass: Math.abs(slopes.fds) < LIMITS.fdSlopePerMin,
    },
    {
      name: 'event-loop lag p99, worst 10 s, ms',
      value: lagP99MaxMs,
      limit: `< ${LIMITS.lagP99Ms}`,
      pass: lagP99MaxMs < LIMITS.lagP99Ms,
    },
    { name: 'units lost', value: unitsLost, limit: '= 0', pass: unitsLost === 0 },
    { name: 'error lines logged', value: errorLines, limit: '= 0', pass: errorLines === 0 },
    // The run did what it is for: retention, eviction and cases happened while it was measured.
    {
      name: 'clips expired by age',
      value: last?.clipsExpired ?? 0,
      limit: '> 0',
      pass: (last?.clipsExpired ?? 0) > 0,
    },
    {
      name: 'clips evicted for room',
      value: last?.clipsEvicted ?? 0,
      limit: '> 0',
      pass: (last?.clipsEvicted ?? 0) > 0,
    },
    {
      name: 'events removed by age',
      value: last?.eventsRemoved ?? 0,
      limit: '> 0',
      pass: (last?.eventsRemoved ?? 0) > 0,
    },
    { name: 'cases exported', value: o.casesExported, limit: '> 0', pass: o.casesExported > 0 },
  ]
  return {
    minutes: o.minutes,
    samples: samples.length,
    lastHalfFrom: r3(end / 2),
    slopes,
    lagP99MaxMs,
    lagP99MedianMs,
    unitsLost,
    minUnitsOnline,
    errorLines,
    warnLines: last?.warnLines ?? 0,
    alertsDelivered: last?.alertsDelivered ?? 0,
    clipsExpired: last?.clipsExpired ?? 0,
    clipsEvicted: last?.clipsEvicted ?? 0,
    eventsRemoved: last?.eventsRemoved ?? 0,
    casesExported: o.casesExported,
    first,
    last,
    checks,
    pass: checks.every((c) => c.pass),
  }
}

/** The report as lines of text, for the terminal and the results file. */
export function reportLines(s: SoakSummary): string[] {
  const out = [
    `soak: ${s.minutes} min, ${s.samples} samples; slopes over the last half (from minute ${s.lastHalfFrom}), per minute:`,
  ]
  for (const [k, v] of Object.entries(s.slopes)) out.push(`  ${k.padEnd(16)} ${v}`)
  if (s.first && s.last)
    out.push(
      `first → last: RSS ${s.first.rssMiB} → ${s.last.rssMiB} MiB, heap used ${s.first.heapUsedMiB} → ${s.last.heapUsedMiB}, ` +
        `heap total ${s.first.heapTotalMiB} → ${s.last.heapTotalMiB}, live heap ${s.first.heapAfterGcMiB} → ${s.last.heapAfterGcMiB}, ` +
        `external ${s.first.externalMiB} → ${s.last.externalMiB}, fds ${s.first.fds} → ${s.last.fds}, influxd ${s.first.influxdRssMiB} → ${s.last.influxdRssMiB} MiB, ` +
        `data dir ${s.first.dataDirMiB} → ${s.last.dataDirMiB} MiB`,
    )
  out.push(
    `lag p99 median ${s.lagP99MedianMs} ms, worst ${s.lagP99MaxMs} ms; units online at least ${s.minUnitsOnline}, lost ${s.unitsLost}; ` +
      `alerts ${s.alertsDelivered}; clips expired ${s.clipsExpired}, evicted ${s.clipsEvicted}; events removed ${s.eventsRemoved}; ` +
      `cases exported ${s.casesExported}; log lines warn ${s.warnLines}, error ${s.errorLines}`,
  )
  out.push('verdict:')
  for (const c of s.checks)
    out.push(`  ${c.pass ? 'pass' : 'FAIL'}  ${c.name}: ${c.value} (limit ${c.limit})`)
  out.push(s.pass ? 'verdict: PASS' : 'verdict: FAIL')
  return out
}
