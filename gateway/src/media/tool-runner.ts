import { type ChildProcess, fork } from 'node:child_process'
import { z } from 'zod'

/** What a tool run gave: its output (bounded), the tail of its stderr and its exit code. */
export interface RunResult {
  stdout: Buffer
  stderr: string
  code: number | null
}

/**
 * Why a run gave no result: it ran past its time (`timeout`) or past its output bound (`overflow`) and
 * was killed, it could not be started (`spawn`, with the errno code such as ENOENT), or the runner
 * process itself died or stopped answering (`runner`).
 */
export class ToolRunFailure extends Error {
  constructor(
    readonly kind: 'timeout' | 'overflow' | 'spawn' | 'runner',
    message: string,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'ToolRunFailure'
  }
}

const CHILD = new URL('./tool-runner-child.mjs', import.meta.url)
/** Past a job's own timeout, how long the runner has to answer before it is taken for wedged. */
const GRACE_MS = 5_000

const Reply = z.union([
  z.object({
    id: z.number().int(),
    code: z.number().int().nullable(),
    stdout: z.instanceof(Uint8Array),
    stderr: z.string(),
  }),
  z.object({
    id: z.number().int(),
    error: z.object({
      kind: z.enum(['timeout', 'overflow', 'spawn']),
      message: z.string(),
      code: z.string().optional(),
    }),
  }),
])

interface Pending {
  child: ChildProcess
  resolve: (r: RunResult) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/**
 * Runs ffprobe and ffmpeg through one long-lived child process (tool-runner-child.mjs) instead of
 * spawning them from the gateway. A spawn forks its caller while the event loop waits, and a fork
 * copies the caller's page tables: from a gateway of a few hundred MiB that was several ms per run,
 * two runs per clip, a tenth of the main thread's time in the soak at ten times the city's event
 * rate. The runner is a few MiB; its forks cost the gateway nothing. It is started on first use,
 * shared by every gateway in the process, restarted if it dies, and ends with the process (it
 * exits, killing its tools, when its channel to the gateway closes).
 */
class ToolRunner {
  #child: ChildProcess | null = null
  #nextId = 1
  readonly #pending = new Map<number, Pending>()

  run(bin: string, args: readonly string[], timeoutMs: number, maxStdout: number): Promise<RunResult> {
    const child = this.#ensure()
    const id = this.#nextId++
    return new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(id)?.reject(
          new ToolRunFailure('runner', `the tool runner did not answer within ${timeoutMs + GRACE_MS} ms`),
        )
        // Wedged: a new runner serves the next run. This one is killed; a tool it had running is
        // orphaned and ends by itself (a tool stuck on its input would not: rare enough to leave).
        this.#discard(child)
      }, timeoutMs + GRACE_MS)
      this.#pending.set(id, { child, resolve, reject, timer })
      // While a run is out, the channel keeps the process alive, as a spawned tool would.
      child.channel?.ref()
      child.send({ id, bin, args, timeoutMs, maxStdout }, (err) => {
        if (err) this.#settle(id)?.reject(new ToolRunFailure('runner', `the tool runner: ${err.message}`))
      })
    })
  }

  #ensure(): ChildProcess {
    if (this.#child?.connected) return this.#child
    const child = fork(CHILD, [], {
      // Not the gateway's own flags (the TypeScript loader, the heap sizes): the runner is plain JS.
      execArgv: [],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    child.unref()
    child.channel?.unref()
    child.on('message', (m: unknown) => this.#onReply(m))
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = null
      this.#failAll(child, new ToolRunFailure('runner', `the tool runner exited (${signal ?? code})`))
    })
    child.on('error', (err) => {
      if (this.#child === child) this.#child = null
      this.#failAll(child, new ToolRunFailure('runner', `the tool runner: ${err.message}`))
    })
    this.#child = child
    return child
  }

  #onReply(m: unknown): void {
    const r = Reply.safeParse(m)
    if (!r.success) return
    const p = this.#settle(r.data.id)
    if (!p) return
    const d = r.data
    if ('error' in d) {
      p.reject(new ToolRunFailure(d.error.kind, d.error.message, d.error.code))
      return
    }
    const out = d.stdout
    p.resolve({
      stdout: Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength),
      stderr: d.stderr,
      code: d.code,
    })
  }

  /** Takes a run off the pending list (once), letting the process exit when none is left. */
  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id)
    if (!p) return undefined
    this.#pending.delete(id)
    clearTimeout(p.timer)
    if (this.#pending.size === 0) this.#child?.channel?.unref()
    return p
  }

  /** Fails the runs sent to `child` (a runner that replaced it has its own). */
  #failAll(child: ChildProcess, err: Error): void {
    for (const [id, p] of [...this.#pending]) if (p.child === child) this.#settle(id)?.reject(err)
  }

  #discard(child: ChildProcess): void {
    if (this.#child === child) this.#child = null
    child.kill('SIGKILL')
  }
}

const runner = new ToolRunner()

/** Runs `bin` with `args` through the tool runner (see ToolRunner): killed past `timeoutMs` or `maxStdout`. */
export function runTool(
  bin: string,
  args: readonly string[],
  timeoutMs: number,
  maxStdout: number,
): Promise<RunResult> {
  return runner.run(bin, args, timeoutMs, maxStdout)
}
