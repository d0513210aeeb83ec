import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { Gateway, type GatewayOptions } from '../../gateway/src/gateway.js'
import { databaseFor } from './postgres.js'
import { tempDir } from './tmp.js'

export interface TestGateway {
  gateway: Gateway
  adminToken: string
  dataDir: string
  influxUrl: string
  db: string
  /** Stops the gateway; `keepData` leaves the data dir for a restart test. */
  stop(opts?: { keepData?: boolean }): Promise<void>
}

let seq = 0

/**
 * A real gateway on ephemeral ports, against the test run's real influxd,
 * with its own data dir and InfluxDB database. `opts.log` replaces its logger
 * (a test that reads what was logged); `opts.freeSpace` its free-space probe.
 */
export async function startTestGateway(
  env: Record<string, string | number> = {},
  opts: GatewayOptions = {},
  /** `ownFile`: the shared state in the data dir's SQLite even in a run on PostgreSQL (tests of that file). */
  where: { ownFile?: boolean } = {},
): Promise<TestGateway> {
  const tmp = env.DOORSTEP_DATA_DIR ? null : tempDir('doorstep-gw-')
  const adminToken = `adm_${randomBytes(16).toString('hex')}`
  const influxUrl = inject('influxUrl')
  const db = `t_${process.pid}_${Date.now()}_${seq++}`
  // A run on PostgreSQL (TEST_DATABASE=postgres) gives each data dir a database of its own
  // there, the same again when a test restarts a gateway on its data dir.
  const pgAdmin = inject('postgresAdminUrl')
  const dataDir = env.DOORSTEP_DATA_DIR ?? tmp?.dir
  const shared =
    pgAdmin && !where.ownFile && env.DOORSTEP_DATABASE_URL === undefined && dataDir !== undefined
      ? { DOORSTEP_DATABASE_URL: await databaseFor(pgAdmin, String(dataDir)) }
      : {}
  const config = configFrom({
    DOORSTEP_DATA_DIR: tmp?.dir,
    DOORSTEP_HTTP_PORT: 0,
    DOORSTEP_MQTT_PORT: 0,
    // Used only when a test turns TLS on (DOORSTEP_TLS_CERT and DOORSTEP_TLS_KEY).
    DOORSTEP_HTTPS_PORT: 0,
    DOORSTEP_MQTTS_PORT: 0,
    DOORSTEP_INFLUX_URL: influxUrl,
    DOORSTEP_INFLUX_DB: db,
    DOORSTEP_ADMIN_TOKEN: adminToken,
    DOORSTEP_LOG_LEVEL: 'warn',
    DOORSTEP_FLUSH_MS: 50,
    DOORSTEP_PRESENCE_GRACE_MS: 0,
    ...shared,
    ...env,
  })
  const gateway = new Gateway(config, opts)
  await gateway.start()
  return {
    gateway,
    adminToken,
    dataDir: config.dataDir,
    influxUrl,
    db: config.influx.db,
    async stop(opts = {}) {
      await gateway.stop()
      if (!opts.keepData) tmp?.cleanup()
    },
  }
}

/**
 * The environment of a command run on a gateway's host, beside it (`doorstep tokens`): the gateway's
 * DOORSTEP_DATABASE_URL when it has one, as an operator's shell would.
 */
export function hostEnv(t: TestGateway): NodeJS.ProcessEnv {
  const url = t.gateway.config.cluster.databaseUrl
  return url ? { ...process.env, DOORSTEP_DATABASE_URL: url } : process.env
}

/** The env that points another gateway at `t`'s shared database, when it has one (a restore beside it). */
export function sharedWith(t: TestGateway): Record<string, string> {
  const url = t.gateway.config.cluster.databaseUrl
  return url ? { DOORSTEP_DATABASE_URL: url } : {}
}
