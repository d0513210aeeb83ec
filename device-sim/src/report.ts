import type { AlertCounts, LatencySummary } from './alerts.js'
import { type FleetStats, SENT_KINDS, totalAcked, totalSent } from './stats.js'

/**
 * The end-of-run report: what the fleet sent and what the gateway made of
 * it. Heartbeats are checked where they should have landed (InfluxDB), not
 * taken on trust from the broker's acknowledgements (QoS 0 has none).
 */
/** Counters taken over from the fleet's stats as they stand at the end. */
type Counted = Pick<
  FleetStats,
  | 'units'
  | 'sent'
  | 'acked'
  | 'connects'
  | 'refusedConnects'
  | 'authFailures'
  | 'disconnects'
  | 'sessionEnds'
  | 'connectFailures'
  | 'errors'
  | 'errorKinds'
  | 'events'
  | 'clips'
  | 'clipBytes'
  | 'uploadFailures'
  | 'commands'
  | 'badPayloads'
  | 'powerCuts'
>

export interface Report extends Counted {
  startedAt: string
  endedAt: string
  durationS: number
  connectedAtEnd: number
  totals: { sent: number; acked: number }
  heartbeats: {
    sent: number
    /** Those proto accepts: what should be stored. */
    valid: number
    /** Counted in InfluxDB; null when not checked. */
    inInflux: number | null
    /** inInflux / valid. */
    ratio: number | null
    /** Sent just before a session ended unasked: what a loss of QoS 0 heartbeats is explained by (stats.ts). */
    atRisk: number
    influxError?: string
  }
  alerts:
    | (LatencySummary & {
        received: number
        matched: number
        unmatched: number
        folded: number
        dropped: number
      })
    | null
}

export interface InfluxCheck {
  url: string
  /** Default `doorstep`. */
  db?: string
  /** Count only units whose id starts with this (another fleet may share the gateway). */
  idPrefix?: string
  timeoutMs?: number
}

/**
 * `SELECT count(uptime_s) FROM heartbeat WHERE time >= <start>` over the
 * InfluxDB 1.x HTTP API. Heartbeat points carry the gateway's receive time,
 * so the fleet's start time bounds them without clock-skew trouble.
 */
export async function countHeartbeatsInInflux(check: InfluxCheck, sinceMs: number): Promise<number> {
  let q = `SELECT count(uptime_s) FROM heartbeat WHERE time >= ${Math.floor(sinceMs)}ms`
  if (check.idPrefix) q += ` AND device =~ /^${check.idPrefix.replace(/[^A-Za-z0-9_-]/g, '')}/`
  const url = new URL('/query', check.url)
  url.searchParams.set('db', check.db ?? 'doorstep')
  url.searchParams.set('q', q)
  url.searchParams.set('epoch', 'ms')
  const res = await fetch(url, { signal: AbortSignal.timeout(check.timeoutMs ?? 15_000) })
  if (!res.ok) throw new Error(`InfluxDB query failed: HTTP ${res.status}`)
  const body = (await res.json()) as {
    results?: Array<{ error?: string; series?: Array<{ values?: Array<[unknown, unknown]> }> }>
  }
  const r = body.results?.[0]
  if (r?.error) throw new Error(`InfluxDB: ${r.error}`)
  const v = r?.series?.[0]?.values?.[0]?.[1]
  // No series at all means no points: zero, not an error.
  return typeof v === 'number' ? v : 0
}

