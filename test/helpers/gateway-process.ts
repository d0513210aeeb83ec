import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '../..')
const START_TIMEOUT_MS = 30_000

/**
 * The real gateway as its own process (`gateway/src/main.ts`), configured by `env` alone, so that a
 * test can SIGKILL it. Resolves once it answers its ping on DOORSTEP_HTTP_PORT; throws with what it
 * printed if it exits or does not answer in time (and then ends it, by its pid).
 */
export async function spawnGateway(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  const url = `http://127.0.0.1:${env.DOORSTEP_HTTP_PORT}/api/v1/ping`
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}): ${stderr}`)
    try {
      if ((await fetch(url)).ok) return child
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`gateway did not start: ${stderr}`)
}

/** Ends a gateway process started here: SIGTERM, then SIGKILL if it has not exited in `ms`. */
export async function stopGateway(child: ChildProcess, ms = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  const code = await exited
  clearTimeout(timer)
  return code
}
