import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { freePort, spawnTs, stopChild, waitFor } from './children.js'
import { GATEWAY_NODE_FLAGS } from './gateway-flags.js'

export interface GatewayProcess {
  pid: number
  mqttUrl: string
  httpUrl: string
  token: string
  db: string
  stop(): Promise<void>
}

/** The real gateway as its own process (so its CPU and memory can be read apart), on free ports. */
export async function startGatewayProcess(opts: {
  name: string
  dataRoot: string
  influxUrl: string
  env?: Record<string, string>
}): Promise<GatewayProcess> {
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const token = randomBytes(24).toString('hex')
  const db = `bench_${opts.name}_${Date.now()}`
  const child = spawnTs(
    'gateway/src/main.ts',
    {
      DOORSTEP_DATA_DIR: path.join(opts.dataRoot, `gw-${opts.name}`),
      DOORSTEP_HTTP_PORT: String(httpPort),
      DOORSTEP_MQTT_PORT: String(mqttPort),
      DOORSTEP_INFLUX_URL: opts.influxUrl,
      DOORSTEP_INFLUX_DB: db,
      DOORSTEP_ADMIN_TOKEN: token,
      DOORSTEP_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    GATEWAY_NODE_FLAGS,
  )
  const httpUrl = `http://127.0.0.1:${httpPort}`
  await waitFor(async () => (await fetch(`${httpUrl}/api/v1/ping`)).ok, 30_000, 'gateway')
  return {
    pid: child.pid as number,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl,
    token,
    db,
    stop: () => stopChild(child),
  }
}
