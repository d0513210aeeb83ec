/**
 * `npm run demo`: the whole system on one machine. A gateway with everything
 * embedded (aedes in-process, SQLite, clips on disk, a managed influxd unless
 * DOORSTEP_INFLUX_URL is set), a simulated fleet driving it, and the URL of
 * the dashboard. Ctrl-C stops the fleet, then the gateway, gracefully.
 * The simulated units' secrets live in the gateway's data dir, so removing
 * that dir starts the whole demo over. Exit codes: 0 after Ctrl-C, 1 could
 * not run, 2 bad arguments or configuration.
 *
 *   npm run demo [-- --devices 300 --event-rate 20]
 */
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { type Fleet, ProvisionError, startFleet } from '@doorstep/device-sim'
import { z } from 'zod'
import { ConfigError, loadConfig } from '../gateway/src/config.js'
import { isDoorstepError } from '../gateway/src/errors.js'
import { Gateway } from '../gateway/src/gateway.js'

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(20_000).default(300),
  'event-rate': z.coerce.number().min(0).max(1000).default(20),
})
let values: Record<string, string | boolean | undefined>
try {
  values = parseArgs({ options: { devices: { type: 'string' }, 'event-rate': { type: 'string' } } }).values
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message.split('\n')[0]}\n`)
  process.exit(2)
}
const args = Args.safeParse(values)
if (!args.success) {
  for (const i of args.error.issues) process.stderr.write(`demo: --${String(i.path[0])}: ${i.message}\n`)
  process.exit(2)
}

// The demo makes its own admin token unless one is configured, so it can hand it to the dashboard link.
const adminToken = process.env.DOORSTEP_ADMIN_TOKEN || `demo_${randomBytes(24).toString('base64url')}`
let config: ReturnType<typeof loadConfig>
try {
  // The simulated fleet connects from one address (loopback), where real units have one per home.
  config = loadConfig({
    DOORSTEP_LOG_LEVEL: 'warn',
    DOORSTEP_CONNECT_RATE_PER_ADDRESS: '1000000',
    ...process.env,
    DOORSTEP_ADMIN_TOKEN: adminToken,
  })
} catch (err) {
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`demo: config: ${p}\n`)
    process.exit(2)
  }
  throw err
}

const say = (line: string) => process.stdout.write(`${line}\n`)
const gateway = new Gateway(config)
try {
  await gateway.start()
} catch (err) {
  const msg = isDoorstepError(err) ? `${err.code}: ${err.message}` : (err as Error).message
  process.stderr.write(`demo: the gateway could not start: ${msg}\n`)
  if (/EADDRINUSE/.test(msg)) {
    process.stderr.write(
      'demo: a port is taken; set DOORSTEP_HTTP_PORT and DOORSTEP_MQTT_PORT to free ones\n',
    )
  }
  await gateway.stop().catch(() => {})
  process.exit(1)
}

let fleet: Fleet | null = null
let stopping = false
const stop = async (code: number) => {
  if (stopping) return
  stopping = true
  if (code === 0) say('stopping the fleet and the gateway…')
  try {
    await fleet?.stop()
    await gateway.stop()
  } catch (err) {
    process.stderr.write(`demo: stopping failed: ${(err as Error).message}\n`)
    process.exit(1)
  }
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

say(`gateway: MQTT ${gateway.mqttUrl}, HTTP ${gateway.httpUrl}, data in ${config.dataDir}`)
say(`starting ${args.data.devices} simulated units…`)
const credentialsDir = path.join(config.dataDir, 'demo-sim')
try {
  fleet = await startFleet({
    devices: args.data.devices,
    mqttUrl: gateway.mqttUrl,
    httpUrl: gateway.httpUrl,
    adminToken,
    credentialsDir,
    eventRate: args.data['event-rate'],
    uploadOnEnd: true,
    log: (line) => say(`sim: ${line}`),
  })
} catch (err) {
  process.stderr.write(`demo: the simulated fleet could not start: ${(err as Error).message}\n`)
  if (err instanceof ProvisionError && err.status === 422) {
    process.stderr.write(`demo: to start the demo over, remove ${config.dataDir}\n`)
  }
  await stop(1)
}
if (fleet && !stopping) {
  await fleet.ready({ share: 0.95, timeoutMs: 60_000 })
}
if (fleet && !stopping) {
  const s = fleet.stats()
  say('')
  say(`Dashboard: ${gateway.httpUrl}/#token=${adminToken}`)
  say(`${s.connected} of ${s.units} units connected; events at ${args.data['event-rate']}× the normal rate`)
  say('Press Ctrl-C to stop.')
}
