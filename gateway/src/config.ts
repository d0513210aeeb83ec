import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()

/** A node's name: it goes into MQTT `$SYS/` topics and Redis keys, so no `/`, `+`, `#`, `:` or spaces. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** `10.0.0.5`, `10.0.0.0/8`, `fd00::/8`: an address, or one with a prefix length its family allows. */
function isAddressOrBlock(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/')
  const family = net.isIP(address)
  if (family === 0 || extra !== undefined) return false
  if (prefix === undefined) return true
  const bits = Number(prefix)
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128)
}

/** The host's name and this process's pid, cut to what a node id allows. */
function defaultNodeId(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'node'
  return `${host.slice(0, 50)}-${process.pid}`
}

/**
 * The whole configuration as one schema: environment variable name → rule and
 * default. Validated once at start, every problem reported together, then frozen.
 */
const ENV_SCHEMA = {
  DOORSTEP_HOST: z.string().min(1).default('127.0.0.1'),
  DOORSTEP_MQTT_PORT: port.default(1883),
  DOORSTEP_HTTP_PORT: port.default(8080),
  DOORSTEP_DATA_DIR: z.string().min(1).default('./data'),
  DOORSTEP_SHARED_DIR: z.string().min(1).optional(),
  DOORSTEP_INFLUX_URL: z.url({ protocol: /^https?$/ }).optional(),
  DOORSTEP_INFLUX_DB: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/)
    .default('doorstep'),
  DOORSTEP_INFLUXD_BIN: z.string().min(1).default('influxd'),
  DOORSTEP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Failed bearer or HTTP Basic authentications one address may make per window before it gets 429. */
  DOORSTEP_AUTH_FAIL_LIMIT: positiveInt.max(1_000_000).default(20),
  /** The window those failures are counted over, and how long an address that exceeds them waits, s. */
  DOORSTEP_AUTH_FAIL_WINDOW_S: positiveInt.max(86_400).default(60),
  DOORSTEP_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json` lines (for journald and log shippers), `pretty` for a person at a terminal, `auto`: pretty on a TTY. */
  DOORSTEP_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Points per InfluxDB write. */
  DOORSTEP_BATCH_SIZE: positiveInt.max(50_000).default(5000),
  /** Longest a point waits in memory before its batch is written, ms. */
  DOORSTEP_FLUSH_MS: positiveInt.max(60_000).default(250),
  /** Points held in memory before ingest pushes back on the MQTT sockets. */
  DOORSTEP_QUEUE_MAX: positiveInt.default(100_000),
  /** Most bytes the on-disk spool may hold before new QoS 1 publishes are refused. */
  DOORSTEP_SPOOL_MAX_BYTES: positiveInt.default(1024 ** 3),
  /** Largest MQTT payload accepted from a unit, bytes. */
  DOORSTEP_MAX_PAYLOAD_BYTES: positiveInt.max(1024 * 1024).default(16 * 1024),
  /**
   * Largest MQTT packet (remaining length: topic, packet id and payload) a unit may declare once
   * connected; a larger one closes the connection before its bytes are buffered. Unset: four times
   * DOORSTEP_MAX_PAYLOAD_BYTES, so a payload a little over the limit is still counted and acknowledged
   * as too large rather than cutting the unit off.
   */
  DOORSTEP_MQTT_MAX_PACKET_BYTES: positiveInt.max(16 * 1024 ** 2).optional(),
  /** hello messages applied per unit per minute; the rest are acknowledged, counted and dropped. */
  DOORSTEP_HELLO_MAX_PER_MIN: positiveInt.max(600).default(6),
  /** Interval units are expected to send heartbeats at, seconds. */
  DOORSTEP_HEARTBEAT_INTERVAL_S: positiveInt.default(30),
  /** Delay before an offline transition is published, so a reconnect blip does not flap, ms. */
  DOORSTEP_PRESENCE_GRACE_MS: z.coerce.number().int().nonnegative().default(5000),
  /** New MQTT connections admitted per second; excess get CONNACK 3 (server unavailable). */
  DOORSTEP_CONNECT_RATE: positiveInt.default(1000),
  /**
   * New MQTT connections admitted per second by all the gateways sharing DOORSTEP_REDIS_URL together,
   * beside each one's own DOORSTEP_CONNECT_RATE. Unset: each gateway's own rate only.
   */
  DOORSTEP_CLUSTER_CONNECT_RATE: positiveInt.optional(),
  /** New MQTT connections admitted per second from one source address (many units may share one NAT). */
  DOORSTEP_CONNECT_RATE_PER_ADDRESS: positiveInt.default(100),
  /** A unit's session younger than this is not taken over by another connection with its id, ms. */
  DOORSTEP_TAKEOVER_HOLD_MS: z.coerce.number().int().nonnegative().max(600_000).default(15_000),
  /** Clips are kept this long, days; a fraction is allowed (a soak run expires clips within minutes). */
  DOORSTEP_CLIP_RETENTION_DAYS: z.coerce.number().positive().default(30),
  /** Events are kept in the event index this long, days; a fraction is allowed, as for clips. */
  DOORSTEP_EVENT_RETENTION_DAYS: z.coerce.number().positive().default(365),
  /** How often the clip retention and disk-pressure sweep runs, s. */
  DOORSTEP_CLIP_SWEEP_INTERVAL_S: positiveInt.max(86_400).default(600),
  /** How often the event index drops what is past retention, s (the first sweep waits a minute after start). */
  DOORSTEP_EVENT_SWEEP_INTERVAL_S: positiveInt.max(7 * 86_400).default(6 * 3600),
  /**
   * Room the clips may take, bytes: set, the disk-pressure eviction reads the clips' own bytes against it
   * instead of the clip disk's `statfs` (clips on a disk shared with other data, or a soak run that
   * must see eviction without filling a disk). Unset: the disk as `statfs` reports it.
   */
  DOORSTEP_CLIP_DISK_BYTES: positiveInt.optional(),
  DOORSTEP_CLIP_MAX_BYTES: positiveInt.default(512 * 1024 ** 2),
  /** Percentage of the clip disk in use at which oldest unheld clips are evicted. */
  DOORSTEP_DISK_HIGH_WATERMARK_PCT: z.coerce.number().min(1).max(100).default(90),
  /** Units below this share of free storage raise a low-storage alert, percent. */
  DOORSTEP_LOW_STORAGE_PCT: z.coerce.number().min(0).max(100).default(10),
  /** Units of one district that upload pulled footage at once; the rest wait their turn. */
  DOORSTEP_PULL_DISTRICT_CONCURRENCY: positiveInt.max(1000).default(2),
  /** Units of one district downloading a firmware image at once, unless a campaign says fewer or more. */
  DOORSTEP_FIRMWARE_DISTRICT_CONCURRENCY: positiveInt.max(1000).default(5),
  /** Largest firmware image an admin may upload, bytes. */
  DOORSTEP_FIRMWARE_MAX_BYTES: positiveInt.default(256 * 1024 ** 2),
  /**
   * The firmware signing key (Ed25519, PKCS#8 PEM); unset: generated under the data dir on first start.
   * Gateways of a cluster are given the same file: units trust one key.
   */
  DOORSTEP_FIRMWARE_KEY_FILE: z.string().min(1).optional(),
  /** Bytes of clips one unit may have stored and in open uploads; past it, its new uploads are refused. */
  DOORSTEP_UNIT_CLIP_QUOTA_BYTES: positiveInt.default(4 * 1024 ** 3),
  /** Unfinished clip uploads (partial files) one unit may have open at once. */
  DOORSTEP_UNIT_OPEN_UPLOADS: positiveInt.max(1000).default(4),
  /** Longest an ffprobe or ffmpeg run may take before it is killed, ms. */
  DOORSTEP_MEDIA_TIMEOUT_MS: positiveInt.max(600_000).default(30_000),
  /** How far ahead of the gateway's clock an event may be dated; later times are clamped to it, s. */
  DOORSTEP_EVENT_FUTURE_TOLERANCE_S: z.coerce.number().int().nonnegative().default(300),
  /** How far behind the gateway's clock an event may be dated (a unit's backlog); earlier times are clamped, s. */
  DOORSTEP_EVENT_PAST_TOLERANCE_S: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(7 * 86_400),
  /** MQTT over TLS port; open only with a certificate. */
  DOORSTEP_MQTTS_PORT: port.default(8883),
  /** HTTPS and WSS port; open only with a certificate. */
  DOORSTEP_HTTPS_PORT: port.default(8443),
  /** The server certificate chain (PEM); with the key it turns TLS on. Re-read on SIGHUP. */
  DOORSTEP_TLS_CERT: z.string().min(1).optional(),
  /** The certificate's private key (PEM). Re-read on SIGHUP. */
  DOORSTEP_TLS_KEY: z.string().min(1).optional(),
  /** CA (PEM) that signs units' certificates: MQTT over TLS then requires one whose CN is the unit's id. */
  DOORSTEP_TLS_CLIENT_CA: z.string().min(1).optional(),
  /** With TLS on, `loopback` keeps the plain ports open on 127.0.0.1 (for a local reverse proxy). */
  DOORSTEP_PLAIN_LISTENERS: z.enum(['off', 'loopback']).default('off'),
  /** The evidence signing key (Ed25519, PKCS#8 PEM); unset: generated under the data dir on first start. */
  DOORSTEP_EVIDENCE_KEY_FILE: z.string().min(1).optional(),
  /** The audit and custody logs' heads are signed every this many audit entries... */
  DOORSTEP_CHECKPOINT_EVERY: positiveInt.max(1_000_000).default(100),
  /** ...and at least this often while they grow, ms. */
  DOORSTEP_CHECKPOINT_INTERVAL_MS: positiveInt.min(1000).default(5 * 60_000),
  /** Tries per notification delivery (webhook, email, push) before it is a dead letter. */
  DOORSTEP_NOTIFY_ATTEMPTS: positiveInt.max(20).default(6),
  /** Wait before the first retry, ms; doubled each try (with full jitter), at most ten minutes. */
  DOORSTEP_NOTIFY_RETRY_BASE_MS: positiveInt.max(600_000).default(2000),
  /** Longest one delivery try may take, ms. */
  DOORSTEP_NOTIFY_TIMEOUT_MS: positiveInt.max(120_000).default(10_000),
  /** Offline timers, repeat windows and deliveries pending held at once (each apart); past it, new ones are refused and counted. */
  DOORSTEP_NOTIFY_MAX_TIMERS: positiveInt.max(10_000_000).default(100_000),
  /** SMTP server for email notifications; unset: email channels fail their deliveries. */
  DOORSTEP_SMTP_HOST: z.string().min(1).optional(),
  DOORSTEP_SMTP_PORT: port.default(587),
  /** `starttls`: required upgrade; `implicit`: TLS from the first byte (465); `off`: plain (loopback relays only). */
  DOORSTEP_SMTP_TLS: z.enum(['starttls', 'implicit', 'off']).default('starttls'),
  DOORSTEP_SMTP_USER: z.string().min(1).optional(),
  DOORSTEP_SMTP_PASSWORD: z.string().min(1).optional(),
  DOORSTEP_SMTP_FROM: z.string().min(3).default('Doorstep <doorstep@localhost>'),
  /** Contact in every Web Push request's VAPID token (`mailto:` or `https:`), for push services to reach the operator. */
  DOORSTEP_PUSH_SUBJECT: z
    .string()
    .regex(/^(mailto:|https:\/\/)\S+$/, 'must be a mailto: or https: URL')
    .default('mailto:doorstep@example.org'),
  /** Map tiles for the dashboard, an XYZ template; unset: units and districts on a plain background. */
  DOORSTEP_MAP_TILES: z
    .url({ protocol: /^https?$/ })
    .refine((u) => ['{z}', '{x}', '{y}'].every((p) => u.includes(p)), 'must contain {z}, {x} and {y}')
    .optional(),
  /** Credit the tile source asks for, shown in the map's corner. */
  DOORSTEP_MAP_ATTRIBUTION: z.string().max(500).default(''),
  /** The deepest zoom the tile source serves. */
  DOORSTEP_MAP_MAX_ZOOM: z.coerce.number().int().min(1).max(22).default(19),
  /**
   * Redis shared by several gateways: MQTT routing, retained messages and persistent sessions go through
   * it. Unset: one gateway, aedes in memory.
   */
  DOORSTEP_REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  /**
   * PostgreSQL shared by several gateways: the device registry and tokens live there (more of the shared state
   * follows). Unset: each gateway's own SQLite file.
   */
  DOORSTEP_DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
    .optional(),
  /** This gateway's name among the nodes sharing DOORSTEP_REDIS_URL (logs, the broker's id). */
  DOORSTEP_NODE_ID: z
    .string()
    .regex(
      NODE_ID,
      'must be 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    )
    .default(defaultNodeId),
  /**
   * Load balancers in front of the gateways (comma-separated addresses or CIDR blocks). Their MQTT
   * connections must open with a PROXY protocol header (v1 or v2) naming the unit's address; their
   * HTTP requests' X-Forwarded-For names the client's. Empty: every peer is the client itself.
   */
  DOORSTEP_TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    )
    .pipe(
      z.array(
        z
          .string()
          .refine(isAddressOrBlock, 'each entry must be an IP address or a CIDR block like 10.0.0.0/8'),
      ),
    ),
} as const

const EnvSchema = z.object(ENV_SCHEMA)

/**
 * What a PUBLISH carries beside its payload, with room to spare: a 2-byte topic length, a unit's
 * longest topic (`cam/{64-character id}/cmd/ack`, 77 bytes) and a 2-byte packet id.
 */
const PACKET_OVERHEAD_BYTES = 1024

/** PEM files TLS is served from; paths, because SIGHUP re-reads them. */
export interface TlsFiles {
  cert: string
  key: string
  /** Set: units' MQTT connections need a certificate from this CA. */
  clientCa: string | undefined
}

export interface Config {
  host: string
  mqttPort: number
  httpPort: number
  /** Where the plain MQTT and HTTP ports bind; null when TLS is on and they are off. */
  plainHost: string | null
  mqttsPort: number
  httpsPort: number
  /** Null: no TLS, plain listeners only. */
  tls: TlsFiles | null
  dataDir: string
  /**
   * Where files every gateway of a cluster must reach are kept (pulled recordings): a directory they
   * all mount, as over NFS. The data dir on a gateway of its own.
   */
  sharedDir: string
  influx: { url: string | undefined; db: string; influxdBin: string }
  adminToken: string | undefined
  /** Throttling of failed bearer / HTTP Basic authentications, per client address. */
  authThrottle: { limit: number; windowMs: number }
  logLevel: z.infer<typeof ENV_SCHEMA.DOORSTEP_LOG_LEVEL>
  logFormat: 'json' | 'pretty'
  ingest: {
    batchSize: number
    flushMs: number
    queueMax: number
    spoolMaxBytes: number
    maxPayloadBytes: number
    helloMaxPerMin: number
    /** Event times a unit claims are clamped to [arrival - pastToleranceMs, arrival + futureToleranceMs]. */
    eventFutureToleranceMs: number
    eventPastToleranceMs: number
  }
  presence: { heartbeatIntervalS: number; graceMs: number; lowStoragePct: number }
  admission: {
    connectRate: number
    connectRatePerAddress: number
    /** Null: no budget shared by the cluster's gateways. */
    clusterConnectRate: number | null
    takeoverHoldMs: number
  }
  mqtt: { maxPacketBytes: number }
  events: { retentionDays: number; sweepIntervalMs: number }
  clips: {
    retentionDays: number
    sweepIntervalMs: number
    /** Null: the clip disk as `statfs` reports it. */
    diskBytes: number | null
    maxBytes: number
    diskHighWatermarkPct: number
    unitQuotaBytes: number
    unitOpenUploads: number
  }
  media: { timeoutMs: number }
  cases: { pullDistrictConcurrency: number }
  firmware: { districtConcurrency: number; maxBytes: number; keyFile: string | undefined }
  evidence: { keyFile: string | undefined; checkpointEvery: number; checkpointIntervalMs: number }
  notify: {
    attempts: number
    retryBaseMs: number
    timeoutMs: number
    maxTimers: number
    /** Null: no SMTP server configured. */
    smtp: {
      host: string
      port: number
      tls: 'starttls' | 'implicit' | 'off'
      user: string | undefined
      password: string | undefined
      from: string
    } | null
    pushSubject: string
  }
  /** Null: the dashboard's map draws without tiles. */
  mapTiles: { url: string; attribution: string; maxZoom: number } | null
  cluster: {
    /** This gateway's name among the nodes. */
    nodeId: string
    /** Null: a single gateway, MQTT state in memory. A secret may sit in it: never log it as is. */
    redisUrl: string | null
    /** Null: the shared state in this gateway's SQLite. A password may sit in it: never log it as is. */
    databaseUrl: string | null
    /** Load balancers whose PROXY headers and X-Forwarded-For are believed: addresses or CIDR blocks. */
    trustedProxies: string[]
  }
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** The config variables, with their default, for docs and `--help`. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(ENV_SCHEMA)

/**
 * Builds the config from an environment (usually `process.env`). Throws a
 * ConfigError naming each bad variable and what it allows. Values never echo
 * back: a mistyped token must not land in a log.
 */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  const raw: Record<string, string | undefined> = {}
  for (const key of CONFIG_VARIABLES) {
    const v = env[key]
    raw[key] = v === '' ? undefined : v
  }
  const unknown = Object.keys(env).filter((k) => k.startsWith('DOORSTEP_') && !(k in ENV_SCHEMA))
  const parsed = EnvSchema.safeParse(raw)
  const problems: string[] = unknown.map(
    (k) => `${k}: unknown setting (known: ${CONFIG_VARIABLES.join(', ')})`,
  )
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${String(issue.path[0])}: ${issue.message}`)
    }
  }
  if (parsed.success) problems.push(...tlsProblems(parsed.data))
  if (parsed.success) problems.push(...smtpProblems(parsed.data))
  if (parsed.success && parsed.data.DOORSTEP_CLUSTER_CONNECT_RATE && !parsed.data.DOORSTEP_REDIS_URL) {
    problems.push(
      'DOORSTEP_CLUSTER_CONNECT_RATE: needs DOORSTEP_REDIS_URL (the gateways share the rate through it)',
    )
  }
  const e = parsed.success ? parsed.data : null
  // Room for the topic and packet id beside the largest payload: any smaller and valid payloads are cut off.
  const maxPacketBytes = e ? (e.DOORSTEP_MQTT_MAX_PACKET_BYTES ?? 4 * e.DOORSTEP_MAX_PAYLOAD_BYTES) : 0
  if (e && maxPacketBytes < e.DOORSTEP_MAX_PAYLOAD_BYTES + PACKET_OVERHEAD_BYTES) {
    problems.push(
      `DOORSTEP_MQTT_MAX_PACKET_BYTES: must be at least DOORSTEP_MAX_PAYLOAD_BYTES + ${PACKET_OVERHEAD_BYTES} (${e.DOORSTEP_MAX_PAYLOAD_BYTES + PACKET_OVERHEAD_BYTES})`,
    )
  }
  if (problems.length > 0 || !e) throw new ConfigError(problems)
  const tlsFiles: TlsFiles | null =
    e.DOORSTEP_TLS_CERT && e.DOORSTEP_TLS_KEY
      ? {
          cert: path.resolve(e.DOORSTEP_TLS_CERT),
          key: path.resolve(e.DOORSTEP_TLS_KEY),
          clientCa: e.DOORSTEP_TLS_CLIENT_CA && path.resolve(e.DOORSTEP_TLS_CLIENT_CA),
        }
      : null
  return deepFreeze({
    host: e.DOORSTEP_HOST,
    mqttPort: e.DOORSTEP_MQTT_PORT,
    httpPort: e.DOORSTEP_HTTP_PORT,
    plainHost:
      tlsFiles === null ? e.DOORSTEP_HOST : e.DOORSTEP_PLAIN_LISTENERS === 'loopback' ? '127.0.0.1' : null,
    mqttsPort: e.DOORSTEP_MQTTS_PORT,
    httpsPort: e.DOORSTEP_HTTPS_PORT,
    tls: tlsFiles,
    dataDir: path.resolve(e.DOORSTEP_DATA_DIR),
    sharedDir: path.resolve(e.DOORSTEP_SHARED_DIR ?? e.DOORSTEP_DATA_DIR),
    influx: { url: e.DOORSTEP_INFLUX_URL, db: e.DOORSTEP_INFLUX_DB, influxdBin: e.DOORSTEP_INFLUXD_BIN },
    adminToken: e.DOORSTEP_ADMIN_TOKEN,
    authThrottle: { limit: e.DOORSTEP_AUTH_FAIL_LIMIT, windowMs: e.DOORSTEP_AUTH_FAIL_WINDOW_S * 1000 },
    logLevel: e.DOORSTEP_LOG_LEVEL,
    logFormat:
      e.DOORSTEP_LOG_FORMAT === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : e.DOORSTEP_LOG_FORMAT,
    ingest: {
      batchSize: e.DOORSTEP_BATCH_SIZE,
      flushMs: e.DOORSTEP_FLUSH_MS,
      queueMax: e.DOORSTEP_QUEUE_MAX,
      spoolMaxBytes: e.DOORSTEP_SPOOL_MAX_BYTES,
      maxPayloadBytes: e.DOORSTEP_MAX_PAYLOAD_BYTES,
      helloMaxPerMin: e.DOORSTEP_HELLO_MAX_PER_MIN,
      eventFutureToleranceMs: e.DOORSTEP_EVENT_FUTURE_TOLERANCE_S * 1000,
      eventPastToleranceMs: e.DOORSTEP_EVENT_PAST_TOLERANCE_S * 1000,
    },
    presence: {
      heartbeatIntervalS: e.DOORSTEP_HEARTBEAT_INTERVAL_S,
      graceMs: e.DOORSTEP_PRESENCE_GRACE_MS,
      lowStoragePct: e.DOORSTEP_LOW_STORAGE_PCT,
    },
    admission: {
      connectRate: e.DOORSTEP_CONNECT_RATE,
      connectRatePerAddress: e.DOORSTEP_CONNECT_RATE_PER_ADDRESS,
      clusterConnectRate: e.DOORSTEP_CLUSTER_CONNECT_RATE ?? null,
      takeoverHoldMs: e.DOORSTEP_TAKEOVER_HOLD_MS,
    },
    mqtt: { maxPacketBytes },
    events: {
      retentionDays: e.DOORSTEP_EVENT_RETENTION_DAYS,
      sweepIntervalMs: e.DOORSTEP_EVENT_SWEEP_INTERVAL_S * 1000,
    },
    clips: {
      retentionDays: e.DOORSTEP_CLIP_RETENTION_DAYS,
      sweepIntervalMs: e.DOORSTEP_CLIP_SWEEP_INTERVAL_S * 1000,
      diskBytes: e.DOORSTEP_CLIP_DISK_BYTES ?? null,
      maxBytes: e.DOORSTEP_CLIP_MAX_BYTES,
      diskHighWatermarkPct: e.DOORSTEP_DISK_HIGH_WATERMARK_PCT,
      unitQuotaBytes: e.DOORSTEP_UNIT_CLIP_QUOTA_BYTES,
      unitOpenUploads: e.DOORSTEP_UNIT_OPEN_UPLOADS,
    },
    media: { timeoutMs: e.DOORSTEP_MEDIA_TIMEOUT_MS },
    cases: { pullDistrictConcurrency: e.DOORSTEP_PULL_DISTRICT_CONCURRENCY },
    firmware: {
      districtConcurrency: e.DOORSTEP_FIRMWARE_DISTRICT_CONCURRENCY,
      maxBytes: e.DOORSTEP_FIRMWARE_MAX_BYTES,
      keyFile:
        e.DOORSTEP_FIRMWARE_KEY_FILE === undefined ? undefined : path.resolve(e.DOORSTEP_FIRMWARE_KEY_FILE),
    },
    evidence: {
      keyFile:
        e.DOORSTEP_EVIDENCE_KEY_FILE === undefined ? undefined : path.resolve(e.DOORSTEP_EVIDENCE_KEY_FILE),
      checkpointEvery: e.DOORSTEP_CHECKPOINT_EVERY,
      checkpointIntervalMs: e.DOORSTEP_CHECKPOINT_INTERVAL_MS,
    },
    notify: {
      attempts: e.DOORSTEP_NOTIFY_ATTEMPTS,
      retryBaseMs: e.DOORSTEP_NOTIFY_RETRY_BASE_MS,
      timeoutMs: e.DOORSTEP_NOTIFY_TIMEOUT_MS,
      maxTimers: e.DOORSTEP_NOTIFY_MAX_TIMERS,
      smtp:
        e.DOORSTEP_SMTP_HOST === undefined
          ? null
          : {
              host: e.DOORSTEP_SMTP_HOST,
              port: e.DOORSTEP_SMTP_PORT,
              tls: e.DOORSTEP_SMTP_TLS,
              user: e.DOORSTEP_SMTP_USER,
              password: e.DOORSTEP_SMTP_PASSWORD,
              from: e.DOORSTEP_SMTP_FROM,
            },
      pushSubject: e.DOORSTEP_PUSH_SUBJECT,
    },
    mapTiles:
      e.DOORSTEP_MAP_TILES === undefined
        ? null
        : {
            url: e.DOORSTEP_MAP_TILES,
            attribution: e.DOORSTEP_MAP_ATTRIBUTION,
            maxZoom: e.DOORSTEP_MAP_MAX_ZOOM,
          },
    cluster: {
      nodeId: e.DOORSTEP_NODE_ID,
      redisUrl: e.DOORSTEP_REDIS_URL ?? null,
      databaseUrl: e.DOORSTEP_DATABASE_URL ?? null,
      trustedProxies: e.DOORSTEP_TRUSTED_PROXIES,
    },
  })
}

