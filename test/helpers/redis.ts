import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { stablePort } from './ports.js'
import { tempDir } from './tmp.js'

export interface TestRedis {
  /** `redis://127.0.0.1:PORT` */
  url: string
  port: number
  /** The running server's process id (its CPU is read by bench:cluster); null while it is down. */
  readonly pid: number | null
  /** Stops the server for good and removes its dir. */
  stop(): Promise<void>
  /** Stops the server, keeping its port and dir for `up`. */
  down(): Promise<void>
  /** Starts it again on the same port (its data is gone: nothing is saved). */
  up(): Promise<void>
  /** `down` then `up`. */
  restart(): Promise<void>
}

const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

/**
 * A real Debian `redis-server` for one test file, on a free loopback port, its files in a temp dir,
 * nothing saved to disk. `down` and `up` stop and start it on the same port (one below the ephemeral
 * range, so no other socket takes it in between); `stop` ends it and removes the dir.
 */
export async function startTestRedis(): Promise<TestRedis> {
  const tmp = tempDir('doorstep-redis-')
  const port = await stablePort()
  let child: ChildProcess | null = null
  const launch = async () => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        tmp.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--logfile',
        'redis.log',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', (err) => reject(new Error(`redis-server did not start: ${err.message}`)))
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${stderr.trim()}`)))
    })
    failed.catch(() => {})
    child = proc
    await Promise.race([answers(port), failed])
  }
  const stop = async () => {
    const proc = child
    child = null
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
  await launch()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      const proc = child as ChildProcess | null
      return proc?.pid ?? null
    },
    async stop() {
      await stop()
      tmp.cleanup()
    },
    down: stop,
    up: launch,
    async restart() {
      await stop()
      await launch()
    },
  }
}

/** Polls with PING until the server answers PONG. */
async function answers(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (await pong(port)) return
    await sleep(50)
  }
  throw new Error(`redis-server on port ${port} did not answer within ${READY_TIMEOUT_MS} ms`)
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.once('error', () => done(false))
    s.once('data', (d) => done(d.toString().startsWith('+PONG')))
    s.write('PING\r\n')
  })
}
