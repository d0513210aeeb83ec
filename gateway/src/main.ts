import { ConfigError, loadConfig } from './config.js'
import { isDoorstepError } from './errors.js'
import { Gateway } from './gateway.js'

/**
 * `npm start`: the gateway alone, configured by DOORSTEP_* variables.
 * Exit codes: 0 after a graceful stop, 2 for bad configuration, 1 otherwise.
 */
export async function runGateway(env = process.env): Promise<Gateway> {
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`doorstep: config: ${p}\n`)
      process.exit(2)
    }
    throw err
  }
  const gateway = new Gateway(config)
  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    gateway.log.info({ signal }, 'stopping')
    const force = setTimeout(() => {
      gateway.log.error('graceful stop took too long; exiting')
      process.exit(1)
    }, 30_000)
    force.unref()
    try {
      await gateway.stop()
    } catch (err) {
      process.stderr.write(`doorstep: the gateway did not stop cleanly: ${(err as Error).message}\n`)
      process.exit(1)
    }
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  // A renewed certificate is picked up without a restart; connections already open stay up. Without
  // TLS, SIGHUP keeps its default meaning (the terminal went away: stop).
  if (config.tls) {
    process.on('SIGHUP', () => {
      try {
        gateway.reloadTls()
      } catch (err) {
        gateway.log.error(
          { err: (err as Error).message },
          'TLS reload failed; the previous certificate stays in use',
        )
      }
    })
  }
  try {
    await gateway.start()
  } catch (err) {
    const msg = isDoorstepError(err) ? `${err.code}: ${err.message}` : (err as Error).message
    process.stderr.write(`doorstep: could not start: ${msg}\n`)
    if (/EADDRINUSE/.test(msg)) {
      process.stderr.write(
        config.tls
          ? 'doorstep: a port is taken; set DOORSTEP_HTTP_PORT, DOORSTEP_MQTT_PORT, DOORSTEP_HTTPS_PORT and DOORSTEP_MQTTS_PORT to free ones\n'
          : 'doorstep: a port is taken; set DOORSTEP_HTTP_PORT and DOORSTEP_MQTT_PORT to free ones\n',
      )
    }
    await gateway.stop().catch(() => {})
    process.exit(1)
  }
  return gateway
}

if (import.meta.url === `file://${process.argv[1]}`) await runGateway()
