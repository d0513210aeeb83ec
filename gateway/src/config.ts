import path from 'node:path'
import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()

/**
 * The whole configuration as one schema: environment variable name → rule and
 * default. Validated once at start, every problem reported together, then frozen.
 */
const ENV_SCHEMA = {
  DOORSTEP_HOST: z.string().min(1).default('127.0.0.1'),
  DOORSTEP_MQTT_PORT: port.default(1883),
  DOORSTEP_HTTP_PORT: port.default(8080),
  DOORSTEP_DATA_DIR: z.string().min(1).default('./data'),
  DOORSTEP_INFLUX_URL: z.url({ protocol: /^https?$/ }).optional(),
  DOORSTEP_INFLUX_DB: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/)
    .default('doorstep'),
  DOORSTEP_INFLUXD_BIN: z.string().min(1).default('influxd'),
  DOORSTEP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  DOORSTEP_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  /** Interval units are expected to send heartbeats at, seconds. */
  DOORSTEP_HEARTBEAT_INTERVAL_S: positiveInt.default(30),
  /** Delay before an offline transition is published, so a reconnect blip does not flap, ms. */
  DOORSTEP_PRESENCE_GRACE_MS: z.coerce.number().int().nonnegative().default(5000),
  /** New MQTT connections admitted per second; excess get CONNACK 3 (server unavailable). */
  DOORSTEP_CONNECT_RATE: positiveInt.default(1000),
  DOORSTEP_CLIP_RETENTION_DAYS: positiveInt.default(30),
  DOORSTEP_CLIP_MAX_BYTES: positiveInt.default(512 * 1024 ** 2),
  /** Percentage of the clip disk in use at which oldest unheld clips are evicted. */
  DOORSTEP_DISK_HIGH_WATERMARK_PCT: z.coerce.number().min(1).max(100).default(90),
  /** Units below this share of free storage raise a low-storage alert, percent. */
  DOORSTEP_LOW_STORAGE_PCT: z.coerce.number().min(0).max(100).default(10),
  /** Units of one district that upload pulled footage at once; the rest wait their turn. */
  DOORSTEP_PULL_DISTRICT_CONCURRENCY: positiveInt.max(1000).default(2),
  /** The evidence signing key (Ed25519, PKCS#8 PEM); unset: generated under the data dir on first start. */
  DOORSTEP_EVIDENCE_KEY_FILE: z.string().min(1).optional(),
  /** The audit and custody logs' heads are signed every this many audit entries... */
  DOORSTEP_CHECKPOINT_EVERY: positiveInt.max(1_000_000).default(100),
  /** ...and at least this often while they grow, ms. */
  DOORSTEP_CHECKPOINT_INTERVAL_MS: positiveInt.min(1000).default(5 * 60_000),
} as const

const EnvSchema = z.object(ENV_SCHEMA)

export interface Config {
  host: string
  mqttPort: number
  httpPort: number
  dataDir: string
  influx: { url: string | undefined; db: string; influxdBin: string }
  adminToken: string | undefined
  logLevel: z.infer<typeof ENV_SCHEMA.DOORSTEP_LOG_LEVEL>
  ingest: {
    batchSize: number
    flushMs: number
    queueMax: number
    spoolMaxBytes: number
    maxPayloadBytes: number
  }
  presence: { heartbeatIntervalS: number; graceMs: number; lowStoragePct: number }
  admission: { connectRate: number }
  clips: { retentionDays: number; maxBytes: number; diskHighWatermarkPct: number }
  cases: { pullDistrictConcurrency: number }
  evidence: { keyFile: string | undefined; checkpointEvery: number; checkpointIntervalMs: number }
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
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)
  const e = parsed.data
  return deepFreeze({
    host: e.DOORSTEP_HOST,
    mqttPort: e.DOORSTEP_MQTT_PORT,
    httpPort: e.DOORSTEP_HTTP_PORT,
    dataDir: path.resolve(e.DOORSTEP_DATA_DIR),
    influx: { url: e.DOORSTEP_INFLUX_URL, db: e.DOORSTEP_INFLUX_DB, influxdBin: e.DOORSTEP_INFLUXD_BIN },
    adminToken: e.DOORSTEP_ADMIN_TOKEN,
    logLevel: e.DOORSTEP_LOG_LEVEL,
    ingest: {
      batchSize: e.DOORSTEP_BATCH_SIZE,
      flushMs: e.DOORSTEP_FLUSH_MS,
      queueMax: e.DOORSTEP_QUEUE_MAX,
      spoolMaxBytes: e.DOORSTEP_SPOOL_MAX_BYTES,
      maxPayloadBytes: e.DOORSTEP_MAX_PAYLOAD_BYTES,
    },
    presence: {
      heartbeatIntervalS: e.DOORSTEP_HEARTBEAT_INTERVAL_S,
      graceMs: e.DOORSTEP_PRESENCE_GRACE_MS,
      lowStoragePct: e.DOORSTEP_LOW_STORAGE_PCT,
    },
    admission: { connectRate: e.DOORSTEP_CONNECT_RATE },
    clips: {
      retentionDays: e.DOORSTEP_CLIP_RETENTION_DAYS,
      maxBytes: e.DOORSTEP_CLIP_MAX_BYTES,
      diskHighWatermarkPct: e.DOORSTEP_DISK_HIGH_WATERMARK_PCT,
    },
    cases: { pullDistrictConcurrency: e.DOORSTEP_PULL_DISTRICT_CONCURRENCY },
    evidence: {
      keyFile:
        e.DOORSTEP_EVIDENCE_KEY_FILE === undefined ? undefined : path.resolve(e.DOORSTEP_EVIDENCE_KEY_FILE),
      checkpointEvery: e.DOORSTEP_CHECKPOINT_EVERY,
      checkpointIntervalMs: e.DOORSTEP_CHECKPOINT_INTERVAL_MS,
    },
  })
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
