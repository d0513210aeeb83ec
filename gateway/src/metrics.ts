import type { HealthCounts, LiveState, TopicKind } from '@doorstep/proto'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { DISCONNECT_REASONS } from './mqtt/index.js'
import type { ProcessReading } from './process-metrics.js'

/**
 * What the gauges read when Prometheus scrapes, handed over by the gateway once its features run
 * (`observe`): counts kept elsewhere are read then, never pushed on the hot path.
 */
export interface ScrapeSources {
  health(): { overall: HealthCounts; districts: Array<HealthCounts & { district: number }> }
  mediaQueued(): number
  /** Used share of the clip disk and the watermark above which clips are refused; null if unknown. */
  clipDisk(): Promise<{ usedRatio: number; watermarkRatio: number } | null>
  /** When each TLS certificate in use ends, epoch seconds; empty without TLS. */
  tlsNotAfter(): Array<{ certificate: 'server' | 'unit_ca'; notAfterS: number }>
  authFailures(): number
  /** Clips the retention sweeps removed since start, by why. */
  clipsRemoved(): Readonly<Record<'retention' | 'disk' | 'abandoned' | 'partial', number>>
  /** Events removed from the event index past retention since start. */
  eventsRemoved(): number
  /** The process itself: memory, the heap after GC, event-loop delay, descriptors (`ProcessWatch`). */
  process(): ProcessReading
  /** The shared Redis's and PostgreSQL's reachability as this gateway sees it; null where not configured. */
  dependencies(): { redis: boolean | null; database: boolean | null }
  /** Events indexed here and not yet copied to the shared PostgreSQL; null without one. */
  eventOutbox(): number | null
}

/**
 * A 1/0 gauge of a shared dependency's reachability, registered only where the dependency is configured
 * (`registry` null otherwise): an unset gauge reads 0, which would page every single-machine install.
 */
function dependencyGauge(
  name: string,
  help: string,
  registry: Registry | null,
  up: () => boolean | null,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: registry ? [registry] : [],
    collect() {
      const u = up()
      if (u !== null) this.set(u ? 1 : 0)
    },
  })
}

const STATES: readonly LiveState[] = ['online', 'stale', 'offline', 'unknown']

/**
 * All gateway metrics in one registry per gateway instance (several gateways
 * can live in one test process). Names follow Prometheus conventions. `node`,
 * given when gateways share Redis, labels every series with the gateway's node
 * id, so one Prometheus scraping all nodes keeps their series apart and can
 * still sum them.
 */
