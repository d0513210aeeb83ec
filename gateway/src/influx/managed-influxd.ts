import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'

const PING_EVERY_MS = 50
const READY_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 10_000
const STDERR_TAIL_BYTES = 4096
/** Free ports are picked, closed, then bound by influxd: another process can take one in between. */
const PORT_ATTEMPTS = 3
/**
 * util-linux's setpriv sets PR_SET_PDEATHSIG and then execs influxd (same pid): the kernel sends
 * influxd SIGTERM when the gateway dies, however it dies (SIGKILL, OOM, a crash). influxd is a Go
 * binary we cannot change, and its stderr pipe is no help: it logs once per 30 min when idle, so a
 * broken pipe (EPIPE) would end it only then.
 */
const PDEATHSIG_WRAPPER = 'setpriv'
/**
 * The managed influxd runs at this niceness (coreutils `nice`, before it starts any thread: a later
 * setpriority would reach only its first thread). Every ten minutes or so under load it snapshots its
 * cache and compacts, a burst on every core; at the gateway's own priority that burst took the CPU from
 * the gateway's event loop (lag p99 up from about 20 to 40-65 ms at those moments in the hour's soak).
 * Its writes are batched and spooled, so a slower influxd costs nothing a unit waits for.
 */
const INFLUXD_NICENESS = 5
const INSTALL_HINT =
  'Install it with `apt-get install -y influxdb` (Debian), or set DOORSTEP_INFLUX_URL to use an existing InfluxDB 1.x'

/** A port that was free a moment ago, found by letting the kernel choose (bind to port 0). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

export interface ManagedInfluxdOptions {
  /** Everything influxd owns lives here: config, meta/data/wal, pidfile, log. */
  dataDir: string
  /** influxd binary, a name on PATH or a path. */
  bin?: string
  log: Logger
  /** Loopback by default: the managed influxd has no auth, so it must not be reachable from outside. */
  host?: string
  /** A fixed HTTP port (a restart that clients must find at the same address); free ports otherwise. */
  httpPort?: number
  /** How long influxd may take to answer /ping (20 s): opening months of shards takes longer under load. */
  readyTimeoutMs?: number
}

/**
 * An influxd child process for installs without an external InfluxDB. Both
 * listeners (HTTP and the RPC used by backup/restore) go on fresh ports so
 * that several gateways and test runs can share a machine.
 */
export class ManagedInfluxd {
  readonly #dataDir: string
  readonly #bin: string
  readonly #log: Logger
  readonly #host: string
  readonly #fixedPort: number | undefined
  readonly #readyTimeoutMs: number
  #child: ChildProcess | null = null
  #exited: Promise<void> | null = null
  #logStream: fs.WriteStream | null = null
  #stderrTail = ''
  #url: string | null = null
  #rpcAddress: string | null = null

  constructor(opts: ManagedInfluxdOptions) {
    // Absolute, because the orphan check compares it with another process's command line.
    this.#dataDir = path.resolve(opts.dataDir)
    this.#bin = opts.bin ?? 'influxd'
    this.#log = opts.log
    this.#host = opts.host ?? '127.0.0.1'
    this.#fixedPort = opts.httpPort
    this.#readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS
  }

  get url(): string | null {
    return this.#url
  }

  /** `host:port` of the RPC listener that `influxd backup/restore -portable -host` talk to, while running. */
  get rpcAddress(): string | null {
    return this.#url ? this.#rpcAddress : null
  }

  get pid(): number | null {
    return this.#child?.pid ?? null
  }

