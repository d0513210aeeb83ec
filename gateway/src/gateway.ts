import fs from 'node:fs'
import type https from 'node:https'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { ALERT_RING, AlertHub, AlertRules, alertsRoute, RedisAlertRelay } from './alerts/index.js'
import { AuditLog, auditRoutes } from './audit/index.js'
import { AuthThrottle, TokenStore } from './auth/index.js'
import { markStopped, writeRunState } from './backup/index.js'
import { Cases, caseRoutes, consentRoutes, pullUploadRoutes } from './cases/index.js'
import { Clips, clipRoutes, holdRoutes } from './clips/index.js'
import type { Config } from './config.js'
import { type Db, openDb, openPostgres, postgresTarget, type SharedDb, sqliteSharedDb } from './db/index.js'
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
import { Firmware, firmwareRoutes } from './firmware/index.js'
import { buildHttp, closeHttps, listenHttps, opsRoutes } from './http/index.js'
import { InfluxStore, ManagedInfluxd } from './influx/index.js'
import { Ingest } from './ingest/index.js'
import { createLogger, type Logger } from './log.js'
import { createMetrics, type Metrics } from './metrics.js'
import { MqttBroker } from './mqtt/index.js'
import { Notifier, notifyRoutes } from './notify/index.js'
import { ownerRoutes, tokenRoutes } from './people/index.js'
import { Presence, RedisPresence } from './presence/index.js'
import { ProcessWatch } from './process-metrics.js'
import { mapRoute, registryRoutes, StoredDeviceRegistry } from './registry/index.js'
import { TlsCredentials, type TlsReload } from './tls/index.js'
import { UnitConfigs, unitConfigRoutes } from './unit-config/index.js'
import {
  type FreeSpace,
  POSTGRES_FEATURES,
  prepareUpgrade,
  recordRelease,
  repageDatabase,
} from './upgrade/index.js'

export interface GatewayOptions {
  log?: Logger
  /** Free bytes where the pre-upgrade backup goes (statfs); a test of the no-room refusal sets it. */
  freeSpace?: FreeSpace
}