export function createMetrics(
  opts: {
    node?: string
    /** Which shared dependencies this gateway has: only their gauges are exposed (an unset one would read 0, "down"). */
    redis?: boolean
    database?: boolean
  } = {},
) {
  const registry = new Registry()
  if (opts.node !== undefined) registry.setDefaultLabels({ node: opts.node })
  /**
   * Messages in per topic kind, counted as plain numbers on the hot path and
   * added to the counter when it is scraped: a prom-client `inc` hashes its
   * labels on every call, measurable at tens of thousands of messages a second.
   */
  const received: Record<TopicKind, number> = {
    hello: 0,
    heartbeat: 0,
    event: 0,
    status: 0,
    cmd: 0,
    cmdAck: 0,
    config: 0,
    configReported: 0,
  }
  let sources: ScrapeSources | null = null
  // One reading per scrape, taken by `scrape()` before the registry collects: a reading resets the
  // event-loop window, so the gauges must share it, and each scrape must take its own (a time-based
  // cache handed a scrape soon after another the earlier one's lag).
  let reading: ProcessReading | null = null
  const proc = (): ProcessReading | null => {
    if (!sources) return null
    reading ??= sources.process()
    return reading
  }
  // The fleet's health, summed once per scrape for both gauges that read it: a pass over every unit,
  // tens of milliseconds at 30,000.
  let health: ReturnType<ScrapeSources['health']> | null = null
  let scraping = false
  const fleet = (): ReturnType<ScrapeSources['health']> | null => {
    if (!sources) return null
    if (!scraping) return sources.health()
    health ??= sources.health()
    return health
  }
  const processGauge = (name: string, help: string, value: (r: ProcessReading) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const r = proc()
        const v = r ? value(r) : null
        if (v !== null) this.set(v)
      },
    })
  const m = {
    registry,
    received,
    /** The exposition text: the process is read once, then every metric collected. */
    async scrape(): Promise<string> {
      reading = sources ? sources.process() : null
      health = null
      scraping = true
      try {
        return await registry.metrics()
      } finally {
        scraping = false
        health = null
      }
    },
    /** Hands the scrape-time gauges their sources. */
    observe(s: ScrapeSources): void {
      sources = s
    },
    units: new Gauge({
      name: 'doorstep_units',
      help: 'Provisioned units by live state',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const o = fleet()?.overall
        if (o) for (const s of STATES) this.set({ state: s }, o[s])
      },
    }),
    districtUnits: new Gauge({
      name: 'doorstep_district_units',
      help: 'Provisioned units by district and live state',
      labelNames: ['district', 'state'] as const,
      registers: [registry],
      collect() {
        for (const d of fleet()?.districts ?? [])
          for (const s of STATES) this.set({ district: String(d.district), state: s }, d[s])
      },
    }),
    mediaQueue: new Gauge({
      name: 'doorstep_media_queue_jobs',
      help: 'Media jobs (ffprobe, ffmpeg, thumbnails) waiting for a worker',
      registers: [registry],
      collect() {
        if (sources) this.set(sources.mediaQueued())
      },
    }),
    clipDiskUsed: new Gauge({
      name: 'doorstep_clip_disk_used_ratio',
      help: 'Used share of the disk the clips are on',
      registers: [registry],
      async collect() {
        const d = await sources?.clipDisk()
        if (d) this.set(d.usedRatio)
      },
    }),
    clipDiskWatermark: new Gauge({
      name: 'doorstep_clip_disk_watermark_ratio',
      help: 'Used share of the clip disk above which new clips are refused',
      registers: [registry],
      async collect() {
        const d = await sources?.clipDisk()
        if (d) this.set(d.watermarkRatio)
      },
    }),
    tlsNotAfter: new Gauge({
      name: 'doorstep_tls_certificate_not_after_seconds',
      help: 'When a TLS certificate in use ends, seconds since the epoch',
      labelNames: ['certificate'] as const,
      registers: [registry],
      collect() {
        if (!sources) return
        this.reset()
        for (const c of sources.tlsNotAfter()) this.set({ certificate: c.certificate }, c.notAfterS)
      },
    }),
    authFailures: new Counter({
      name: 'doorstep_auth_failures_total',
      help: 'Refused tokens and unit credentials on HTTP (MQTT refusals: doorstep_mqtt_connects_refused_total)',
      registers: [registry],
      collect() {
        if (!sources) return
        this.reset()
        this.inc(sources.authFailures())
      },
    }),
    influxUp: new Gauge({
      name: 'doorstep_influx_up',
      help: '1 while the last write to InfluxDB succeeded, 0 while it fails',
      registers: [registry],
    }),
    redisUp: dependencyGauge(
      'doorstep_redis_up',
      '1 while every connection to the shared Redis is up, 0 while one reconnects; absent without DOORSTEP_REDIS_URL',
      opts.redis ? registry : null,
      () => sources?.dependencies().redis ?? null,
    ),
    databaseUp: dependencyGauge(
      'doorstep_database_up',
      '1 while the connection to the shared PostgreSQL is up, 0 while the gateway reconnects to it; absent without DOORSTEP_DATABASE_URL',
      opts.database ? registry : null,
      () => sources?.dependencies().database ?? null,
    ),
    eventOutbox: new Gauge({
      name: 'doorstep_event_outbox',
      help: 'Events this gateway indexed and has not yet copied to the shared PostgreSQL (grows while it is away); absent without DOORSTEP_DATABASE_URL',
      registers: opts.database ? [registry] : [],
      collect() {
        const n = sources?.eventOutbox() ?? null
        if (n !== null) this.set(n)
      },
    }),
    connections: new Gauge({
      name: 'doorstep_mqtt_connections',
      help: 'Connected MQTT clients',
      registers: [registry],
    }),
    connects: new Counter({
      name: 'doorstep_mqtt_connects_total',
      help: 'Accepted MQTT connections',
      registers: [registry],
    }),
    proxyHeadersRefused: new Counter({
      name: 'doorstep_mqtt_proxy_headers_refused_total',
      help: 'Connections from a trusted proxy closed for a missing or malformed PROXY header',
      registers: [registry],
    }),
    connectsRefused: new Counter({
      name: 'doorstep_mqtt_connects_refused_total',
      help: 'Refused MQTT connections by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    disconnects: new Counter({
      name: 'doorstep_mqtt_disconnects_total',
      help: 'Ended MQTT connections by reason; stage: session (had CONNACK 0) or connect (never did)',
      labelNames: ['reason', 'stage'] as const,
      registers: [registry],
    }),
    framesRefused: new Counter({
      name: 'doorstep_mqtt_frames_refused_total',
      help: 'MQTT connections closed for a packet declaring more bytes than allowed, before reading them; stage: connect (before CONNACK 0) or session',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    hellosDropped: new Counter({
      name: 'doorstep_hellos_dropped_total',
      help: 'hello messages over the per-unit rate, acknowledged and not applied',
      registers: [registry],
    }),
    messagesIn: new Counter({
      name: 'doorstep_messages_in_total',
      help: 'Messages received from units, per topic kind',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        for (const kind of Object.keys(received) as TopicKind[]) {
          const n = received[kind]
          if (n === 0) continue
          received[kind] = 0
          this.labels(kind).inc(n)
        }
      },
    }),
    invalid: new Counter({
      name: 'doorstep_messages_invalid_total',
      help: 'Invalid messages by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'doorstep_events_duplicate_total',
      help: 'Retried events already stored',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'doorstep_ingest_queue_points',
      help: 'Points held in memory for InfluxDB',
      registers: [registry],
    }),
    spoolDepth: new Gauge({
      name: 'doorstep_spool_rows',
      help: 'Rows in the on-disk spool',
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: 'doorstep_spool_bytes',
      help: 'Bytes of line protocol in the spool',
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'doorstep_influx_batch_points',
      help: 'Points per InfluxDB write',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    writeLatency: new Histogram({
      name: 'doorstep_influx_write_seconds',
      help: 'InfluxDB write latency',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    writesMaxConcurrent: new Gauge({
      name: 'doorstep_influx_writes_max_concurrent',
      help: 'Most InfluxDB writes in flight at once since start',
      registers: [registry],
    }),
    writeErrors: new Counter({
      name: 'doorstep_influx_write_errors_total',
      help: 'Failed InfluxDB writes',
      registers: [registry],
    }),
    pointsWritten: new Counter({
      name: 'doorstep_influx_points_total',
      help: 'Points written to InfluxDB',
      registers: [registry],
    }),
    clipsRemoved: new Counter({
      name: 'doorstep_clips_removed_total',
      help: 'Clips and unfinished uploads removed by the retention sweep: retention (age), disk (eviction above the watermark), abandoned (never finished), partial (a partial file evicted)',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        if (!sources) return
        this.reset()
        for (const [reason, n] of Object.entries(sources.clipsRemoved())) this.inc({ reason }, n)
      },
    }),
    eventsRemoved: new Counter({
      name: 'doorstep_events_removed_total',
      help: 'Events removed from the event index past retention',
      registers: [registry],
      collect() {
        if (!sources) return
        this.reset()
        this.inc(sources.eventsRemoved())
      },
    }),
    // First of the process gauges: the event-loop window is read (and started over) once per scrape.
    lagP99: processGauge(
      'doorstep_eventloop_lag_p99_seconds',
      'Event-loop delay, 99th percentile since the previous scrape: how late a 10 ms timer ran',
      (r) => r.lagP99S,
    ),
    lagMax: processGauge(
      'doorstep_eventloop_lag_max_seconds',
      'Longest event-loop delay since the previous scrape: how late a 10 ms timer ran',
      (r) => r.lagMaxS,
    ),
    rss: processGauge(
      'doorstep_process_resident_memory_bytes',
      'Resident memory of the gateway process',
      (r) => r.rssBytes,
    ),
    heapUsed: processGauge(
      'doorstep_process_heap_used_bytes',
      'V8 heap in use, garbage included',
      (r) => r.heapUsedBytes,
    ),
    heapTotal: processGauge(
      'doorstep_process_heap_total_bytes',
      'V8 heap reserved (what V8 has grown its heap to)',
      (r) => r.heapTotalBytes,
    ),
    external: processGauge(
      'doorstep_process_external_bytes',
      'Memory of C++ objects bound to JS ones, Buffers included',
      (r) => r.externalBytes,
    ),
    heapAfterGc: processGauge(
      'doorstep_process_heap_after_gc_bytes',
      'V8 heap in use right after the last full (mark-compact) GC: the live heap',
      (r) => r.heapAfterGcBytes,
    ),
    majorGcs: processGauge(
      'doorstep_process_major_gcs',
      'Full (mark-compact) GCs since the gateway started',
      (r) => r.majorGcs,
    ),
    openFds: processGauge('doorstep_process_open_fds', 'Open file descriptors', (r) => r.openFds),
    alertsSent: new Counter({
      name: 'doorstep_alerts_total',
      help: 'Alerts raised, per kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
  }
  // Every reason from the start: a scrape shows the whole closed set, and a rate over a zero works.
  for (const reason of DISCONNECT_REASONS)
    for (const stage of ['connect', 'session']) m.disconnects.inc({ reason, stage }, 0)
  for (const stage of ['connect', 'session']) m.framesRefused.inc({ stage }, 0)
  return m
}

export type Metrics = ReturnType<typeof createMetrics>
