import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { AlertHub, AlertRules, alertsRoute } from './alerts/index.js'
import { AuditLog, auditRoutes } from './audit/index.js'
import { TokenStore } from './auth/index.js'
import { Cases, caseRoutes, consentRoutes, pullUploadRoutes } from './cases/index.js'
import { Clips, clipRoutes, holdRoutes } from './clips/index.js'
import type { Config } from './config.js'
import { type Db, openDb } from './db/index.js'
import { EventBus } from './event-bus.js'
import { Events, eventRoutes } from './events/index.js'
import {
  Checkpointer,
  checkpointsInDb,
  checkpointsInFile,
  EvidenceKeyring,
  evidenceRoutes,
  logSourcesFrom,
  verifyLogs,
} from './evidence/index.js'
import type { Feature } from './feature.js'
import { buildHttp, opsRoutes } from './http/index.js'
import { InfluxStore, ManagedInfluxd } from './influx/index.js'
import { Ingest } from './ingest/index.js'
import { createLogger, type Logger } from './log.js'
import { createMetrics, type Metrics } from './metrics.js'
import { MqttBroker } from './mqtt/index.js'
import { ownerRoutes, tokenRoutes } from './people/index.js'
import { Presence } from './presence/index.js'
import { registryRoutes, SqliteDeviceRegistry } from './registry/index.js'

export interface GatewayOptions {
  log?: Logger
  /** Called once with a generated admin token (no DOORSTEP_ADMIN_TOKEN and no admin yet). */
  onAdminToken?: (token: string) => void
}

/**
 * The whole gateway, wired in one place. Construction does nothing;
 * `start()` opens the database, InfluxDB, the MQTT and HTTP ports in order;
 * `stop()` closes them in reverse, flushing what ingest holds.
 */
export class Gateway {
  readonly config: Readonly<Config>
  readonly log: Logger
  readonly metrics: Metrics
  readonly bus: EventBus
  readonly hub: AlertHub
  #opts: GatewayOptions
  #db: Db | null = null
  #registry: SqliteDeviceRegistry | null = null
  #tokens: TokenStore | null = null
  #influxd: ManagedInfluxd | null = null
  #influx: InfluxStore | null = null
  #ingest: Ingest | null = null
  #presence: Presence | null = null
  #events: Events | null = null
  #clips: Clips | null = null
  #audit: AuditLog | null = null
  #cases: Cases | null = null
  #keys: EvidenceKeyring | null = null
  #checkpoints: Checkpointer | null = null
  #broker: MqttBroker | null = null
  #http: FastifyInstance | null = null
  #started: Feature[] = []
  #schemaRetry: NodeJS.Timeout | null = null

  constructor(config: Readonly<Config>, opts: GatewayOptions = {}) {
    this.config = config
    this.#opts = opts
    this.log = opts.log ?? createLogger(config.logLevel)
    this.metrics = createMetrics()
    this.bus = new EventBus(this.log)
    this.hub = new AlertHub(this.metrics)
  }

