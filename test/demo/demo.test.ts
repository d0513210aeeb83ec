import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stablePort } from '../helpers/ports.js'
import { goneWithin, running } from '../helpers/process.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * `npm run demo` as a user runs it: the real script in its own process group (as a terminal runs
 * it, so a group SIGINT is what Ctrl-C sends), a real gateway with its managed influxd, a real
 * simulated fleet. Fixed free ports across runs, because the demo's saved secrets are per gateway
 * address, like a user's 8080.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DEMO = path.join(ROOT, 'scripts/demo.ts')

interface DemoRun {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
  waitFor: (re: RegExp, ms?: number) => Promise<void>
}

const runs: DemoRun[] = []
let tmp: { dir: string; cleanup: () => void }
let env: Record<string, string>
let dataDir: string

function startDemo(devices: number): DemoRun {
  const child = spawn(process.execPath, ['--import', 'tsx', DEMO, '--devices', String(devices)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const run: DemoRun = {
    child,
    output: () => out,
    exited,
    async waitFor(re, ms = 45_000) {
      const deadline = Date.now() + ms
      while (!re.test(out)) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline)
          throw new Error(`the demo never printed ${re}; it printed:\n${out}`)
        await sleep(100)
      }
    },
  }
  runs.push(run)
  return run
}

/** Ctrl-C on a terminal: SIGINT to the whole foreground process group. */
function ctrlC(run: DemoRun): void {
  process.kill(-(run.child.pid as number), 'SIGINT')
}

/** Live processes whose command line names this file (read from /proc; nothing is signalled). */
function processesNaming(file: string): number[] {
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      if (argv.includes(file) && running(Number(name))) pids.push(Number(name))
    } catch {
      // ended while we looked
    }
  }
  return pids
}

const influxdConf = () => path.join(dataDir, 'influxdb', 'influxd.conf')
const influxdPid = () => Number(fs.readFileSync(path.join(dataDir, 'influxdb', 'influxd.pid'), 'utf8'))
/** A Node stack frame: what a user must never see for an expected condition. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

beforeAll(async () => {
  tmp = tempDir('doorstep-demo-test-')
  dataDir = path.join(tmp.dir, 'data')
  env = {
    DOORSTEP_DATA_DIR: dataDir,
    DOORSTEP_HTTP_PORT: String(await stablePort()),
    DOORSTEP_MQTT_PORT: String(await stablePort()),
    DOORSTEP_FLUSH_MS: '50',
  }
})

afterAll(async () => {
  for (const r of runs) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      process.kill(-(r.child.pid as number), 'SIGKILL')
      await r.exited
    }
  }
  if (fs.existsSync(influxdConf()))
    for (const pid of processesNaming(influxdConf())) process.kill(pid, 'SIGKILL')
  tmp.cleanup()
})

describe('npm run demo', { timeout: 90_000 }, () => {
  it('Ctrl-C stops it cleanly: the gateway writes its last batch before influxd stops', async () => {
    const demo = startDemo(20)
    await demo.waitFor(/Press Ctrl-C to stop\./)
    const pid = influxdPid()
    ctrlC(demo)
    expect(await demo.exited).toBe(0)
    expect(demo.output()).toContain('stopping the fleet and the gateway')
    // Both are what a Ctrl-C that also reached influxd printed: it ended while the gateway still wrote.
    expect(demo.output()).not.toContain('managed influxd exited')
    expect(demo.output()).not.toContain('InfluxDB write failed')
    expect(demo.output()).not.toMatch(STACK_FRAME)
    expect(running(pid)).toBe(false)
    expect(fs.existsSync(path.join(dataDir, 'demo-sim'))).toBe(true)
  })

  it('starts over cleanly, with more units, after its data dir is removed', async () => {
    fs.rmSync(dataDir, { recursive: true, force: true })
    const demo = startDemo(25)
    await demo.waitFor(/Press Ctrl-C to stop\./)
    expect(demo.output()).toMatch(/provisioned 25\/25 units/)
    expect(demo.output()).toMatch(/\b2[45] of 25 units connected/)
    ctrlC(demo)
    expect(await demo.exited).toBe(0)
    expect(demo.output()).not.toMatch(STACK_FRAME)
  })

  it('a killed demo leaves no influxd behind, and the next run comes up on the same data', async () => {
    const demo = startDemo(25)
    await demo.waitFor(/Press Ctrl-C to stop\./)
    expect(demo.output()).toMatch(/reusing credentials of 25 units/)
    const pid = influxdPid()
    process.kill(demo.child.pid as number, 'SIGKILL')
    await demo.exited
    expect(await goneWithin(pid, 10_000)).toBe(true)

    const again = startDemo(25)
    await again.waitFor(/Press Ctrl-C to stop\./)
    expect(again.output()).toMatch(/\b2[45] of 25 units connected/)
    expect(processesNaming(influxdConf())).toEqual([influxdPid()])
    ctrlC(again)
    expect(await again.exited).toBe(0)
  })

  it('says in one line what to do when it cannot provision its units, and exits 1 without a stack trace', async () => {
    // The gateway still knows the units, but the demo's copy of their secrets is gone.
    fs.rmSync(path.join(dataDir, 'demo-sim'), { recursive: true, force: true })
    const demo = startDemo(25)
    expect(await demo.exited).toBe(1)
    const out = demo.output()
    expect(out).toMatch(
      /demo: the simulated fleet could not start: the gateway already has 25 of these units/,
    )
    expect(out).toContain(`demo: to start the demo over, remove ${dataDir}`)
    expect(out).not.toMatch(STACK_FRAME)
    expect(out).not.toContain('ProvisionError')
    expect(processesNaming(influxdConf())).toEqual([])
  })
})
