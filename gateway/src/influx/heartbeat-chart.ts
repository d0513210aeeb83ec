import { FIVEMIN_LAG_MS, FIVEMIN_MS, GAUGES } from './heartbeat-schema.js'

/**
 * Which series a unit's heartbeat chart reads, and how the parts it read
 * are joined. Pure functions: the store runs the queries.
 */

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** Up to this range, heartbeats come back as written. */
export const RAW_RANGE_MS = 6 * HOUR
export const RAW_MS = 30 * DAY
const MAX_POINTS = 500
/** Bucket widths a chart axis reads well; the smallest that keeps a range under MAX_POINTS is used. */
const STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((min) => min * 60_000)

export type ChartRow = Record<string, number | string | boolean | null>

export type ChartPlan =
  /** Heartbeats as written. */
  | { kind: 'points' }
  /** Buckets of the hourly downsample: the range reaches past the raw points' retention. */
  | { kind: 'hourly'; step: number }
  /** Buckets computed from the raw points. */
  | { kind: 'raw'; step: number }
  /**
   * Raw buckets for [from, a) (before the downsample existed, or the partial first bucket), the
   * 5-minute downsample merged into buckets for [a, b), raw buckets again for [b, to] (the part the CQ
   * may not have finished yet).
   */
  | { kind: 'split'; step: number; a: number; b: number }

/**
 * `since` is when the 5-minute CQ was first created (null when not known): nothing before it was
 * downsampled. Every bucket boundary is a multiple of `step` since the epoch, as influxd's GROUP BY
 * time() aligns them, so the three parts of a split meet on bucket edges.
 */
export function planChart(from: number, to: number, now: number, since: number | null): ChartPlan {
  const hourly = from < now - RAW_MS
  if (!hourly && to - from <= RAW_RANGE_MS) return { kind: 'points' }
  if (hourly) return { kind: 'hourly', step: bucketMs(to - from, HOUR) }
  const step = bucketMs(to - from, 0)
  // Finer chart buckets than the downsample's cannot be made from it.
  if (since === null || step < FIVEMIN_MS || step % FIVEMIN_MS !== 0) return { kind: 'raw', step }
  const a = Math.ceil(Math.max(from, since) / step) * step
  const b = Math.floor(Math.min(to, now - FIVEMIN_LAG_MS) / step) * step
  if (a >= b) return { kind: 'raw', step }
  return { kind: 'split', step, a, b }
}

export function bucketMs(rangeMs: number, minMs: number): number {
  // n buckets aligned to the epoch can touch n + 1 of them, hence MAX_POINTS - 1.
  const want = Math.max(minMs, Math.ceil(rangeMs / (MAX_POINTS - 1)))
  return STEPS_MS.find((s) => s >= want) ?? Math.ceil(want / DAY) * DAY
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** A bucket without heartbeats, as influxd's GROUP BY time() fills one: nulls, and a count of 0. */
function emptyRow(time: number): ChartRow {
  const out: ChartRow = { time }
  for (const f of GAUGES) out[f] = null
  out.uptime_s = null
  out.samples = 0
  return out
}

/**
 * The parts of a split joined into every bucket of [from, to], as one query over the whole range
 * would give them: influxd fills a range's empty buckets only when the unit has a heartbeat somewhere
 * in it, so a part without any comes back without rows, and a range without any gives none at all.
 */
export function joinParts(parts: ChartRow[][], from: number, to: number, step: number): ChartRow[] {
  const byTime = new Map<number, ChartRow>()
  let any = false
  for (const rows of parts) {
    for (const row of rows) {
      const t = num(row.time)
      if (t === null) continue
      // sum() of an empty bucket is null where the raw path's count() is 0.
      const samples = num(row.samples) ?? 0
      byTime.set(t, { ...row, samples })
      if (samples > 0) any = true
    }
  }
  if (!any) return []
  const out: ChartRow[] = []
  for (let t = Math.floor(from / step) * step; t <= to; t += step) out.push(byTime.get(t) ?? emptyRow(t))
  return out
}
