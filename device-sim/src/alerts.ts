import { ServerFrame } from '@doorstep/proto'
import WebSocket from 'ws'

/**
 * Watches the gateway's live alert feed the way the dashboard does and
 * measures, per event, the time from the unit handing `start` to its MQTT
 * client to the alert for that eventId arriving here. Both ends run on this
 * machine's clock, so no clock correction is needed.
 */
export interface AlertObserverOptions {
  /** When the event's `start` was published (Fleet.sentAt); events unknown to it are counted, not timed. */
  sentAt?: (eventId: string) => number | undefined
  /** Latency samples kept (the first ones); default 200,000. */
  maxSamples?: number
  /** Reconnects after a lost socket, resuming from the last alert id; default 10. */
  maxReconnects?: number
  /** How long to wait for the socket to open and say `ready`, ms. */
  openTimeoutMs?: number
}

export interface LatencySummary {
  count: number
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
}

export interface AlertCounts {
  alerts: number
  byKind: Record<string, number>
  /** Alerts whose eventId the fleet had published (timed). */
  matched: number
  /** Alerts with an eventId the fleet did not know (another fleet, or beyond sentAt's memory). */
  unmatched: number
  /** Fold-window summaries: late by design (see Alert.foldedMs), so never timed. */
  folded: number
  /** Alerts the gateway dropped for this socket (too slow). */
  dropped: number
  gaps: number
  reconnects: number
}

export interface AlertObserver {
  counts(): AlertCounts
  latencies(): readonly number[]
  summary(): LatencySummary
  close(): void
}

/** Nearest-rank percentiles over a copy of the samples. */
export function summarizeLatencies(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null }
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number
  return {
    count: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
  }
}

export async function observeAlerts(
  httpUrl: string,
  token: string,
  opts: AlertObserverOptions = {},
): Promise<AlertObserver> {
  const maxSamples = opts.maxSamples ?? 200_000
  const maxReconnects = opts.maxReconnects ?? 10
  const url = `${httpUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/api/v1/alerts`
  const samples: number[] = []
  const timed = new Set<string>()
  const counts: AlertCounts = {
    alerts: 0,
    byKind: {},
    matched: 0,
    unmatched: 0,
    folded: 0,
    dropped: 0,
    gaps: 0,
    reconnects: 0,
  }
  let lastId = 0
  let closed = false
  let ws: WebSocket | null = null

  /** Records one frame; returns its type (null when it is not a frame of the contract). */
  const onFrame = (data: WebSocket.RawData): ServerFrame['type'] | null => {
    const at = Date.now()
    let frame: ServerFrame
    try {
      const parsed = ServerFrame.safeParse(JSON.parse(String(data)))
      if (!parsed.success) return null
      frame = parsed.data
    } catch {
      return null
    }
    if (frame.type === 'dropped') counts.dropped += frame.count
    if (frame.type === 'gap') counts.gaps++
    if (frame.type !== 'alert') return frame.type
    const a = frame.alert
    lastId = Math.max(lastId, a.id)
    counts.alerts++
    counts.byKind[a.kind] = (counts.byKind[a.kind] ?? 0) + 1
    if (a.foldedMs !== undefined) {
      counts.folded++
      return 'alert'
    }
    if (a.eventId === undefined) return 'alert'
    // One sample per event: a later alert naming it again measures nothing new.
    if (timed.has(a.eventId)) return 'alert'
    const sent = opts.sentAt?.(a.eventId)
    if (sent === undefined) {
      counts.unmatched++
      return 'alert'
    }
    counts.matched++
    timed.add(a.eventId)
    if (timed.size > maxSamples) timed.clear()
    if (samples.length < maxSamples) samples.push(at - sent)
    return 'alert'
  }

  const open = (resume: boolean) =>
    new Promise<void>((resolve, reject) => {
      // The token goes in a header, not the URL: URLs end up in access logs.
      const sock = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
      ws = sock
      const timer = setTimeout(() => {
        sock.terminate()
        reject(new Error(`alert socket at ${url} did not become ready`))
      }, opts.openTimeoutMs ?? 10_000)
      sock.on('message', (data) => {
        if (onFrame(data) === 'ready') {
          clearTimeout(timer)
          // After a reconnect, ask for what was missed while away.
          if (resume && lastId > 0) sock.send(JSON.stringify({ type: 'subscribe', lastId }))
          resolve()
        }
      })
      sock.once('unexpected-response', (_req, res) => {
        clearTimeout(timer)
        reject(new Error(`alert socket refused: HTTP ${res.statusCode}`))
        sock.terminate()
      })
      sock.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      sock.once('close', () => {
        clearTimeout(timer)
        if (closed || counts.reconnects >= maxReconnects) return
        counts.reconnects++
        const wait = Math.min(5000, 250 * 2 ** counts.reconnects)
        setTimeout(() => {
          if (!closed) open(true).catch(() => {})
        }, wait).unref()
      })
    })

  try {
    await open(false)
  } catch (err) {
    closed = true
    throw err
  }
  return {
    counts: () => ({ ...counts, byKind: { ...counts.byKind } }),
    latencies: () => samples,
    summary: () => summarizeLatencies(samples),
    close: () => {
      closed = true
      ws?.close()
    },
  }
}