  get configPath(): string {
    return path.join(this.#dataDir, 'influxd.conf')
  }

  get pidfilePath(): string {
    return path.join(this.#dataDir, 'influxd.pid')
  }

  async start(): Promise<string> {
    if (this.#url) return this.#url
    await fsp.mkdir(this.#dataDir, { recursive: true })
    await this.#stopOrphan()
    this.#logStream = fs.createWriteStream(path.join(this.#dataDir, 'influxd.log'), { flags: 'a' })
    try {
      for (let attempt = 1; ; attempt++) {
        const httpPort = this.#fixedPort ?? (await findFreePort(this.#host))
        const rpcPort = await findFreePort(this.#host)
        await fsp.writeFile(this.configPath, this.#config(httpPort, rpcPort))
        const url = `http://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${httpPort}`
        const outcome = await this.#spawnAndWait(url)
        if (outcome === 'ready') {
          this.#url = url
          this.#rpcAddress = `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${rpcPort}`
          return url
        }
        if (attempt >= PORT_ATTEMPTS || this.#fixedPort !== undefined)
          throw this.#startError(`its ports were taken ${attempt} times in a row`)
        this.#log.warn({ attempt }, 'influxd port was taken; retrying with new ports')
      }
    } catch (err) {
      await this.#closeLog()
      throw err
    }
  }

  async stop(): Promise<void> {
    const child = this.#child
    // Cleared first so that the exit below is not reported as unexpected.
    this.#url = null
    if (child && this.#exited) {
      child.kill('SIGTERM')
      if (!(await within(this.#exited, STOP_TIMEOUT_MS))) {
        this.#log.warn({ pid: child.pid }, 'influxd did not stop on SIGTERM; killing it')
        child.kill('SIGKILL')
        await this.#exited
      }
    }
    this.#child = null
    this.#exited = null
    await fsp.rm(this.pidfilePath, { force: true })
    await this.#closeLog()
  }

  #config(httpPort: number, rpcPort: number): string {
    const dir = (name: string) => JSON.stringify(path.join(this.#dataDir, name))
    const bind = (port: number) => JSON.stringify(`${this.#host}:${port}`)
    // JSON string escapes are valid TOML basic-string escapes, so any path is safe here.
    return [
      'reporting-disabled = true',
      `bind-address = ${bind(rpcPort)}`,
      '[meta]',
      `  dir = ${dir('meta')}`,
      '[data]',
      `  dir = ${dir('data')}`,
      `  wal-dir = ${dir('wal')}`,
      '  query-log-enabled = false',
      '[http]',
      '  enabled = true',
      `  bind-address = ${bind(httpPort)}`,
      '  log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = true',
      '[logging]',
      '  suppress-logo = true',
      '',
    ].join('\n')
  }

  /** 'ready' once /ping answers; 'port-taken' when influxd lost the race for a port. */
  async #spawnAndWait(url: string): Promise<'ready' | 'port-taken'> {
    this.#stderrTail = ''
    const bin = findExecutable(this.#bin)
    if (bin === null) {
      const err: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${this.#bin} ENOENT`), {
        code: 'ENOENT',
      })
      throw this.#startError(`"${this.#bin}" was not found. ${INSTALL_HINT}`, err)
    }
    const wrapper = process.platform === 'linux' ? findExecutable(PDEATHSIG_WRAPPER) : null
    const argv = ['run', '-config', this.configPath]
    // detached: its own process group, so the Ctrl-C meant for the gateway does not stop influxd
    // before the gateway's last write; stop() ends it after that write. Parent death is covered by
    // the wrapper, an exit hook for process.exit() and uncaught exceptions, and the pidfile.
    const nice = findExecutable('nice')
    const command = [
      ...(nice ? [nice, '-n', String(INFLUXD_NICENESS)] : []),
      ...(wrapper ? [wrapper, '--pdeathsig', 'SIGTERM', '--'] : []),
      bin,
      ...argv,
    ]
    const child = spawn(command[0] as string, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    if (!wrapper)
      this.#log.warn('setpriv not found: an influxd may outlive a killed gateway until its next start')
    // process.exit() and uncaught exceptions skip stop(); 'exit' still runs, synchronously.
    const killOnExit = () => child.kill('SIGTERM')
    process.once('exit', killOnExit)
    const state: { error: NodeJS.ErrnoException | null; exit: string | null } = { error: null, exit: null }
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        process.off('exit', killOnExit)
        state.error = err
        resolve()
      })
      // 'close' rather than 'exit': by then stderr is fully read, so the reason is in the tail.
      child.once('close', (code, signal) => {
        process.off('exit', killOnExit)
        state.exit = signal ? `signal ${signal}` : `exit code ${code}`
        if (this.#child === child && this.#url) {
          this.#log.error({ exit: state.exit, tail: this.#stderrTail.slice(-500) }, 'managed influxd exited')
          this.#url = null
        }
        resolve()
      })
    })
    this.#child = child
    const logStream = this.#logStream
    if (logStream) child.stdout?.pipe(logStream, { end: false })
    child.stderr?.on('data', (chunk: Buffer) => {
      logStream?.write(chunk)
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES)
    })
    if (child.pid) await fsp.writeFile(this.pidfilePath, `${child.pid}\n`)

    const deadline = Date.now() + this.#readyTimeoutMs
    for (;;) {
      if (state.error || state.exit !== null) {
        this.#child = null
        await fsp.rm(this.pidfilePath, { force: true })
        const err = state.error
        if (err?.code === 'ENOENT')
          throw this.#startError(`"${this.#bin}" was not found. ${INSTALL_HINT}`, err)
        if (err) throw this.#startError(`"${this.#bin}" could not be run (${err.code ?? err.message})`, err)
        if (/address already in use/i.test(this.#stderrTail)) return 'port-taken'
        throw this.#startError(`influxd exited during start (${state.exit})`)
      }
      if (await pingOnce(url)) return 'ready'
      if (Date.now() > deadline) {
        await this.stop()
        throw this.#startError(`influxd did not answer ${url}/ping within ${this.#readyTimeoutMs / 1000} s`)
      }
      await sleep(PING_EVERY_MS)
    }
  }

  /**
   * An influxd from a gateway that died may still be shutting down (the
   * parent-death signal has just reached it), or still running (no setpriv),
   * holding the data dir: it is stopped before a second one starts. Only a process whose command line names our config file is stopped:
   * a recycled pid must never cost someone else their process.
   */
  async #stopOrphan(): Promise<void> {
    const pid = await readPidfile(this.pidfilePath)
    if (pid === null) return
    if (isAlive(pid) && (await cmdlineOf(pid)).includes(this.configPath)) {
      this.#log.warn({ pid }, 'stopping an influxd left over from a previous run')
      try {
        process.kill(pid, 'SIGTERM')
        if (!(await waitGone(pid, STOP_TIMEOUT_MS))) {
          process.kill(pid, 'SIGKILL')
          await waitGone(pid, STOP_TIMEOUT_MS)
        }
      } catch (err) {
        // ESRCH: it ended by itself in the meantime, which is what we wanted.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
          throw this.#startError(
            `the influxd left over from a previous run (pid ${pid}) could not be stopped`,
            err,
          )
        }
      }
    }
    await fsp.rm(this.pidfilePath, { force: true })
  }

  #startError(reason: string, cause?: unknown): DoorstepError {
    const tail = this.#stderrTail.trim().split('\n').slice(-15).join('\n')
    const logFile = path.join(this.#dataDir, 'influxd.log')
    const message = `The managed influxd could not be started: ${reason}.${tail ? `\nLast influxd output:\n${tail}` : ''}\nFull log: ${logFile}`
    return new DoorstepError(
      'DOORSTEP_ERR_INFLUXD_START',
      message,
      { bin: this.#bin, dataDir: this.#dataDir },
      { cause },
    )
  }

  async #closeLog(): Promise<void> {
    const s = this.#logStream
    this.#logStream = null
    if (s) await new Promise<void>((resolve) => s.end(resolve))
  }
}

/** The path of an executable: `name` itself when it has a slash, else the first match on PATH. */
function findExecutable(name: string): string | null {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter((d) => d.length > 0)
        .map((d) => path.join(d, name))
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK)
      if (fs.statSync(c).isFile()) return c
    } catch {
      // not here; try the next one
    }
  }
  return null
}

/** Whether `p` settles within `ms`, leaving no timer behind either way. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  const ac = new AbortController()
  const timeout = sleep(ms, false, { signal: ac.signal }).catch(() => false)
  try {
    return await Promise.race([p.then(() => true), timeout])
  } finally {
    ac.abort()
  }
}

async function pingOnce(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) })
    await res.body?.cancel()
    return res.status === 204
  } catch {
    return false
  }
}

async function readPidfile(file: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await fsp.readFile(file, 'utf8'), 10)
    return Number.isInteger(pid) && pid > 1 ? pid : null
  } catch {
    return null
  }
}

/** Alive and not a zombie: an unreaped orphan under a PID 1 that does not reap still answers kill(0). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

async function cmdlineOf(pid: number): Promise<string[]> {
  try {
    return (await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
  } catch {
    return []
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(PING_EVERY_MS)
  }
  return true
}
