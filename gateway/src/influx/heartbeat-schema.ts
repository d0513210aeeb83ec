/**
 * Names and statements of the heartbeat series InfluxDB keeps: the raw
 * points, the five-minute downsample the device page's long charts read, and
 * the hourly one that outlives the raw points.
 */

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

/** Raw heartbeats (and anything written without an explicit RP): the database's default. */
export const RP_RAW = 'raw_30d'
export const RP_EVENTS = 'events_1y'
export const RP_HOURLY = 'hourly_1y'
/** Five-minute aggregates of the raw heartbeats, a little longer than the raw points they summarise. */
export const RP_FIVEMIN = 'fivemin_35d'
export const CQ_HEARTBEAT_HOURLY = 'cq_heartbeat_hourly'
export const CQ_HEARTBEAT_5M = 'cq_heartbeat_5m'
export const FIVEMIN_MEASUREMENT = 'heartbeat_5m'
/** When a downsample's CQ was first created: `since` (epoch ms), tagged with the CQ's name. */
export const MARK_MEASUREMENT = 'downsample_since'

export const FIVEMIN_MS = 5 * MIN
/**
 * The 5-minute CQ recomputes its last three buckets at every run (RESAMPLE FOR 15m), so a heartbeat
 * stored up to 15 minutes late still lands in its bucket; a bucket is final only after that.
 */
export const FIVEMIN_LAG_MS = 15 * MIN

export const RETENTION: ReadonlyArray<{ name: string; duration: string; ms: number; isDefault: boolean }> = [
  { name: RP_RAW, duration: '30d', ms: 30 * DAY, isDefault: true },
  { name: RP_EVENTS, duration: '52w', ms: 364 * DAY, isDefault: false },
  { name: RP_HOURLY, duration: '52w', ms: 364 * DAY, isDefault: false },
  { name: RP_FIVEMIN, duration: '35d', ms: 35 * DAY, isDefault: false },
]

/** Means over a bucket; uptime is a counter, so its max is the meaningful value. */
export const GAUGES = [
  'storage_free_mb',
  'storage_total_mb',
  'signal_dbm',
  'temperature_c',
  'battery_pct',
] as const
export type Gauge = (typeof GAUGES)[number]
export const RAW_FIELDS = ['uptime_s', ...GAUGES, 'recording', 'skew_ms'] as const

/**
 * What the 5-minute CQ keeps of each bucket: each gauge's mean (under its own name), min, max and
 * sum, uptime's max, and how many heartbeats (`samples`) the bucket holds. The sums let influxd merge
 * buckets into a chart's itself, exactly: a wider bucket's mean is its sum over its samples.
 */
export function fiveMinAggregates(): string {
  const gauges = GAUGES.map(
    (f) => `mean(${f}) AS ${f}, min(${f}) AS ${f}_min, max(${f}) AS ${f}_max, sum(${f}) AS ${f}_sum`,
  )
  return `${gauges.join(', ')}, ${CHART_TAIL}`
}

const CHART_TAIL = 'max(uptime_s) AS uptime_s, count(uptime_s) AS samples'

/** A chart bucket computed from the raw points: the gauges' means, uptime's max and `samples`. */
export function chartAggregates(): string {
  return `${GAUGES.map((f) => `mean(${f}) AS ${f}`).join(', ')}, ${CHART_TAIL}`
}

/**
 * The same chart bucket from the 5-minute downsample: a mean weighted by the samples of each 5-minute
 * bucket, as a mean over the raw heartbeats is.
 */
export function chartFromFiveMin(): string {
  const means = GAUGES.map((f) => `sum(${f}_sum) / sum(samples) AS ${f}`)
  return `${means.join(', ')}, max(uptime_s) AS uptime_s, sum(samples) AS samples`
}

/** Only provisioned tags group: a unit's own text (its model) is a field, never a series. */
export function heartbeatCqs(db: string): Array<{ name: string; statement: string }> {
  return [
    {
      name: CQ_HEARTBEAT_HOURLY,
      statement: `CREATE CONTINUOUS QUERY ${CQ_HEARTBEAT_HOURLY} ON ${db} BEGIN ${hourlySelect(db)} END`,
    },
    {
      name: CQ_HEARTBEAT_5M,
      statement: `CREATE CONTINUOUS QUERY ${CQ_HEARTBEAT_5M} ON ${db} RESAMPLE FOR ${FIVEMIN_LAG_MS / MIN}m BEGIN ${fiveMinSelect(db)} END`,
    },
  ]
}

/** The hourly CQ's query; with a `where`, the same query run once by hand (see fiveMinSelect). */
export function hourlySelect(db: string, where?: string): string {
  const means = GAUGES.map((f) => `mean(${f}) AS ${f}`).join(', ')
  return (
    `SELECT ${means}, ${CHART_TAIL} ` +
    `INTO ${db}.${RP_HOURLY}.heartbeat_hourly FROM ${db}.${RP_RAW}.heartbeat ` +
    `${where ? `WHERE ${where} ` : ''}GROUP BY time(1h), device, district`
  )
}

/**
 * Whether a heartbeat stamped `t` and written to InfluxDB at `writtenAt` came too late for a CQ
 * to put it in its bucket: the 5-minute CQ last recomputes a bucket 15 minutes after it begins
 * (10 after it ends), the hourly CQ an hour's bucket once, as the hour ends.
 */
export function missedByCqs(t: number, writtenAt: number): boolean {
  return writtenAt - t >= FIVEMIN_LAG_MS - FIVEMIN_MS || writtenAt >= Math.floor(t / HOUR) * HOUR + HOUR
}

/**
 * The 5-minute CQ's query; with a `where` (a time range) it is the same query run once by hand, which
 * fills the downsample for a range the CQ did not run over (tests, benches, a backfill).
 */
export function fiveMinSelect(db: string, where?: string): string {
  return (
    `SELECT ${fiveMinAggregates()} ` +
    `INTO ${db}.${RP_FIVEMIN}.${FIVEMIN_MEASUREMENT} FROM ${db}.${RP_RAW}.heartbeat ` +
    `${where ? `WHERE ${where} ` : ''}GROUP BY time(${FIVEMIN_MS / MIN}m), device, district`
  )
}
