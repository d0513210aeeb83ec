import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { InfluxStore } from '../../gateway/src/influx/influx-store.js'
import { findFreePort, ManagedInfluxd } from '../../gateway/src/influx/managed-influxd.js'
import { tempDir } from '../helpers/tmp.js'

const log = pino({ level: 'silent' })

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Everything a test starts, stopped afterwards even when it fails. */
const started: ManagedInfluxd[] = []
const children: ChildProcess[] = []
const dirs: Array<() => void> = []

function managed(opts: { bin?: string } = {}): { influxd: ManagedInfluxd; dir: string } {
  const tmp = tempDir('doorstep-influxd-test-')
  dirs.push(tmp.cleanup)
  const influxd = new ManagedInfluxd({ dataDir: tmp.dir, log, ...opts })
  started.push(influxd)
  return { influxd, dir: tmp.dir }
}

/** A stand-in for the influxd binary, to provoke failures influxd itself rarely shows. */
function fakeBin(script: string): string {
  const tmp = tempDir('doorstep-influxd-bin-')
  dirs.push(tmp.cleanup)
  const bin = path.join(tmp.dir, 'influxd')
  fs.writeFileSync(bin, script, { mode: 0o755 })
  return bin
}

afterEach(async () => {
  for (const i of started.splice(0)) await i.stop()
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const cleanup of dirs.splice(0)) cleanup()
})

describe('ManagedInfluxd (real influxd)', () => {
  it('starts on free loopback ports, takes writes and queries, and stop() ends the process', async () => {
    const { influxd, dir } = managed()
    const url = await influxd.start()
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(influxd.url).toBe(url)
    const pid = influxd.pid as number
    expect(fs.readFileSync(path.join(dir, 'influxd.pid'), 'utf8').trim()).toBe(String(pid))
    const conf = fs.readFileSync(path.join(dir, 'influxd.conf'), 'utf8')
    expect(conf).toContain('reporting-disabled = true')
    expect(conf).toMatch(/^bind-address = "127\.0\.0\.1:\d+"$/m)

    const store = new InfluxStore({ url, db: 'managed_test', log })
    expect(await store.ping()).toBe(true)
    await store.ensureSchema()
    await store.writeLines(
      `heartbeat,device=u1,district=3,model=m uptime_s=42i,signal_dbm=-70 ${Date.now()}000000`,
    )
    const rows = await store.query<{ uptime_s: number }>('SELECT uptime_s FROM heartbeat WHERE device = $d', {
      d: 'u1',
    })
    expect(rows.map((r) => r.uptime_s)).toEqual([42])

    await influxd.stop()
    expect(alive(pid)).toBe(false)
    expect(fs.existsSync(path.join(dir, 'influxd.pid'))).toBe(false)
    expect(influxd.url).toBeNull()
    expect(await store.ping()).toBe(false)
    expect(fs.existsSync(path.join(dir, 'influxd.log'))).toBe(true)
  })

  it('says what to install when the binary is missing', async () => {
    const { influxd } = managed({ bin: '/nonexistent/influxd' })
    const err = await influxd.start().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DOORSTEP_ERR_INFLUXD_START' })
    expect((err as Error).message).toContain('apt-get install -y influxdb')
    expect((err as Error).message).toContain('DOORSTEP_INFLUX_URL')
  })

  it('quotes influxd stderr when it exits during start', async () => {
    const bin = fakeBin('#!/bin/sh\necho "run: open server: config is broken in a special way" >&2\nexit 3\n')
    const { influxd, dir } = managed({ bin })
    const err = await influxd.start().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DOORSTEP_ERR_INFLUXD_START' })
    expect((err as Error).message).toContain('config is broken in a special way')
    expect((err as Error).message).toContain('exit code 3')
    expect(influxd.pid).toBeNull()
    expect(fs.existsSync(path.join(dir, 'influxd.pid'))).toBe(false)
  })

  it('retries with new ports when influxd lost a port to another process', async () => {
    const scripts = tempDir('doorstep-influxd-bin-')
    dirs.push(scripts.cleanup)
    const marker = path.join(scripts.dir, 'raced-once')
    const bin = fakeBin(
      `#!/bin/sh\nif [ ! -e '${marker}' ]; then touch '${marker}'; echo "listen tcp 127.0.0.1:1: bind: address already in use" >&2; exit 1; fi\nexec /usr/bin/influxd "$@"\n`,
    )
    const { influxd } = managed({ bin })
    const url = await influxd.start()
    expect(fs.existsSync(marker)).toBe(true)
    expect((await fetch(`${url}/ping`)).status).toBe(204)
  })

  it('stops an orphan influxd recorded in the pidfile before starting', async () => {
    const { influxd: first, dir } = managed()
    await first.start()
    const orphanPid = first.pid as number
    // A second gateway on the same data dir, as after a SIGKILL that left the first influxd behind.
    const second = new ManagedInfluxd({ dataDir: dir, log })
    started.push(second)
    const url = await second.start()
    expect(alive(orphanPid)).toBe(false)
    expect(second.pid).not.toBe(orphanPid)
    expect((await fetch(`${url}/ping`)).status).toBe(204)
  })

  it('never kills a process in the pidfile that is not our influxd', async () => {
    const { influxd, dir } = managed()
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' })
    children.push(bystander)
    fs.writeFileSync(path.join(dir, 'influxd.pid'), `${bystander.pid}\n`)
    await influxd.start()
    expect(alive(bystander.pid as number)).toBe(true)
    expect(bystander.exitCode).toBeNull()
  })

  it('findFreePort returns a bindable loopback port', async () => {
    const port = await findFreePort()
    expect(port).toBeGreaterThan(0)
    expect(port).toBeLessThan(65536)
  })
})
