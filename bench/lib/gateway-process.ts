import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { freePort, spawnTs, stopChild, waitFor } from './children.js'
import { GATEWAY_NODE_FLAGS } from './gateway-flags.js'

export interface GatewayProcess {
  pid: number
  /** With `readLogs`, its stdout carries the gateway's log lines (JSON), for the caller to keep reading. */
  child: ChildProcess
  dataDir: string
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
  /** Unset: the gateway starts and manages its own influxd in its data dir, as `npm start` does. */
  influxUrl?: string
  env?: Record<string, string>
  /** Node flags beside the gateway's own (GATEWAY_NODE_FLAGS). */
  nodeFlags?: readonly string[]
  /** The admin token; unset: a random one. Nodes of one cluster share theirs. */
  token?: string
  /**
   * Where its log lines go: `read` leaves them on the child's stdout for the caller, a path appends them
   * to that file, unset drops them. Never left unread: the gateway's logger holds in its memory what the
   * pipe does not take, which would count as the gateway's memory in a bench.
   */
  logs?: 'read' | string
}): Promise<GatewayProcess> {
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const token = opts.token ?? randomBytes(24).toString('hex')
  const db = `bench_${opts.name}_${Date.now()}`
  const dataDir = path.join(opts.dataRoot, `gw-${opts.name}`)
  const child = spawnTs(
    'gateway/src/main.ts',
    {
      DOORSTEP_DATA_DIR: dataDir,
      DOORSTEP_HTTP_PORT: String(httpPort),
      DOORSTEP_MQTT_PORT: String(mqttPort),
      ...(opts.influxUrl ? { DOORSTEP_INFLUX_URL: opts.influxUrl } : {}),
      DOORSTEP_INFLUX_DB: db,
      DOORSTEP_ADMIN_TOKEN: token,
      DOORSTEP_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    [...GATEWAY_NODE_FLAGS, ...(opts.nodeFlags ?? [])],
  )
  if (opts.logs === undefined) child.stdout?.resume()
  else if (opts.logs !== 'read') child.stdout?.pipe(fs.createWriteStream(opts.logs, { flags: 'a' }))
  const httpUrl = `http://127.0.0.1:${httpPort}`
  await waitFor(async () => (await fetch(`${httpUrl}/api/v1/ping`)).ok, 30_000, 'gateway')
  return {
    pid: child.pid as number,
    child,
    dataDir,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl,
    token,
    db,
    stop: () => stopChild(child),
  }
}