/** A login needs both halves, and only makes sense with a server; the password's value is never echoed. */
function smtpProblems(e: z.infer<typeof EnvSchema>): string[] {
  const { DOORSTEP_SMTP_HOST: host, DOORSTEP_SMTP_USER: user, DOORSTEP_SMTP_PASSWORD: password } = e
  if ((user || password) && !host)
    return ['DOORSTEP_SMTP_USER/DOORSTEP_SMTP_PASSWORD: need DOORSTEP_SMTP_HOST']
  if (user && !password) return ['DOORSTEP_SMTP_PASSWORD: needed with DOORSTEP_SMTP_USER']
  if (password && !user) return ['DOORSTEP_SMTP_USER: needed with DOORSTEP_SMTP_PASSWORD']
  return []
}

/**
 * The TLS files are read once here, so a missing file, an unreadable or foreign key, or a key that
 * does not belong to the certificate stops the start with a line naming the variable. Messages name
 * the file and the reason, never its content (a key must not reach a log).
 */
function tlsProblems(e: z.infer<typeof EnvSchema>): string[] {
  const { DOORSTEP_TLS_CERT: cert, DOORSTEP_TLS_KEY: key, DOORSTEP_TLS_CLIENT_CA: ca } = e
  if (!cert && !key) {
    return ca ? ['DOORSTEP_TLS_CLIENT_CA: needs DOORSTEP_TLS_CERT and DOORSTEP_TLS_KEY (TLS is off)'] : []
  }
  if (!cert) return ['DOORSTEP_TLS_CERT: needed with DOORSTEP_TLS_KEY']
  if (!key) return ['DOORSTEP_TLS_KEY: needed with DOORSTEP_TLS_CERT']
  const problems: string[] = []
  const certPem = readPem('DOORSTEP_TLS_CERT', cert, problems)
  const keyPem = readPem('DOORSTEP_TLS_KEY', key, problems)
  const caPem = ca ? readPem('DOORSTEP_TLS_CLIENT_CA', ca, problems) : undefined
  if (certPem && keyPem) {
    try {
      tls.createSecureContext({ cert: certPem, key: keyPem })
    } catch (err) {
      const reason = /mismatch/i.test((err as Error).message)
        ? 'the key does not belong to the certificate in DOORSTEP_TLS_CERT'
        : 'not a PEM private key (or the certificate is not a PEM certificate)'
      problems.push(`DOORSTEP_TLS_KEY: ${reason}`)
    }
  }
  if (caPem) {
    try {
      new X509Certificate(caPem)
    } catch {
      problems.push('DOORSTEP_TLS_CLIENT_CA: not a PEM certificate')
    }
  }
  return problems
}

function readPem(name: string, file: string, problems: string[]): Buffer | undefined {
  try {
    return fs.readFileSync(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    problems.push(`${name}: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : code})`)
    return undefined
  }
}

/** A config for tests and the simulator: the defaults, with overrides. */
export function configFrom(overrides: Record<string, string | number | undefined>): Readonly<Config> {
  const env: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(overrides)) env[k] = v === undefined ? undefined : String(v)
  return loadConfig(env)
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v)
    Object.freeze(obj)
  }
  return obj
}
