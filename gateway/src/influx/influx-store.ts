import { escape as influxEscape } from 'influx'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import { type PostResult, postBody } from './http-post.js'

/** Raw heartbeats (and anything written without an explicit RP): the database's default. */
export const RP_RAW = 'raw_30d'
export const RP_EVENTS = 'events_1y'
export const RP_HOURLY = 'hourly_1y'
export const CQ_HEARTBEAT_HOURLY = 'cq_heartbeat_hourly'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const RETENTION: ReadonlyArray<{ name: string; duration: string; ms: number; isDefault: boolean }> = [
  { name: RP_RAW, duration: '30d', ms: 30 * DAY, isDefault: true },
  { name: RP_EVENTS, duration: '52w', ms: 364 * DAY, isDefault: false },
  { name: RP_HOURLY, duration: '52w', ms: 364 * DAY, isDefault: false },
]
const RAW_MS = 30 * DAY
/** Up to this range, heartbeats come back as written. */
const RAW_RANGE_MS = 6 * HOUR
const MAX_POINTS = 500
/** Bucket widths a chart axis reads well; the smallest that keeps a range under MAX_POINTS is used. */
const STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((min) => min * 60_000)

/** Means over a bucket; uptime is a counter, so its max is the meaningful value. */
const GAUGES = ['storage_free_mb', 'storage_total_mb', 'signal_dbm', 'temperature_c', 'battery_pct'] as const
const RAW_FIELDS = ['uptime_s', ...GAUGES, 'recording', 'skew_ms'] as const

type HeartbeatRow = Record<string, number | string | boolean | null>

interface QueryResponse {
  results?: Array<{
    error?: string
    series?: Array<{ name?: string; tags?: Record<string, string>; columns: string[]; values?: unknown[][] }>
  }>
  error?: string
}

/**
 * The gateway's one door to InfluxDB 1.x, over its HTTP API. Writes go
 * through node:http on a keep-alive agent (`http-post.ts`: fetch would copy
 * each batch's Buffer); queries and the ping use global fetch. Queries bind
 * values with influxd's own `params`, so no value is ever spliced into InfluxQL.
 */
export class InfluxStore {
  readonly #url: string
  readonly #db: string
  readonly #log: Logger
  readonly #writeBase: string
  #inFlight = 0
  #maxInFlight = 0
  #refused = 0

  constructor(opts: { url: string; db: string; log: Logger }) {
    this.#url = opts.url.replace(/\/+$/, '')
    this.#db = opts.db
    this.#log = opts.log
    // Lines carry nanosecond timestamps: ingest adds sub-millisecond digits so that two points of one
    // series in the same millisecond do not overwrite each other (see ingest/points.ts).
    this.#writeBase = `${this.#url}/write?db=${encodeURIComponent(opts.db)}&precision=ns`
  }

  get db(): string {
    return this.#db
  }

  /** Writes running now; the bench checks the writer keeps this small. */
  get inFlight(): number {
    return this.#inFlight
  }

  get maxInFlight(): number {
    return this.#maxInFlight
  }

  /** Points influxd dropped from partial writes (type conflict, outside the RP, unparseable) so far. */
  get refused(): number {
    return this.#refused
  }

