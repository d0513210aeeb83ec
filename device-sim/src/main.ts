import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { type AlertObserver, observeAlerts } from './alerts.js'
import { CliError, type CliOptions, parseCli, USAGE } from './cli-options.js'
import { type Fleet, startFleet } from './fleet.js'
import { buildReport, formatReport } from './report.js'
import { totalSent } from './stats.js'

/**
 * `npm run sim`: a simulated fleet against a running gateway, a live status
 * line while it runs, and a report at the end (or on Ctrl-C). Exit codes:
 * 0 done, 1 could not run (provisioning, broker), 2 bad arguments.
 */
const say = (line: string) => process.stderr.write(`${line}\n`)

async function run(o: CliOptions): Promise<number> {
  const started = Date.now()
  say(`device-sim: ${o.devices} units → ${o.gateway.join(', ')} (http ${o.http})`)
  const fleet: Fleet = await startFleet({
    devices: o.devices,
    mqttUrl: o.gateway,
    httpUrl: o.http,
    ...(o.token ? { adminToken: o.token } : {}),
    ...(o['credentials-dir'] ? { credentialsDir: o['credentials-dir'] } : {}),
    ...(o['clip-dir'] ? { clipCacheDir: o['clip-dir'] } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    idPrefix: o['id-prefix'],
    heartbeatS: o['heartbeat-s'],
    eventRate: o['event-rate'],
    connectRate: o['connect-rate'],
    ...(o['source-net'] ? { sourceNet: o['source-net'] } : {}),
    uploadOnEnd: o['upload-on-end'],
    faults: {
      badRate: o['bad-rate'],
      disconnectsPerHour: o['disconnects-per-hour'],
      clockSkewShare: o['clock-skew-share'],
      slowShare: o['slow-share'],
      configRefuseShare: o['config-refuse-share'],
    },
    log: (line) => say(`device-sim: ${line}`),
  })

  let alerts: AlertObserver | null = null
  if (!o['no-alerts'] && o.token) {
    alerts = await observeAlerts(o.alerts ?? o.http, o.token, { sentAt: (id) => fleet.sentAt(id) }).catch(
      (err: Error) => {
        say(`device-sim: not watching alerts: ${err.message}`)
        return null
      },
    )
  }

  const timers: NodeJS.Timeout[] = []
  const done = new Promise<string>((resolve) => {
    if (o['duration-s'] !== undefined)
      timers.push(setTimeout(() => resolve('duration reached'), o['duration-s'] * 1000))
    process.once('SIGINT', () => resolve('interrupted'))
    process.once('SIGTERM', () => resolve('terminated'))
  })
  if (o['power-cut-at-s'] !== undefined) {
    timers.push(
      setTimeout(() => {
        const n = fleet.powerCut(o['power-cut-share'], { outageMs: o['power-cut-outage-s'] * 1000 })
        say(`\ndevice-sim: power cut: ${n} units down for ${o['power-cut-outage-s']} s`)
      }, o['power-cut-at-s'] * 1000),
    )
  }

  // Live status: rewritten in place once a second on a terminal, a plain line every 10 s otherwise.
  const tty = process.stderr.isTTY === true
  let lastSent = 0
  let tick = 0
  timers.push(
    setInterval(() => {
      const s = fleet.stats()
      const sent = totalSent(s)
      const rate = sent - lastSent
      lastSent = sent
      tick++
      const line = `connected ${s.connected}/${s.units}  ${rate} msg/s  events ${s.events}  clips ${s.clips}  refused ${s.refusedConnects}  errors ${s.errors}`
      if (tty) process.stderr.write(`\r\x1b[K${line}`)
      else if (tick % 10 === 0) say(line)
    }, 1000),
  )

  const why = await done
  for (const t of timers) clearTimeout(t)
  // A second Ctrl-C while shutting down means "now".
  process.once('SIGINT', () => process.exit(130))
  if (tty) process.stderr.write('\n')
  say(`device-sim: ${why}; stopping ${o.devices} units`)
  const endedAt = Date.now()
  await fleet.stop()
  // Let the last alerts and the gateway's last batch land before counting.
  await new Promise((r) => setTimeout(r, o.influx ? 2000 : 500))
  alerts?.close()
  const report = await buildReport(fleet.stats(), {
    endedAt,
    ...(o.influx ? { influx: { url: o.influx, db: o['influx-db'], idPrefix: o['id-prefix'] } } : {}),
    ...(alerts ? { alerts: { counts: alerts.counts(), latency: alerts.summary() } } : {}),
  })
  if (o['report-file']) {
    fs.mkdirSync(path.dirname(path.resolve(o['report-file'])), { recursive: true })
    fs.writeFileSync(o['report-file'], `${JSON.stringify(report, null, 2)}\n`)
  }
  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`)
  say(`device-sim: ran ${Math.round((Date.now() - started) / 1000)} s`)
  return 0
}

async function main(): Promise<void> {
  let opts: CliOptions
  try {
    opts = parseCli(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof CliError) {
      say(`device-sim: ${err.message} (see --help)`)
      process.exit(2)
    }
    throw err
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (opts.ca && process.env.NODE_EXTRA_CA_CERTS !== opts.ca) {
    process.exitCode = await withExtraCa(opts.ca)
    return
  }
  try {
    process.exitCode = await run(opts)
  } catch (err) {
    say(`device-sim: ${(err as Error).message}`)
    process.exitCode = 1
  }
  // Sockets still closing must not keep a finished run alive.
  setTimeout(() => process.exit(), 1000).unref()
}

/**
 * Runs this command again with `--ca` as NODE_EXTRA_CA_CERTS: Node reads that variable only at start,
 * and it is the one trust setting that MQTT (tls), fetch (uploads, provisioning) and the alert
 * WebSocket all honour.
 */
function withExtraCa(ca: string): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    stdio: 'inherit',
  })
  // Ctrl-C reaches the child with us (one process group); a SIGTERM sent to us alone is passed on.
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => child.kill('SIGTERM'))
  return new Promise((resolve) => child.once('close', (code) => resolve(code ?? 1)))
}

await main()
