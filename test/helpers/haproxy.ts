import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { stablePort } from './ports.js'
import { tempDir } from './tmp.js'

/** The config the repository ships; the tests run it with loopback ports and server lines. */
export const SHIPPED_CONFIG = path.resolve(import.meta.dirname, '../../gateway/deploy/haproxy/doorstep.cfg')

/** One gateway behind the proxy, as its server lines name it. */
export interface ProxiedNode {
  name: string
  mqttPort: number
  httpPort: number
  /** Unset: the gateway has no TLS; its server line points at a port nothing listens on. */
  mqttsPort?: number
}

/** The shipped frontends' names, each given a loopback port. */
export interface FrontendPorts {
  mqtt: number
  mqtts: number
  web: number
}

export interface TestHaproxy {
  pid: number
  mqttUrl: string
  httpUrl: string
  /** What haproxy printed (its log goes to stdout), for a failing test's message. */
  output(): string
  /** Ends it (SIGTERM, SIGKILL after a while) by its pid, and removes its dir. */
  stop(): Promise<void>
}

const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000

/**
 * The shipped config for loopback: every `bind` of a frontend on that frontend's port on 127.0.0.1,
 * and each backend's `server` lines replaced by one per node (ids 1, 2, ... in order, as shipped).
 * Everything else (timeouts, checks, balancing) is the file as shipped.
 */
export function renderConfig(template: string, ports: FrontendPorts, nodes: readonly ProxiedNode[]): string {
  const out: string[] = []
  let section = ''
  let serversWritten = false
  for (const line of template.split('\n')) {
    const head = /^(frontend|backend|global|defaults|listen)\s*(\S*)/.exec(line)
    if (head) {
      section = head[2] ?? ''
      serversWritten = false
      out.push(line)
      continue
    }
    const indent = /^\s*/.exec(line)?.[0] ?? '    '
    if (/^\s*bind\s/.test(line)) {
      const port = ports[section as keyof FrontendPorts]
      if (port === undefined) throw new Error(`no test port for frontend ${section}`)
      out.push(`${indent}bind 127.0.0.1:${port}`)
      continue
    }
    if (/^\s*server\s/.test(line)) {
      if (serversWritten) continue
      serversWritten = true
      // The shipped lines' ids, in order: the backends hash a client to the same node by them.
      nodes.forEach((n, i) => {
        out.push(`${indent}${serverLine(section, n)} id ${i + 1}`)
      })
      continue
    }
    out.push(line)
  }
  return out.join('\n')
}

function serverLine(backend: string, n: ProxiedNode): string {
  switch (backend) {
    case 'mqtt_gateways':
      return `server ${n.name} 127.0.0.1:${n.mqttPort} port ${n.httpPort}`
    case 'mqtts_gateways':
      // Port 1 refuses at once: no TLS here, and no one else's listener.
      return `server ${n.name} 127.0.0.1:${n.mqttsPort ?? 1} port ${n.httpPort}`
    case 'web_gateways':
      return `server ${n.name} 127.0.0.1:${n.httpPort}`
    default:
      throw new Error(`no test server lines for backend ${backend}`)
  }
}

/**
 * A real Debian `haproxy` in the foreground (`-db`), its config rendered from the shipped one into a
 * temp dir, on free loopback ports. Ready once the web frontend accepts a connection.
 */
export async function startTestHaproxy(nodes: readonly ProxiedNode[]): Promise<TestHaproxy> {
  const tmp = tempDir('doorstep-haproxy-')
  const ports: FrontendPorts = {
    mqtt: await stablePort(),
    mqtts: await stablePort(),
    web: await stablePort(),
  }
  const file = path.join(tmp.dir, 'haproxy.cfg')
  fs.writeFileSync(file, renderConfig(fs.readFileSync(SHIPPED_CONFIG, 'utf8'), ports, nodes))
  const bin = fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy'
  const child: ChildProcess = spawn(bin, ['-db', '-f', file], {
    cwd: tmp.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`haproxy did not start: ${err.message}`)))
    child.once('exit', (code) => reject(new Error(`haproxy exited (${code}): ${output.trim()}`)))
  })
  failed.catch(() => {})
  const pid = child.pid
  const stop = async () => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM')
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL')
      }, STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
    tmp.cleanup()
  }
  try {
    if (pid === undefined) await failed
    await Promise.race([accepts(ports.web), failed])
  } catch (err) {
    await stop()
    throw err
  }
  return {
    pid: pid as number,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    httpUrl: `http://127.0.0.1:${ports.web}`,
    output: () => output,
    stop,
  }
}

async function accepts(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`haproxy did not listen on ${port} within ${READY_TIMEOUT_MS} ms`)
}