  /** Database, retention policies and the hourly downsample. Safe to run at every start. */
  async ensureSchema(): Promise<void> {
    const db = quoted(this.#db)
    await this.#post(`CREATE DATABASE ${db}`)
    const existing = await this.query<{ name: string; duration: string; default: boolean }>(
      `SHOW RETENTION POLICIES ON ${db}`,
    )
    for (const rp of RETENTION) {
      const have = existing.find((r) => r.name === rp.name)
      const def = rp.isDefault ? ' DEFAULT' : ''
      if (!have) {
        await this.#post(
          `CREATE RETENTION POLICY ${quoted(rp.name)} ON ${db} DURATION ${rp.duration} REPLICATION 1${def}`,
        )
      } else if (goDurationMs(have.duration) !== rp.ms || (rp.isDefault && !have.default)) {
        await this.#post(`ALTER RETENTION POLICY ${quoted(rp.name)} ON ${db} DURATION ${rp.duration}${def}`)
      }
    }
    // 1.6 has no CREATE CONTINUOUS QUERY ... IF NOT EXISTS; a changed definition needs a DROP by hand.
    // One made before `model` left the tags still groups by it too: harmless, since newer points have
    // no `model` tag and group under an empty one, the same series as this definition's.
    if (await this.#hasCq(CQ_HEARTBEAT_HOURLY)) return
    try {
      await this.#post(this.#heartbeatCq())
    } catch (err) {
      // Another gateway on the same database may have won the race.
      if (!/already exists/.test((err as Error).message)) throw err
    }
  }

  /** SHOW CONTINUOUS QUERIES lists every database, one series each, named after it. */
  async #hasCq(name: string): Promise<boolean> {
    const body = await this.#post('SHOW CONTINUOUS QUERIES')
    const series = body.results?.[0]?.series?.find((s) => s.name === this.#db)
    const col = series?.columns.indexOf('name') ?? -1
    return (series?.values ?? []).some((v) => v[col] === name)
  }

  #heartbeatCq(): string {
    const db = quoted(this.#db)
    const means = GAUGES.map((f) => `mean(${f}) AS ${f}`).join(', ')
    return (
      `CREATE CONTINUOUS QUERY ${quoted(CQ_HEARTBEAT_HOURLY)} ON ${db} BEGIN ` +
      `SELECT ${means}, max(uptime_s) AS uptime_s, count(uptime_s) AS samples ` +
      `INTO ${db}.${quoted(RP_HOURLY)}.heartbeat_hourly FROM ${db}.${quoted(RP_RAW)}.heartbeat ` +
      'GROUP BY time(1h), device, district END'
    )
  }

  /**
   * One batch of line protocol, timestamps in nanoseconds (`precision=ns`;
   * queries answer in epoch ms). A partial write (a field
   * type conflict, points outside the RP, an unparseable line) is logged and
   * counted as done: influxd kept the rest, and retrying cannot change its
   * mind about the dropped ones; `refused` counts them. Retrying anything
   * else is safe: a point written twice overwrites itself.
   */
  async writeLines(body: string | Buffer, rp?: string): Promise<void> {
    if (body.length === 0) return
    const url = rp ? `${this.#writeBase}&rp=${encodeURIComponent(rp)}` : this.#writeBase
    this.#inFlight++
    if (this.#inFlight > this.#maxInFlight) this.#maxInFlight = this.#inFlight
    try {
      let res: PostResult
      try {
        res = await postBody(url, body, 30_000)
      } catch (err) {
        throw unavailable(`write to ${this.#url} failed: ${reasonOf(err)}`, err)
      }
      if (res.status >= 200 && res.status < 300) return
      const msg = errorMessage(res.text)
      if (res.status >= 500) throw unavailable(`write answered ${res.status}: ${msg}`)
      // Until ensureSchema has run (influxd was down at start), the database may not exist yet.
      if (res.status === 404 && msg.includes('database not found')) throw unavailable(msg)
      if (res.status === 400 && msg.startsWith('partial write')) {
        const refused = refusedCount(msg)
        this.#refused += refused
        this.#log.warn({ refused, reason: msg.slice(0, 500) }, 'InfluxDB dropped points from a write')
        return
      }
      throw new DoorstepError(
        'DOORSTEP_ERR_INFLUX_REJECTED',
        `InfluxDB refused a write (${res.status}): ${msg}`,
      )
    } finally {
      this.#inFlight--
    }
  }

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${this.#url}/ping`, { signal: AbortSignal.timeout(1000) })
      await res.body?.cancel()
      return res.status === 204
    } catch {
      return false
    }
  }

  /**
   * Rows of every series, tags merged in, `time` in epoch ms. `$name`
   * placeholders are bound by influxd. T is the caller's claim about the columns.
   */
  async query<T = Record<string, unknown>>(
    influxql: string,
    params?: Record<string, string | number>,
  ): Promise<T[]> {
    const body = await this.#post(influxql, params)
    const rows: T[] = []
    for (const result of body.results ?? []) {
      for (const s of result.series ?? []) {
        for (const v of s.values ?? []) {
          const row: Record<string, unknown> = { ...s.tags }
          for (let i = 0; i < s.columns.length; i++) row[s.columns[i] as string] = v[i]
          rows.push(row as T)
        }
      }
    }
    return rows
  }

  /**
   * A unit's heartbeats for a chart: as written for up to 6 h, otherwise
   * bucketed so at most ~500 rows come back. Ranges reaching past the raw
   * RP's 30 days read the hourly downsample (whose latest hour is only
   * filled once the CQ has run for it).
   */
  async heartbeats(deviceId: string, fromMs: number, toMs: number): Promise<HeartbeatRow[]> {
    const from = Math.floor(fromMs)
    const to = Math.ceil(toMs)
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from <= to)) {
      throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'from and to must be epoch ms with from <= to')
    }
    const db = quoted(this.#db)
    const where = `WHERE device = $device AND time >= ${from}ms AND time <= ${to}ms`
    const hourly = from < Date.now() - RAW_MS
    let q: string
    if (!hourly && to - from <= RAW_RANGE_MS) {
      q = `SELECT ${RAW_FIELDS.join(', ')} FROM ${db}.${quoted(RP_RAW)}.heartbeat ${where}`
    } else {
      const step = bucketMs(to - from, hourly ? HOUR : 0)
      const means = GAUGES.map((f) => `mean(${f}) AS ${f}`).join(', ')
      const src = hourly ? `${db}.${quoted(RP_HOURLY)}.heartbeat_hourly` : `${db}.${quoted(RP_RAW)}.heartbeat`
      const samples = hourly ? 'sum(samples)' : 'count(uptime_s)'
      q = `SELECT ${means}, max(uptime_s) AS uptime_s, ${samples} AS samples FROM ${src} ${where} GROUP BY time(${step}ms)`
    }
    return this.query<HeartbeatRow>(q, { device: deviceId })
  }

  /** Points in a measurement (of the default RP unless `rp` is given), for tests and benches. */
  async count(measurement: string, where?: string, rp?: string): Promise<number> {
    const from = rp ? `${quoted(rp)}.${quoted(measurement)}` : quoted(measurement)
    const rows = await this.query<Record<string, unknown>>(
      `SELECT count(*) FROM ${from}${where ? ` WHERE ${where}` : ''}`,
    )
    let n = 0
    for (const row of rows) {
      for (const [k, v] of Object.entries(row))
        if (k.startsWith('count_') && typeof v === 'number') n = Math.max(n, v)
    }
    return n
  }

  async #post(influxql: string, params?: Record<string, string | number>): Promise<QueryResponse> {
    const form = new URLSearchParams({ db: this.#db, epoch: 'ms', q: influxql })
    if (params) form.set('params', JSON.stringify(params))
    let res: Response
    try {
      res = await fetch(`${this.#url}/query`, {
        method: 'POST',
        body: form,
        signal: AbortSignal.timeout(30_000),
      })
    } catch (err) {
      throw unavailable(`query to ${this.#url} failed: ${reasonOf(err)}`, err)
    }
    if (res.status >= 500) throw unavailable(`query answered ${res.status}: ${await errorText(res)}`)
    let body: QueryResponse
    try {
      body = (await res.json()) as QueryResponse
    } catch (err) {
      throw unavailable(`query answered ${res.status} without JSON`, err)
    }
    const error = body.error ?? body.results?.find((r) => r.error)?.error
    if (error !== undefined) {
      if (error.includes('database not found')) throw unavailable(error)
      throw new DoorstepError('DOORSTEP_ERR_INFLUX_REJECTED', `InfluxDB refused a query: ${error}`, {
        influxql,
      })
    }
    return body
  }
}

