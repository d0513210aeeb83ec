import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { InfluxStore } from '../../gateway/src/influx/influx-store.js'
import { findFreePort, ManagedInfluxd } from '../../gateway/src/influx/managed-influxd.js'
import { goneWithin, running } from '../helpers/process.js'
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

/** Field 5 of /proc/<pid>/stat: the process group. */
function processGroup(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
}

/** Field 19 of /proc/<tid>/stat: a thread's niceness. */
function niceness(pid: number, tid = pid): number {
  const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

/** Live processes whose command line names this config file (read from /proc, nothing is signalled). */
function influxdsWith(configPath: string): number[] {
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      if (argv.includes(configPath) && running(Number(name))) pids.push(Number(name))
    } catch {
      // ended while we looked
    }
  }
  return pids
}

/** The real binary, found once, so a test can hide setpriv from PATH but keep influxd. */
const INFLUXD = fs.realpathSync(
  (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((d) => path.join(d, 'influxd'))
    .find((f) => fs.existsSync(f)) ?? 'influxd',
)
const HOLDER = fileURLToPath(new URL('./fixtures/hold-influxd.ts', import.meta.url))

/** Starts a managed influxd in a separate Node process, so the test can kill that parent. */
async function startInParent(
  dir: string,
  mode: 'hold' | 'throw',
  opts: { bin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ parent: ChildProcess; influxdPid: number; url: string; stderr: () => string }> {
  const args = ['--import', 'tsx', HOLDER, dir, mode, ...(opts.bin ? [opts.bin] : [])]
  const parent = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  })
  children.push(parent)
  let out = ''
  let err = ''
  parent.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const ready = await new Promise<RegExpMatchArray | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 25_000)
    parent.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /^ready (\d+) (\S+)$/m.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      }
    })
    parent.once('exit', () => {
      clearTimeout(timer)
      resolve(null)
    })
  })
  if (!ready) throw new Error(`the parent did not start influxd: ${err}`)
  grandchildren.push({ pid: Number(ready[1]), config: path.join(dir, 'influxd.conf') })
  return { parent, influxdPid: Number(ready[1]), url: ready[2] as string, stderr: () => err }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

/** Everything a test starts, stopped afterwards even when it fails. */
const started: ManagedInfluxd[] = []
const children: ChildProcess[] = []
const dirs: Array<() => void> = []
/** influxds started by a parent process: a failing test must not leave them running. */
const grandchildren: Array<{ pid: number; config: string }> = []

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
  for (const g of grandchildren.splice(0))
    if (influxdsWith(g.config).includes(g.pid)) process.kill(g.pid, 'SIGKILL')
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
    await store.writeLines(`heartbeat,device=u1,district=3 uptime_s=42i,signal_dbm=-70 ${Date.now()}000000`)
    const rows = await store.query<{ uptime_s: number }>('SELECT uptime_s FROM heartbeat WHERE device = $d', {
      d: 'u1',
    })
    expect(rows.map((r) => r.uptime_s)).toEqual([42])
    // Its compactions yield to the gateway: every thread runs at niceness 5, the process's test runs at 0.
    const tids = fs.readdirSync(`/proc/${pid}/task`).map(Number)
    expect(tids.length).toBeGreaterThan(1)
    expect(tids.map((t) => niceness(pid, t))).toEqual(tids.map(() => 5 + niceness(process.pid)))

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

  it('runs influxd in a process group of its own, so a Ctrl-C meant for the gateway does not reach it', async () => {
    const { influxd } = managed()
    await influxd.start()
    const pid = influxd.pid as number
    expect(processGroup(pid)).toBe(pid)
    expect(processGroup(pid)).not.toBe(processGroup(process.pid))
  })

  it('influxd ends within seconds when its parent is killed with SIGKILL', async () => {
    const tmp = tempDir('doorstep-influxd-test-')
    dirs.push(tmp.cleanup)
    const { parent, influxdPid, url } = await startInParent(tmp.dir, 'hold')
    expect((await fetch(`${url}/ping`)).status).toBe(204)
    parent.kill('SIGKILL')
    expect(await exitOf(parent)).toEqual({ code: null, signal: 'SIGKILL' })
    expect(await goneWithin(influxdPid, 10_000)).toBe(true)
  })

  it('influxd ends when its parent dies of an uncaught exception', async () => {
    const tmp = tempDir('doorstep-influxd-test-')
    dirs.push(tmp.cleanup)
    const { parent, influxdPid, stderr } = await startInParent(tmp.dir, 'throw')
    expect((await exitOf(parent)).code).toBe(1)
    expect(stderr()).toContain('an unexpected failure in the parent')
    expect(await goneWithin(influxdPid, 10_000)).toBe(true)
  })

  it('without setpriv, influxd still ends with a parent that dies of an uncaught exception', async () => {
    const tmp = tempDir('doorstep-influxd-test-')
    dirs.push(tmp.cleanup)
    // A PATH with influxd but not setpriv (both live in /usr/bin here): the exit hook alone must do it.
    const bin = tempDir('doorstep-influxd-bin-')
    dirs.push(bin.cleanup)
    fs.symlinkSync(INFLUXD, path.join(bin.dir, 'influxd'))
    const env = { ...process.env, PATH: bin.dir }
    const { parent, influxdPid, stderr } = await startInParent(tmp.dir, 'throw', { env })
    expect((await exitOf(parent)).code).toBe(1)
    expect(stderr()).toContain('an unexpected failure in the parent')
    expect(await goneWithin(influxdPid, 10_000)).toBe(true)
  })

  it('a start right after a crash deals with the old influxd and runs exactly one', async () => {
    const tmp = tempDir('doorstep-influxd-test-')
    dirs.push(tmp.cleanup)
    const { parent, influxdPid } = await startInParent(tmp.dir, 'hold')
    parent.kill('SIGKILL')
    await exitOf(parent)
    // No waiting: the old influxd may still be shutting down, holding the data dir.
    const next = new ManagedInfluxd({ dataDir: tmp.dir, log })
    started.push(next)
    const url = await next.start()
    expect((await fetch(`${url}/ping`)).status).toBe(204)
    expect(running(influxdPid)).toBe(false)
    expect(influxdsWith(next.configPath)).toEqual([next.pid])
  })

  it('findFreePort returns a bindable loopback port', async () => {
    const port = await findFreePort()
    expect(port).toBeGreaterThan(0)
    expect(port).toBeLessThan(65536)
  })
})
