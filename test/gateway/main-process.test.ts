import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { stablePort } from '../helpers/ports.js'
import { goneWithin, running } from '../helpers/process.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * `npm start` as a process: the gateway's main with its managed influxd, ended the ways a process
 * really ends (SIGKILL, Ctrl-C, a failed start), checked from outside through the pidfile and /proc.
 */
const MAIN = fileURLToPath(new URL('../../gateway/src/main.ts', import.meta.url))
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

const children: ChildProcess[] = []
const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const f of cleanups.splice(0)) await f()
})

function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, DOORSTEP_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  return {
    child,
    exited,
    out: () => out,
    err: () => err,
    async ready(): Promise<void> {
      const deadline = Date.now() + 40_000
      while (!/"msg":"gateway ready"/.test(out)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no start:\n${out}\n${err}`)
        await sleep(100)
      }
    },
  }
}

async function gatewayEnv(): Promise<{ env: Record<string, string>; dataDir: string }> {
  const tmp = tempDir('doorstep-main-test-')
  cleanups.push(tmp.cleanup)
  const dataDir = path.join(tmp.dir, 'data')
  const env = {
    DOORSTEP_DATA_DIR: dataDir,
    DOORSTEP_HTTP_PORT: String(await stablePort()),
    DOORSTEP_MQTT_PORT: String(await stablePort()),
    DOORSTEP_ADMIN_TOKEN: 'adm_main_process_test_token_0001',
  }
  return { env, dataDir }
}

const pidfile = (dataDir: string) => path.join(dataDir, 'influxdb', 'influxd.pid')

describe('npm start (gateway/src/main.ts) as a process', { timeout: 60_000 }, () => {
  it('SIGKILL leaves no influxd behind; the next start comes up and stops on SIGINT, exit 0', async () => {
    const { env, dataDir } = await gatewayEnv()
    const first = startMain(env)
    await first.ready()
    const influxdPid = Number(fs.readFileSync(pidfile(dataDir), 'utf8'))
    expect(running(influxdPid)).toBe(true)
    first.child.kill('SIGKILL')
    await first.exited
    expect(await goneWithin(influxdPid, 10_000)).toBe(true)

    const second = startMain(env)
    await second.ready()
    const next = Number(fs.readFileSync(pidfile(dataDir), 'utf8'))
    expect(next).not.toBe(influxdPid)
    second.child.kill('SIGINT')
    expect(await second.exited).toBe(0)
    expect(running(next)).toBe(false)
    expect(fs.existsSync(pidfile(dataDir))).toBe(false)
    expect(second.out()).not.toContain('managed influxd exited')
  })

  it('logs JSON lines by default, readable lines with DOORSTEP_LOG_FORMAT=pretty', async () => {
    const { env } = await gatewayEnv()
    const json = startMain(env)
    await json.ready()
    const lines = json.out().trim().split('\n')
    // Every line a JSON record journald and shippers can parse, with its level and message.
    for (const line of lines)
      expect(JSON.parse(line)).toMatchObject({ level: expect.any(Number), msg: expect.any(String) })
    json.child.kill('SIGINT')
    expect(await json.exited).toBe(0)

    const readable = startMain({ ...env, DOORSTEP_LOG_FORMAT: 'pretty' })
    const deadline = Date.now() + 40_000
    while (
      !/INFO.*gateway ready/.test(readable.out()) &&
      Date.now() < deadline &&
      readable.child.exitCode === null
    )
      await sleep(100)
    expect(readable.out()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway ready/m)
    expect(readable.out()).not.toMatch(/^\{"level"/m)
    readable.child.kill('SIGINT')
    expect(await readable.exited).toBe(0)
  })

  it('a taken port ends the start with one line saying what to set, exit 1, influxd stopped', async () => {
    const { env, dataDir } = await gatewayEnv()
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen(Number(env.DOORSTEP_HTTP_PORT), '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())))
    const run = startMain(env)
    expect(await run.exited).toBe(1)
    expect(run.err()).toMatch(/^doorstep: could not start: .*EADDRINUSE.*\n/)
    expect(run.err()).toContain('set DOORSTEP_HTTP_PORT and DOORSTEP_MQTT_PORT to free ones')
    expect(run.err()).not.toMatch(STACK_FRAME)
    expect(fs.existsSync(pidfile(dataDir))).toBe(false)
  })
})
