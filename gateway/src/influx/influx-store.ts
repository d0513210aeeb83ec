import { escape as influxEscape } from 'influx'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import { type ChartRow, joinParts, planChart } from './heartbeat-chart.js'
import {
  CQ_HEARTBEAT_5M,
  chartAggregates,
  chartFromFiveMin,
  FIVEMIN_MEASUREMENT,
  fiveMinSelect,
  GAUGES,
  heartbeatCqs,
  hourlySelect,
  MARK_MEASUREMENT,
  RAW_FIELDS,
  RETENTION,
  RP_FIVEMIN,
  RP_HOURLY,
  RP_RAW,
} from './heartbeat-schema.js'
import { type PostResult, postBody } from './http-post.js'

export {
  CQ_HEARTBEAT_5M,
  CQ_HEARTBEAT_HOURLY,
  RP_EVENTS,
  RP_FIVEMIN,
  RP_HOURLY,
  RP_RAW,
} from './heartbeat-schema.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const RAW_RETENTION_MS = RETENTION.find((r) => r.name === RP_RAW)?.ms ?? 30 * DAY

type HeartbeatRow = ChartRow

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
  #downsampleSince: number | null = null

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
    const have = await this.#cqNames()
    let createdFiveMin = false
    for (const cq of heartbeatCqs(db)) {
      if (have.has(cq.name)) continue
      try {
        await this.#post(cq.statement)
        if (cq.name === CQ_HEARTBEAT_5M) createdFiveMin = true
      } catch (err) {
        // Another gateway on the same database may have won the race; it records the mark.
        if (!/already exists/.test((err as Error).message)) throw err
      }
    }
    await this.#markDownsample(createdFiveMin)
  }

  /**
   * When the 5-minute CQ was first created, epoch ms; null until ensureSchema has read it. Charts
   * read no downsample from before it: the CQ fills its buckets from then on, never backwards.
   */
  get downsampleSince(): number | null {
    return this.#downsampleSince
  }

  /**
   * The mark lives in the database beside the series it describes (a restored backup brings its own),
   * in the 52-week RP, rewritten at every start so that it does not expire while the CQ exists. A CQ
   * just created, or one found without a mark (its creator stopped before writing it), starts the
   * mark now: a later mark than the truth only sends more of a chart to the raw points.
   */
  async #markDownsample(created: boolean): Promise<void> {
    const rows = await this.query<{ since: number | null }>(
      `SELECT last(since) AS since FROM ${quoted(RP_HOURLY)}.${quoted(MARK_MEASUREMENT)} WHERE cq = $cq`,
      { cq: CQ_HEARTBEAT_5M },
    )
    const found = rows[0]?.since
    const now = Date.now()
    const since = !created && typeof found === 'number' ? found : now
    await this.writeLines(`${MARK_MEASUREMENT},cq=${CQ_HEARTBEAT_5M} since=${since}i ${now}000000`, RP_HOURLY)
    this.#downsampleSince = since
  }

  /** SHOW CONTINUOUS QUERIES lists every database, one series each, named after it. */
  async #cqNames(): Promise<Set<string>> {
    const body = await this.#post('SHOW CONTINUOUS QUERIES')
    const series = body.results?.[0]?.series?.find((s) => s.name === this.#db)
    const col = series?.columns.indexOf('name') ?? -1
    return new Set((series?.values ?? []).map((v) => String(v[col])))
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
   * filled once the CQ has run for it). Buckets of 5 minutes and more come
   * from the 5-minute downsample where it is final, and from the raw points
   * before it existed and in the last minutes it has not finished yet
   * (`heartbeat-chart.ts`); `raw: true` computes them all from the raw points.
   */
  async heartbeats(
    deviceId: string,
    fromMs: number,
    toMs: number,
    opts: { raw?: boolean } = {},
  ): Promise<HeartbeatRow[]> {
    const from = Math.floor(fromMs)
    const to = Math.ceil(toMs)
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from <= to)) {
      throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'from and to must be epoch ms with from <= to')
    }
    const db = quoted(this.#db)
    const raw = `${db}.${quoted(RP_RAW)}.heartbeat`
    const where = (lo: number, hi: number, end: '<' | '<=') =>
      `WHERE device = $device AND time >= ${lo}ms AND time ${end} ${hi}ms`
    const params = { device: deviceId }
    const plan = planChart(from, to, Date.now(), opts.raw ? null : this.#downsampleSince)
    switch (plan.kind) {
      case 'points':
        return this.query<HeartbeatRow>(
          `SELECT ${RAW_FIELDS.join(', ')} FROM ${raw} ${where(from, to, '<=')}`,
          params,
        )
      case 'hourly': {
        const means = GAUGES.map((f) => `mean(${f}) AS ${f}`).join(', ')
        return this.query<HeartbeatRow>(
          `SELECT ${means}, max(uptime_s) AS uptime_s, sum(samples) AS samples FROM ${db}.${quoted(RP_HOURLY)}.heartbeat_hourly ${where(from, to, '<=')} GROUP BY time(${plan.step}ms)`,
          params,
        )
      }
      case 'raw':
        return this.query<HeartbeatRow>(
          `SELECT ${chartAggregates()} FROM ${raw} ${where(from, to, '<=')} GROUP BY time(${plan.step}ms)`,
          params,
        )
      case 'split': {
        const { step, a, b } = plan
        const raws = (lo: number, hi: number, end: '<' | '<=') =>
          `SELECT ${chartAggregates()} FROM ${raw} ${where(lo, hi, end)} GROUP BY time(${step}ms)`
        // One request: one round trip and one query parse instead of three. influxd runs the statements
        // one after the other; the parts' buckets do not overlap, so their rows come back in order.
        const statements = [
          ...(from < a ? [raws(from, a, '<')] : []),
          `SELECT ${chartFromFiveMin()} FROM ${db}.${quoted(RP_FIVEMIN)}.${FIVEMIN_MEASUREMENT} ${where(a, b, '<')} GROUP BY time(${step}ms)`,
          raws(b, to, '<='),
        ]
        return joinParts([await this.query<HeartbeatRow>(statements.join('; '), params)], from, to, step)
      }
    }
  }

  /**
   * Recomputes the 5-minute and hourly downsamples of the heartbeats stamped from `fromMs` to `toMs`
   * (whole buckets) from the raw points: for heartbeats written after the CQs had passed their
   * buckets, as when the spool is replayed after an outage. An hour at a time, the two queries in one
   * request, so a long outage of the whole fleet is many short queries rather than one that times
   * out. Only as far back as raw points are kept. `onHour` is told each hour done, for progress.
   */
  async resampleHeartbeats(
    fromMs: number,
    toMs: number,
    onHour?: (done: number, of: number) => void,
  ): Promise<void> {
    const lo = Math.max(fromMs, Date.now() - RAW_RETENTION_MS)
    if (!(lo <= toMs)) return
    const db = quoted(this.#db)
    const first = Math.floor(lo / HOUR) * HOUR
    const hours = Math.floor(toMs / HOUR) - first / HOUR + 1
    for (let i = 0; i < hours; i++) {
      const a = first + i * HOUR
      const where = `time >= ${a}ms AND time < ${a + HOUR}ms`
      await this.#post(`${fiveMinSelect(db, where)}; ${hourlySelect(db, where)}`)
      onHour?.(i + 1, hours)
    }
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