  get registry(): SqliteDeviceRegistry {
    return must(this.#registry, 'registry')
  }
  get tokens(): TokenStore {
    return must(this.#tokens, 'tokens')
  }
  get ingest(): Ingest {
    return must(this.#ingest, 'ingest')
  }
  get presence(): Presence {
    return must(this.#presence, 'presence')
  }
  get events(): Events {
    return must(this.#events, 'events')
  }
  get clips(): Clips {
    return must(this.#clips, 'clips')
  }
  get audit(): AuditLog {
    return must(this.#audit, 'audit')
  }
  get cases(): Cases {
    return must(this.#cases, 'cases')
  }
  get evidenceKeys(): EvidenceKeyring {
    return must(this.#keys, 'evidence keys')
  }
  get checkpoints(): Checkpointer {
    return must(this.#checkpoints, 'checkpoints')
  }
  get broker(): MqttBroker {
    return must(this.#broker, 'broker')
  }
  get http(): FastifyInstance {
    return must(this.#http, 'http')
  }
  get influx(): InfluxStore | null {
    return this.#influx
  }
  get db(): Db {
    return must(this.#db, 'db')
  }
  get mqttUrl(): string {
    return `mqtt://${this.config.host}:${this.broker.port}`
  }
  get httpUrl(): string {
    const a = this.http.server.address()
    const port = a && typeof a === 'object' ? a.port : this.config.httpPort
    return `http://${this.config.host}:${port}`
  }

  async start(): Promise<void> {
    const cfg = this.config
    fs.mkdirSync(cfg.dataDir, { recursive: true })
    const db = openDb(path.join(cfg.dataDir, 'doorstep.db'))
    this.#db = db
    const registry = new SqliteDeviceRegistry(db)
    registry.load()
    this.#registry = registry
    const tokens = new TokenStore(db)
    tokens.load()
    this.#tokens = tokens
    this.#bootstrapAdmin(tokens)
    // Before anything that records: exports and log checkpoints are signed with it.
    const keys = new EvidenceKeyring({
      dataDir: cfg.dataDir,
      keyFile: cfg.evidence.keyFile,
      warn: (msg) => this.log.warn(msg),
    })
    keys.load()
    this.#keys = keys

    await this.#startInflux()
    const influx = must(this.#influx, 'influx')

    // Its index is written by ingest's spool worker, which needs the table made first (events starts first).
    const events = new Events({ db })
    this.#events = events
    const ingest = new Ingest({
      config: cfg,
      registry,
      bus: this.bus,
      log: this.log,
      metrics: this.metrics,
      sink: influx,
    })
    this.#ingest = ingest
    const presence = new Presence({
      config: cfg,
      bus: this.bus,
      registry,
      writeLine: (l) => ingest.writeLine(l),
    })
    this.#presence = presence
    const rules = new AlertRules({ bus: this.bus, hub: this.hub, config: cfg })
    const broker = new MqttBroker({
      config: cfg,
      registry,
      ingest,
      bus: this.bus,
      log: this.log,
      metrics: this.metrics,
    })
    this.#broker = broker
    const clips = new Clips({ config: cfg, db, events: () => events.index, log: this.log })
    this.#clips = clips
    const audit = new AuditLog({ db, log: this.log })
    this.#audit = audit
    // After the broker: pulls go out over it, and its subscriptions say which units listen.
    const cases = new Cases({
      config: cfg,
      db,
      bus: this.bus,
      log: this.log,
      registry,
      broker,
      events: () => events.index,
      clips,
      audit,
      signer: keys,
    })
    this.#cases = cases
    // Last to start, first to stop: its final checkpoint at stop sees every entry.
    const checkpoints = new Checkpointer({
      db,
      dataDir: cfg.dataDir,
      keys,
      every: cfg.evidence.checkpointEvery,
      intervalMs: cfg.evidence.checkpointIntervalMs,
      log: this.log,
      chains: () => [
        { chain: 'audit', ...audit.head() },
        ...cases.custody
          .heads()
          .map((h) => ({ chain: `custody:${h.caseId}`, entries: h.entries, head: h.head })),
      ],
    })
    this.#checkpoints = checkpoints
    audit.onAppend((e) => checkpoints.auditAppended(e.seq))
    const verifyAllLogs = () =>
      verifyLogs(
        logSourcesFrom({
          audit,
          custody: cases.custody,
          dbCheckpoints: checkpointsInDb(db),
          fileCheckpoints: checkpointsInFile(cfg.dataDir),
          keys: keys.list(),
        }),
      )
    for (const f of [
      audit,
      events,
      ingest,
      presence,
      rules,
      clips,
      broker,
      cases,
      checkpoints,
    ] as Feature[]) {
      await f.start()
      this.#started.push(f)
    }

    const app = await buildHttp({ log: this.log, tokens })
    await app.register(registryRoutes, { registry, live: presence })
    await app.register(opsRoutes, { presence, registry, influx: () => this.#influx, metrics: this.metrics })
    await app.register(alertsRoute, { hub: this.hub })
    await app.register(eventRoutes, { index: () => events.index, clips })
    await app.register(clipRoutes, { clips, registry, maxBytes: cfg.clips.maxBytes, audit })
    await app.register(holdRoutes, { clips, audit })
    await app.register(auditRoutes, { audit, verify: verifyAllLogs })
    await app.register(evidenceRoutes, { keys })
    await app.register(tokenRoutes, { tokens, audit })
    await app.register(ownerRoutes, { registry, live: presence, index: () => events.index, clips, audit })
    await app.register(caseRoutes, { cases, audit })
    await app.register(consentRoutes, { cases })
    await app.register(pullUploadRoutes, {
      uploads: () => cases.uploads,
      registry,
      maxBytes: cfg.clips.maxBytes,
    })
    await app.listen({ host: cfg.host, port: cfg.httpPort })
    this.#http = app
    this.log.info({ http: this.httpUrl, mqtt: this.mqttUrl }, 'gateway ready')
  }

  /** Graceful: stop taking traffic, flush ingest, close InfluxDB and the database. */
  async stop(): Promise<void> {
    if (this.#schemaRetry) clearTimeout(this.#schemaRetry)
    await this.#http?.close()
    this.#http = null
    for (const f of this.#started.reverse()) {
      try {
        await f.stop()
      } catch (err) {
        this.log.error({ err, feature: f.name }, 'feature failed to stop')
      }
    }
    this.#started = []
    await this.#influxd?.stop()
    this.#influxd = null
    this.#db?.close()
    this.#db = null
  }

  #bootstrapAdmin(tokens: TokenStore): void {
    if (this.config.adminToken) {
      tokens.setBootstrapToken(this.config.adminToken)
      return
    }
    if (tokens.hasActiveAdmin()) return
    const { token } = tokens.issue('bootstrap-admin', 'admin')
    if (this.#opts.onAdminToken) this.#opts.onAdminToken(token)
    else process.stdout.write(`\nAdmin token (shown once, store it now): ${token}\n\n`)
  }

  async #startInflux(): Promise<void> {
    const cfg = this.config
    let url = cfg.influx.url
    if (!url) {
      this.#influxd = new ManagedInfluxd({
        dataDir: path.join(cfg.dataDir, 'influxdb'),
        bin: cfg.influx.influxdBin,
        log: this.log,
      })
      url = await this.#influxd.start()
      this.log.info({ url }, 'managed influxd started')
    }
    const influx = new InfluxStore({ url, db: cfg.influx.db, log: this.log })
    this.#influx = influx
    // An external InfluxDB that is down at start must not stop ingest: the spool takes the traffic.
    const ensure = async (delay: number): Promise<void> => {
      try {
        await influx.ensureSchema()
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, retryInMs: delay },
          'InfluxDB schema not ready; retrying',
        )
        this.#schemaRetry = setTimeout(() => void ensure(Math.min(delay * 2, 30_000)), delay)
        this.#schemaRetry.unref()
      }
    }
    await ensure(1000)
  }
}

function must<T>(v: T | null, what: string): T {
  if (v === null) throw new Error(`gateway is not started (${what})`)
  return v
}
