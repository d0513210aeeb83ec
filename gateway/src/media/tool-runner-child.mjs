// @ts-check
// The tool runner: a small process the gateway forks once, which spawns ffprobe and ffmpeg for it.
// Spawning forks the caller, and the time a fork takes grows with the caller's memory map; from the
// gateway's main thread it stalled the event loop for several ms per clip. From here it costs the
// gateway one IPC message each way. Plain JavaScript with no imports but Node's: it starts in a
// fraction of the time and memory a TypeScript loader would take.
import { spawn } from 'node:child_process'
import os from 'node:os'

// Media work yields to the gateway: the tools run ten nice steps below it, inherited from the thread that
// forks them (this one). A thumbnail a moment late costs nothing; an ingest loop starved by ffmpeg delays
// every unit.
os.setPriority(Math.min(19, os.getPriority() + 10))

/** @typedef {{ id: number, bin: string, args: string[], timeoutMs: number, maxStdout: number }} Job */

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set()

/** @param {Job} job */
function run(job) {
  /** @type {import('node:child_process').ChildProcess} */
  let child
  try {
    child = spawn(job.bin, job.args, { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    reply({ id: job.id, error: { kind: 'spawn', message: String(/** @type {Error} */ (err).message) } })
    return
  }
  running.add(child)
  /** @type {Buffer[]} */
  const out = []
  let outBytes = 0
  let stderr = ''
  /** @type {{ kind: string, message: string, code?: string } | null} */
  let failure = null
  /** @param {{ kind: string, message: string }} why */
  const kill = (why) => {
    failure ??= why
    child.kill('SIGKILL')
  }
  const timer = setTimeout(
    () => kill({ kind: 'timeout', message: `timed out after ${job.timeoutMs} ms` }),
    job.timeoutMs,
  )
  child.stdout?.on('data', (/** @type {Buffer} */ c) => {
    outBytes += c.length
    if (outBytes > job.maxStdout)
      kill({ kind: 'overflow', message: `its output passed ${job.maxStdout} bytes` })
    else out.push(c)
  })
  child.stderr?.on('data', (/** @type {Buffer} */ c) => {
    // The last lines say why; keep a bounded tail.
    stderr = (stderr + c.toString('utf8')).slice(-4096)
  })
  child.on('error', (/** @type {NodeJS.ErrnoException} */ err) => {
    failure ??= { kind: 'spawn', message: err.message, ...(err.code ? { code: err.code } : {}) }
  })
  // Answered once the process has exited: the gateway never leaves one behind.
  child.on('close', (code) => {
    clearTimeout(timer)
    running.delete(child)
    if (failure) reply({ id: job.id, error: failure })
    else reply({ id: job.id, code, stdout: Buffer.concat(out), stderr })
  })
}

/** @param {unknown} msg */
function reply(msg) {
  if (process.connected) process.send?.(msg)
}

function killAll() {
  for (const child of running) child.kill('SIGKILL')
}

process.on('message', (/** @type {Job} */ job) => run(job))
// The gateway went away (stopped, or killed): nothing it asked for is wanted any more.
process.on('disconnect', () => {
  killAll()
  process.exit(0)
})
