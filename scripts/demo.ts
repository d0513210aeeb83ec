/**
 * `npm run demo`: the whole system on one machine. A gateway with everything
 * embedded (aedes in-process, SQLite, clips on disk, a managed influxd unless
 * DOORSTEP_INFLUX_URL is set), a simulated fleet driving it, and the URL of
 * the dashboard. Ctrl-C stops the fleet, then the gateway, gracefully.
 *
 *   npm run demo [-- --devices 300 --event-rate 20]
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { startFleet } from '@doorstep/device-sim'
import { z } from 'zod'
import { ConfigError, loadConfig } from '../gateway/src/config.js'
import { isDoorstepError } from '../gateway/src/errors.js'
import { Gateway } from '../gateway/src/gateway.js'

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(20_000).default(300),
  'event-rate': z.coerce.number().min(0).max(1000).default(20),
})
const { values } = parseArgs({ options: { devices: { type: 'string' }, 'event-rate': { type: 'string' } } })
const args = Args.safeParse(values)
if (!args.success) {
  for (const i of args.error.issues) process.stderr.write(`demo: --${String(i.path[0])}: ${i.message}\n`)
  process.exit(2)
}

// The demo makes its own admin token unless one is configured, so it can hand it to the dashboard link.
const adminToken = process.env.DOORSTEP_ADMIN_TOKEN || `demo_${randomBytes(24).toString('base64url')}`
let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig({ DOORSTEP_LOG_LEVEL: 'warn', ...process.env, DOORSTEP_ADMIN_TOKEN: adminToken })
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

say(`gateway: MQTT ${gateway.mqttUrl}, HTTP ${gateway.httpUrl}, data in ${config.dataDir}`)
say(`starting ${args.data.devices} simulated units…`)
const fleet = await startFleet({
  devices: args.data.devices,
  mqttUrl: gateway.mqttUrl,
  httpUrl: gateway.httpUrl,
  adminToken,
  eventRate: args.data['event-rate'],
  uploadOnEnd: true,
  log: (line) => say(`sim: ${line}`),
})
await fleet.ready({ share: 0.95, timeoutMs: 60_000 })
const s = fleet.stats()
say('')
say(`Dashboard: ${gateway.httpUrl}/#token=${adminToken}`)
say(`${s.connected} of ${s.units} units connected; events at ${args.data['event-rate']}× the normal rate`)
say('Press Ctrl-C to stop.')

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  say('stopping the fleet and the gateway…')
  await fleet.stop()
  await gateway.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
