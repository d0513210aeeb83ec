#!/usr/bin/env node
// Checks the system programs Doorstep needs and installs the missing ones
// when it can (root on Debian); otherwise prints the exact command to run.
// Runs before `npm start`, `npm run demo` and `npm test`.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'

const quiet = process.argv.includes('--quiet')
const withBrowser = !process.argv.includes('--no-browser')
const say = (m) => quiet || process.stdout.write(`${m}\n`)

const needs = [
  { bin: 'influxd', pkg: 'influxdb', why: 'the managed InfluxDB 1.x' },
  { bin: 'influx', pkg: 'influxdb-client', why: 'the influx CLI for queries' },
  { bin: 'ffmpeg', pkg: 'ffmpeg', why: 'clip checks and poster frames' },
  { bin: 'ffprobe', pkg: 'ffmpeg', why: 'clip checks' },
  { bin: 'mosquitto_pub', pkg: 'mosquitto-clients', why: 'pointing a test device at the gateway' },
  // The tests start their own on a free port; the package's service is not used.
  { bin: 'redis-server', pkg: 'redis-server', why: 'gateways sharing MQTT through Redis, and their tests' },
  // The cluster test starts its own from the shipped config; the package's service is not used.
  { bin: 'haproxy', pkg: 'haproxy', why: 'the load balancer in front of a cluster, and its test' },
  // The tests run their own cluster in a temp dir; Debian keeps the server off the PATH.
  {
    name: 'postgres',
    check: () =>
      fs.existsSync('/usr/lib/postgresql') &&
      fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)),
    pkg: 'postgresql',
    why: 'the database gateways share, and its tests',
  },
]
if (withBrowser) {
  needs.push({ bin: 'chromium', pkg: 'chromium', why: 'the dashboard tests' })
  // Without a CJK font Chromium draws the Chinese pages as boxes: the text is right, the screenshots not.
  needs.push({
    file: '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
    pkg: 'fonts-wqy-microhei',
    why: 'Chinese text in the dashboard and its screenshots',
  })
  // Prometheus and promtool: the tests load the shipped alert rules into a real Prometheus.
  needs.push({
    bin: 'promtool',
    pkg: 'prometheus',
    why: 'checking the alert rules and the scrape in the tests',
  })
}

// Node packages first: a fresh clone has none, and everything else runs on them.
const lock = 'package-lock.json'
const marker = 'node_modules/.package-lock.json'
if (!fs.existsSync(marker) || fs.statSync(marker).mtimeMs < fs.statSync(lock).mtimeMs) {
  process.stdout.write('setup: installing node packages (npm ci; about two minutes the first time)\n')
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] })
  } catch {
    process.stderr.write('setup: npm ci failed; see above\n')
    process.exit(1)
  }
}

const has = (n) =>
  n.check
    ? n.check()
    : n.file
      ? fs.existsSync(n.file)
      : spawnSync('sh', ['-c', `command -v ${n.bin}`], { stdio: 'ignore' }).status === 0
const missing = needs.filter((n) => !has(n))
if (missing.length === 0) {
  say('setup: system programs present')
  process.exit(0)
}
const pkgs = [...new Set(missing.map((m) => m.pkg))]
const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs.join(' ')}`
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
const isDebian = fs.existsSync('/etc/debian_version')
for (const m of missing) process.stdout.write(`setup: missing ${m.bin ?? m.name ?? m.file} (${m.why})\n`)
if (!isRoot || !isDebian) {
  process.stderr.write(`setup: install them with:\n  sudo sh -c '${cmd}'\n`)
  process.exit(1)
}
process.stdout.write(`setup: installing ${pkgs.join(' ')} (about a minute)\n`)
try {
  execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit'] })
} catch {
  process.stderr.write(`setup: the install failed; run it yourself:\n  ${cmd}\n`)
  process.exit(1)
}
const still = missing.filter((n) => !has(n))
if (still.length > 0) {
  process.stderr.write(
    `setup: still missing after install: ${still.map((s) => s.bin ?? s.name ?? s.file).join(', ')}\n`,
  )
  process.exit(1)
}
process.stdout.write('setup: done\n')
