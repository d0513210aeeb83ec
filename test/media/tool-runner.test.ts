import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runTool, ToolRunFailure } from '../../gateway/src/media/tool-runner.js'
import { descendants, goneWithin, running } from '../helpers/process.js'
import { until } from '../helpers/wait.js'

function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
}

function niceness(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

/** A `sleep` with an argument no other test uses, so it can be told apart. */
const sleeper = (s: string) => descendants((comm, argv) => comm === 'sleep' && argv[1] === s)[0]

describe('the tool runner', () => {
  it('runs a tool in its own process, not this one, and gives its output, stderr tail and exit code', async () => {
    const r = await runTool('sh', ['-c', 'printf hello; echo oops >&2; exit 3'], 5_000, 1024)
    expect(r.stdout.toString('utf8')).toBe('hello')
    expect(r.stderr).toBe('oops\n')
    expect(r.code).toBe(3)
    const run = runTool('sleep', ['7.31'], 10_000, 1024)
    const pid = await until('the sleep to start', () => sleeper('7.31'))
    // Forked by the runner: the spawn's fork never stalls this process's event loop.
    expect(parentOf(pid)).not.toBe(process.pid)
    // And below the gateway's priority: media work yields to ingest.
    expect(niceness(pid)).toBe(niceness(process.pid) + 10)
    process.kill(pid, 'SIGKILL')
    await run
  })

  it('kills a tool past its time or its output bound, and answers once it has exited', async () => {
    const slow = runTool('sleep', ['7.32'], 300, 1024)
    const pid = await until('the sleep to start', () => sleeper('7.32'))
    await expect(slow).rejects.toMatchObject({ kind: 'timeout' })
    expect(running(pid)).toBe(false)
    await expect(runTool('sh', ['-c', 'head -c 5000 /dev/zero'], 5_000, 1000)).rejects.toMatchObject({
      kind: 'overflow',
    })
  })

  it('says a missing binary could not be started, with its errno code', async () => {
    const err = await runTool('doorstep-no-such-tool', [], 5_000, 1024).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ToolRunFailure)
    expect(err).toMatchObject({ kind: 'spawn', code: 'ENOENT' })
  })

  it('fails the runs of a runner that died, and starts a new one for the next', async () => {
    const run = runTool('sleep', ['7.33'], 10_000, 1024)
    const pid = await until('the sleep to start', () => sleeper('7.33'))
    const runner = parentOf(pid)
    expect(runner).not.toBe(process.pid)
    process.kill(runner, 'SIGKILL')
    await expect(run).rejects.toMatchObject({ kind: 'runner' })
    // The runner was killed before it could end its tool; this test started that sleep, so ends it.
    process.kill(pid, 'SIGKILL')
    expect(await goneWithin(runner, 5_000)).toBe(true)
    const next = await runTool('sh', ['-c', 'printf again'], 5_000, 1024)
    expect(next.stdout.toString('utf8')).toBe('again')
  })
})
