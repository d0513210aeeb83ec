import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { Gateway, type GatewayOptions } from '../../gateway/src/gateway.js'
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
): Promise<TestGateway> {
  const tmp = env.DOORSTEP_DATA_DIR ? null : tempDir('doorstep-gw-')
  const adminToken = `adm_${randomBytes(16).toString('hex')}`
  const influxUrl = inject('influxUrl')
  const db = `t_${process.pid}_${Date.now()}_${seq++}`
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