export async function buildReport(
  stats: FleetStats,
  opts: {
    endedAt?: number
    influx?: InfluxCheck
    alerts?: { counts: AlertCounts; latency: LatencySummary }
  } = {},
): Promise<Report> {
  const endedAt = opts.endedAt ?? Date.now()
  let inInflux: number | null = null
  let influxError: string | undefined
  if (opts.influx) {
    try {
      inInflux = await countHeartbeatsInInflux(opts.influx, stats.startedAt)
    } catch (err) {
      influxError = (err as Error).message
    }
  }
  const a = opts.alerts
  return {
    startedAt: new Date(stats.startedAt).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    durationS: Math.round((endedAt - stats.startedAt) / 100) / 10,
    units: stats.units,
    connectedAtEnd: stats.connected,
    sent: { ...stats.sent },
    acked: { ...stats.acked },
    totals: { sent: totalSent(stats), acked: totalAcked(stats) },
    connects: stats.connects,
    refusedConnects: stats.refusedConnects,
    authFailures: stats.authFailures,
    disconnects: stats.disconnects,
    sessionEnds: { ...stats.sessionEnds },
    connectFailures: { ...stats.connectFailures },
    errors: stats.errors,
    errorKinds: { ...stats.errorKinds },
    events: stats.events,
    clips: stats.clips,
    clipBytes: stats.clipBytes,
    uploadFailures: stats.uploadFailures,
    commands: { ...stats.commands },
    badPayloads: { ...stats.badPayloads },
    powerCuts: stats.powerCuts,
    heartbeats: {
      sent: stats.sent.heartbeat,
      valid: stats.heartbeatsValid,
      inInflux,
      ratio:
        inInflux === null || stats.heartbeatsValid === 0
          ? null
          : Math.round((inInflux / stats.heartbeatsValid) * 10_000) / 10_000,
      atRisk: stats.heartbeatsAtRisk,
      ...(influxError ? { influxError } : {}),
    },
    alerts: a
      ? {
          ...a.latency,
          received: a.counts.alerts,
          matched: a.counts.matched,
          unmatched: a.counts.unmatched,
          folded: a.counts.folded,
          dropped: a.counts.dropped,
        }
      : null,
  }
}

/** The most frequent causes, indented under their total. */
const causeRows = (kinds: Record<string, number>): Array<[string, string]> =>
  Object.entries(kinds)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([cause, n]) => [`  ${cause}`, String(n)])

const ms = (v: number | null) => (v === null ? '-' : `${v} ms`)

/** A plain-text table for people. */
export function formatReport(r: Report): string {
  const rows: Array<[string, string]> = [
    ['duration', `${r.durationS} s`],
    ['units (connected at end)', `${r.units} (${r.connectedAtEnd})`],
    [
      'connects / refused (CONNACK 3) / auth failures',
      `${r.connects} / ${r.refusedConnects} / ${r.authFailures}`,
    ],
    ['disconnects / power cuts', `${r.disconnects} / ${r.powerCuts}`],
    ...causeRows(r.sessionEnds),
    ['failed connect attempts', String(Object.values(r.connectFailures).reduce((a, b) => a + b, 0))],
    ...causeRows(r.connectFailures),
  ]
  for (const k of SENT_KINDS) rows.push([`sent / acknowledged: ${k}`, `${r.sent[k]} / ${r.acked[k]}`])
  rows.push(
    ['sent / acknowledged: total', `${r.totals.sent} / ${r.totals.acked}`],
    ['bad payloads (reject / odd-but-valid)', `${r.badPayloads.reject} / ${r.badPayloads.accept}`],
    ['events completed', String(r.events)],
    [
      'commands (ping / pull / refused / invalid)',
      `${r.commands.ping} / ${r.commands.pull} / ${r.commands.refused} / ${r.commands.invalid}`,
    ],
    ['clips uploaded (bytes) / failed', `${r.clips} (${r.clipBytes}) / ${r.uploadFailures}`],
    ['errors', String(r.errors)],
    ...causeRows(r.errorKinds),
    [
      'heartbeats valid / in InfluxDB',
      r.heartbeats.inInflux === null
        ? `${r.heartbeats.valid} / ${r.heartbeats.influxError ? `not checked: ${r.heartbeats.influxError}` : 'not checked'}`
        : `${r.heartbeats.valid} / ${r.heartbeats.inInflux} (${((r.heartbeats.ratio ?? 0) * 100).toFixed(2)}%)`,
    ],
    ['heartbeats sent just before a session ended unasked', String(r.heartbeats.atRisk)],
  )
  if (r.alerts) {
    rows.push(
      ['alerts received (timed)', `${r.alerts.received} (${r.alerts.matched})`],
      ['fold summaries (not timed)', String(r.alerts.folded)],
      [
        'alert latency p50 / p95 / p99 / max',
        `${ms(r.alerts.p50)} / ${ms(r.alerts.p95)} / ${ms(r.alerts.p99)} / ${ms(r.alerts.max)}`,
      ],
    )
  }
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}