/** Where a generated admin token is left for the operator, under the data directory (mode 0600). */
export const ADMIN_TOKEN_FILE = 'admin-token'

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
  #db: Db | null = null
  #shared: SharedDb | null = null
  #registry: StoredDeviceRegistry | null = null
  #tokens: TokenStore | null = null
  #influxd: ManagedInfluxd | null = null
  #influx: InfluxStore | null = null
  #ingest: Ingest | null = null
  #presence: Presence | null = null
  #events: Events | null = null
  #clips: Clips | null = null
  #audit: AuditLog | null = null
  #cases: Cases | null = null
  #firmware: Firmware | null = null
  #keys: EvidenceKeyring | null = null
  #checkpoints: Checkpointer | null = null
  #notifier: Notifier | null = null
  #broker: MqttBroker | null = null
  #http: FastifyInstance | null = null
  #tls: TlsCredentials | null = null
  #https: https.Server | null = null
  #started: Feature[] = []
  #schemaRetry: NodeJS.Timeout | null = null
  readonly #freeSpace: FreeSpace | undefined
  readonly #process = new ProcessWatch()

  constructor(config: Readonly<Config>, opts: GatewayOptions = {}) {
    this.config = config
    this.#freeSpace = opts.freeSpace
    const log = opts.log ?? createLogger(config.logLevel, config.logFormat)
    // Several gateways sharing Redis write to one place: each line says which one wrote it.
    this.log = config.cluster.redisUrl ? log.child({ node: config.cluster.nodeId }) : log
    this.metrics = createMetrics({
      ...(config.cluster.redisUrl ? { node: config.cluster.nodeId, redis: true } : {}),
      database: config.cluster.databaseUrl !== null,
    })
    this.bus = new EventBus(this.log)
    this.hub = new AlertHub(this.metrics)
  }

  get registry(): StoredDeviceRegistry {
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
  get firmware(): Firmware {
    return must(this.#firmware, 'firmware')
  }
  get evidenceKeys(): EvidenceKeyring {
    return must(this.#keys, 'evidence keys')
  }
  get checkpoints(): Checkpointer {
    return must(this.#checkpoints, 'checkpoints')
  }
  get notifier(): Notifier {
    return must(this.#notifier, 'notifier')
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
  /** Where the shared state is: this gateway's SQLite, or the PostgreSQL of DOORSTEP_DATABASE_URL. */
  get shared(): SharedDb {
    return must(this.#shared, 'shared database')
  }
  /** The plain MQTT URL, or the TLS one when the plain port is off. */
  get mqttUrl(): string {
    if (this.config.plainHost === null) return this.mqttsUrl
    return `mqtt://${this.config.plainHost}:${this.broker.port}`
  }
  get mqttsUrl(): string {
    return `mqtts://${this.config.host}:${this.broker.tlsPort}`
  }
  /** The plain HTTP URL, or the HTTPS one when the plain port is off. */
  get httpUrl(): string {
    if (this.config.plainHost === null) return this.httpsUrl
    const a = this.http.server.address()
    const port = a && typeof a === 'object' ? a.port : this.config.httpPort
    return `http://${this.config.plainHost}:${port}`
  }
  /** The HTTPS server when TLS is on. */
  get httpsServer(): https.Server | null {
    return this.#https
  }
  get httpsUrl(): string {
    const a = must(this.#https, 'https').address()
    const port = a && typeof a === 'object' ? a.port : this.config.httpsPort
    return `https://${this.config.host}:${port}`
  }

  /**
   * Re-reads the TLS certificate and key (SIGHUP in `npm start`) and serves them to new connections;
   * open ones keep going. Throws, keeping the old certificate, when the new files cannot be used.
   */
  reloadTls(): TlsReload {
    return must(this.#tls, 'tls (no DOORSTEP_TLS_CERT)').reload()
  }

  async start(): Promise<void> {
    const cfg = this.config
    fs.mkdirSync(cfg.dataDir, { recursive: true })
    // Before anything opens a database: a newer release's is refused untouched, an older one is
    // backed up before the features below migrate it as they start.
    const upgrade = await prepareUpgrade({
      dataDir: cfg.dataDir,
      influxDb: cfg.influx.db,
      log: this.log,
      freeSpace: this.#freeSpace,
      elsewhere: cfg.cluster.databaseUrl ? POSTGRES_FEATURES : [],
    })
    // A database of an earlier version, made with 4 KiB pages, is copied to this release's pages.
    await repageDatabase({ dataDir: cfg.dataDir, log: this.log, freeSpace: this.#freeSpace })
    const db = openDb(path.join(cfg.dataDir, 'doorstep.db'))
    this.#db = db
    const shared = cfg.cluster.databaseUrl
      ? await openPostgres({ url: cfg.cluster.databaseUrl, nodeId: cfg.cluster.nodeId, log: this.log })
      : sqliteSharedDb(db)
    this.#shared = shared
    const registry = new StoredDeviceRegistry(shared, {
      log: this.log,
      node: cfg.cluster.nodeId,
      // Disabled or rotated through another gateway: a unit connected here is cut off here.
      onRevoked: (deviceId, reason) => this.bus.emit('device.revoked', { deviceId, reason, at: Date.now() }),
    })
    await registry.load()
    this.#registry = registry
    const tokens = new TokenStore(shared)
    await tokens.load()
    this.#tokens = tokens
    await this.#bootstrapAdmin(tokens)
    // Before anything that records: exports and log checkpoints are signed with it.
    const keys = new EvidenceKeyring({
      dataDir: cfg.dataDir,
      keyFile: cfg.evidence.keyFile,
      warn: (msg) => this.log.warn(msg),
    })
    keys.load()
    this.#keys = keys
    if (cfg.tls) {
      const creds = new TlsCredentials(cfg.tls, this.log)
      this.log.info(creds.load(), 'TLS certificate loaded')
      this.#tls = creds
    }

    await this.#startInflux()
    const influx = must(this.#influx, 'influx')

    // Its index is written by ingest's spool worker, which needs the table made first (events starts first).
    const events = new Events({
      db,
      log: this.log,
      retentionDays: cfg.events.retentionDays,
      sweepIntervalMs: cfg.events.sweepIntervalMs,
      // Clips starts after events; the first sweep waits well past both.
      held: () => this.#clips?.heldEventIds() ?? new Set(),
      shared,
      node: cfg.cluster.nodeId,
      ...(cfg.cluster.databaseUrl ? { sharedTarget: postgresTarget(cfg.cluster.databaseUrl) } : {}),
    })
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
    // Gateways sharing Redis share presence: every node reads the whole fleet's state.
    const presenceShare = cfg.cluster.redisUrl
      ? new RedisPresence({
          url: cfg.cluster.redisUrl,
          nodeId: cfg.cluster.nodeId,
          log: this.log,
          known: (id) => registry.get(id) !== undefined,
          graceMs: cfg.presence.graceMs,
        })
      : null
    const presence = new Presence({
      config: cfg,
      bus: this.bus,
      registry,
      writeLine: (l) => ingest.writeLine(l),
      share: presenceShare,
    })
    this.#presence = presence
    const rules = new AlertRules({ bus: this.bus, hub: this.hub, config: cfg })
    // Gateways sharing Redis share their alerts too: numbered by the cluster, seen on every node.
    const relay = cfg.cluster.redisUrl
      ? new RedisAlertRelay({
          url: cfg.cluster.redisUrl,
          nodeId: cfg.cluster.nodeId,
          hub: this.hub,
          log: this.log,
          capacity: ALERT_RING,
        })
      : null
    const broker = new MqttBroker({
      config: cfg,
      registry,
      ingest,
      bus: this.bus,
      log: this.log,
      metrics: this.metrics,
      ...(this.#tls ? { tls: this.#tls } : {}),
      ...(presenceShare ? { sessionElsewhere: (id: string) => presenceShare.sessionElsewhere(id) } : {}),
    })
    this.#broker = broker
    const clips = new Clips({
      config: cfg,
      shared,
      events: () => events.clipEvents,
      log: this.log,
      bus: this.bus,
    })
    this.#clips = clips
    const audit = new AuditLog({ shared, log: this.log })
    this.#audit = audit
    // As the cluster last heard: that gateway sends the unit's pulls and offers.
    const connectedElsewhere = (id: string) => {
      const e = presence.share?.get(id)
      return !!e && e.node !== cfg.cluster.nodeId && (e.state === 'online' || e.state === 'stale')
    }
    // After the broker: pulls go out over it, and its subscriptions say which units listen.
    const cases = new Cases({
      config: cfg,
      shared,
      bus: this.bus,
      log: this.log,
      registry,
      broker,
      events: () => events.index,
      reader: () => events.reader,
      clips,
      audit,
      signer: keys,
      connectedElsewhere,
    })
    this.#cases = cases
    const configs = new UnitConfigs({ db, registry, broker, bus: this.bus, log: this.log })
    const firmware = new Firmware({
      config: cfg,
      shared,
      bus: this.bus,
      log: this.log,
      registry,
      broker,
      audit,
      connectedElsewhere,
    })
    this.#firmware = firmware
    // Last to start, first to stop: its final checkpoint at stop sees every entry.
    const checkpoints = new Checkpointer({
      db,
      dataDir: cfg.dataDir,
      keys,
      every: cfg.evidence.checkpointEvery,
      intervalMs: cfg.evidence.checkpointIntervalMs,
      log: this.log,
      chains: async () => [
        { chain: 'audit', ...(await audit.head()) },
        ...(await cases.custody.heads()).map((h) => ({
          chain: `custody:${h.caseId}`,
          entries: h.entries,
          head: h.head,
        })),
      ],
    })
    this.#checkpoints = checkpoints
    const notifier = new Notifier({ db, bus: this.bus, config: cfg, log: this.log })
    this.#notifier = notifier
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
      this.#process,
      audit,
      events,
      ingest,
      ...(presenceShare ? [presenceShare] : []),
      presence,
      ...(relay ? [relay] : []),
      rules,
      clips,
      broker,
      cases,
      configs,
      firmware,
      notifier,
      checkpoints,
    ] as Feature[]) {
      await f.start()
      this.#started.push(f)
    }
    recordRelease(db)
    if (upgrade) {
      this.log.info({ from: upgrade.from, to: upgrade.to, backup: upgrade.backup }, 'databases upgraded')
    }

    const throttle = new AuthThrottle(cfg.authThrottle)
    const tls = this.#tls
    this.metrics.observe({
      health: () => presence.health(),
      mediaQueued: () => clips.mediaQueued(),
      clipDisk: async () => {
        const used = await clips.diskUsedRatio()
        return used === null
          ? null
          : { usedRatio: used, watermarkRatio: cfg.clips.diskHighWatermarkPct / 100 }
      },
      tlsNotAfter: () => tls?.notAfter() ?? [],
      authFailures: () => throttle.failuresTotal,
      clipsRemoved: () => clips.removedCounts(),
      eventsRemoved: () => events.removedTotal,
      process: () => this.#process.read(),
      dependencies: () => ({
        redis: broker.redisUp,
        database: shared.dialect === 'postgres' ? shared.up() : null,
      }),
      eventOutbox: () => events.shipper?.pending() ?? null,
    })
    const app = await buildHttp({
      log: this.log,
      tokens,
      throttle,
      bus: this.bus,
      trustedProxies: cfg.cluster.trustedProxies,
    })
    await app.register(registryRoutes, { registry, live: presence, audit, bus: this.bus })
    await app.register(mapRoute, { registry, live: presence, tiles: cfg.mapTiles })
    await app.register(opsRoutes, { presence, registry, influx: () => this.#influx, metrics: this.metrics })
    await app.register(alertsRoute, { hub: this.hub, tokens, bus: this.bus })
    await app.register(eventRoutes, { reader: () => events.reader, clips })
    await app.register(clipRoutes, { clips, registry, maxBytes: cfg.clips.maxBytes, audit })
    await app.register(holdRoutes, { clips, audit })
    await app.register(auditRoutes, { audit, verify: verifyAllLogs })
    await app.register(notifyRoutes, { notifier, audit })
    await app.register(evidenceRoutes, { keys })
    await app.register(tokenRoutes, { tokens, audit, bus: this.bus })
    await app.register(ownerRoutes, {
      registry,
      live: presence,
      reader: () => events.reader,
      clips,
      audit,
    })
    await app.register(caseRoutes, { cases, audit })
    await app.register(consentRoutes, { cases })
    await app.register(unitConfigRoutes, { configs, audit })
    await app.register(pullUploadRoutes, {
      uploads: () => cases.uploads,
      registry,
      maxBytes: cfg.clips.maxBytes,
    })
    await app.register(firmwareRoutes, { firmware, registry, audit, maxBytes: cfg.firmware.maxBytes })
    this.#http = app
    if (cfg.plainHost !== null) await app.listen({ host: cfg.plainHost, port: cfg.httpPort })
    else await app.ready()
    if (this.#tls) {
      const server = this.#tls.httpsServer()
      this.#https = server
      await listenHttps(app, server, { host: cfg.host, port: cfg.httpsPort })
    }
    const urls = this.#tls
      ? { http: this.httpUrl, mqtt: this.mqttUrl, https: this.httpsUrl, mqtts: this.mqttsUrl }
      : { http: this.httpUrl, mqtt: this.mqttUrl }
    // For `doorstep backup` in another process: the config in force and the managed influxd's RPC port.
    // Serving does not depend on it: a failed write is a warning (the backup then says it found none).
    await writeRunState(cfg, {
      url: this.#influxd?.url ?? cfg.influx.url ?? '',
      rpcAddress: this.#influxd?.rpcAddress ?? null,
    }).catch((err: Error) => this.log.warn({ err: err.message }, 'could not write the run state file'))
    this.log.info(urls, 'gateway ready')
  }

  /** Graceful: stop taking traffic, flush ingest, close InfluxDB and the database. */
  async stop(): Promise<void> {
    if (this.#schemaRetry) clearTimeout(this.#schemaRetry)
    const httpsClosed = this.#https ? closeHttps(this.#https) : Promise.resolve()
    this.#https = null
    await markStopped(this.config.dataDir).catch(() => {})
    await this.#http?.close()
    this.#http = null
    await httpsClosed
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
    await this.#shared?.close()
    this.#shared = null
    this.#db?.close()
    this.#db = null
  }

  /**
   * DOORSTEP_ADMIN_TOKEN works until it is retired; with none (or a retired one) and no stored
   * admin token, one is issued and left in `<dataDir>/admin-token`, readable by the gateway's user
   * only: a log is copied, shipped and kept, and a token in it would live wherever the log goes.
   */
  async #bootstrapAdmin(tokens: TokenStore): Promise<void> {
    const configured = this.config.adminToken
    if (configured) {
      if (await tokens.setBootstrapToken(configured)) return
      this.log.warn(
        { retiredAt: await tokens.bootstrapRetiredAt() },
        'DOORSTEP_ADMIN_TOKEN was retired and is ignored; use a stored admin token',
      )
    }
    if (await tokens.hasActiveAdmin()) return
    const { token } = await tokens.issue('bootstrap-admin', 'admin')
    const file = path.join(this.config.dataDir, ADMIN_TOKEN_FILE)
    // A file left from before may have looser permissions: write a new one, created 0600.
    fs.rmSync(file, { force: true })
    const fd = fs.openSync(file, 'wx', 0o600)
    try {
      fs.fchmodSync(fd, 0o600)
      fs.writeSync(fd, `${token}\n`)
    } finally {
      fs.closeSync(fd)
    }
    this.log.warn({ file }, 'generated an admin token; it is in this file (mode 0600), read it and delete it')
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