const quoted = (name: string): string => influxEscape.quoted(name)

function unavailable(message: string, cause?: unknown): DoorstepError {
  return new DoorstepError('DOORSTEP_ERR_INFLUX_UNAVAILABLE', `InfluxDB: ${message}`, undefined, { cause })
}

/** undici reports "fetch failed" and hides ECONNREFUSED and friends in `cause`. */
function reasonOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } }
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)
}

async function errorText(res: Response): Promise<string> {
  return errorMessage(await res.text().catch(() => ''), res.statusText)
}

function errorMessage(text: string, fallback = ''): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown }
    if (typeof parsed.error === 'string') return parsed.error
  } catch {
    // influxd answers JSON; a proxy in front of it may not.
  }
  return text.slice(0, 500) || fallback
}

/** influxd 1.6 says `dropped=N`, except for unparseable lines, which it lists one per "unable to parse". */
function refusedCount(msg: string): number {
  const dropped = Number(/dropped=(\d+)/.exec(msg)?.[1] ?? 0)
  return dropped + (msg.match(/unable to parse '/g)?.length ?? 0)
}

/** Go durations as SHOW RETENTION POLICIES prints them ("720h0m0s"; "0s" is forever). */
function goDurationMs(d: string): number {
  const unit: Record<string, number> = { h: HOUR, m: 60_000, s: 1000, ms: 1, w: 7 * DAY, d: DAY }
  let ms = 0
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s|w|d)/g))
    ms += Number(m[1]) * (unit[m[2] as string] ?? 0)
  return ms
}

function bucketMs(rangeMs: number, minMs: number): number {
  // n buckets aligned to the epoch can touch n + 1 of them, hence MAX_POINTS - 1.
  const want = Math.max(minMs, Math.ceil(rangeMs / (MAX_POINTS - 1)))
  return STEPS_MS.find((s) => s >= want) ?? Math.ceil(want / DAY) * DAY
}
