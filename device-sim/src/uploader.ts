import fs from 'node:fs/promises'
import { ClipUploadResult } from '@doorstep/proto'
import type { ClipFile } from './clips.js'

/**
 * How a unit sends a clip to the gateway. Kept an interface: the clip upload
 * API is built elsewhere, and benches may want a no-op or a recording fake.
 */
export interface ClipUploader {
  /**
   * Uploads `file` for an event (after `end`) or a pull command. Resolves once
   * the gateway holds the whole file; calls `onProgress` with the bytes it
   * holds so far (a resumed upload starts above 0).
   */
  upload(
    eventOrCmdId: string,
    file: ClipFile,
    onProgress: (bytes: number) => void,
    ctx: UploadContext,
  ): Promise<void>
}

/** Who is uploading and where to; one shared uploader serves every unit. */
export interface UploadContext {
  deviceId: string
  /** Device secret, for HTTP Basic auth. Never logged. */
  secret: string
  /** Path the gateway asked for (a pull's `uploadPath`); default `/api/v1/clips/{id}`. */
  path?: string
  /** Throttle for a slow uplink, bytes per second. */
  bytesPerS?: number
  signal?: AbortSignal
}

export class UploadError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  constructor(message: string, status?: number, code?: string) {
    super(message)
    this.name = 'UploadError'
    this.status = status
    this.code = code
  }
}

export interface HttpClipUploaderOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 */
  baseUrl: string
  /** Per request, ms. */
  timeoutMs?: number
  /** HEAD + PUT rounds before giving up; each round resumes where the last stopped. */
  maxAttempts?: number
  chunkBytes?: number
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(signal.reason)
      },
      { once: true },
    )
  })

/**
 * The default uploader: `PUT /api/v1/clips/:eventId` with device Basic auth,
 * resumable. Each round asks first with HEAD how much the gateway already
 * holds, then streams the rest from that offset with
 * `Content-Range: bytes {from}-{last}/{total}` (RFC 9110 §14.4). A part that
 * leaves nothing missing but was not stored is finished with an empty
 * `Content-Range: bytes *\/{total}`.
 *
 * HEAD answers understood: 404 → nothing held; 2xx with `Upload-Offset` →
 * that many bytes of a partial upload; 2xx with only `Content-Length` → a
 * stored clip of that size; 308 with `Range: bytes=0-N` → N+1 bytes. A PUT
 * answer's body may be proto's ClipUploadResult: `partial` means go on.
 */
export class HttpClipUploader implements ClipUploader {
  readonly #base: string
  readonly #timeoutMs: number
  readonly #maxAttempts: number
  readonly #chunk: number

  constructor(opts: HttpClipUploaderOptions) {
    this.#base = opts.baseUrl
    this.#timeoutMs = opts.timeoutMs ?? 60_000
    this.#maxAttempts = Math.max(1, opts.maxAttempts ?? 4)
    this.#chunk = opts.chunkBytes ?? 64 * 1024
  }

  async upload(
    id: string,
    file: ClipFile,
    onProgress: (bytes: number) => void,
    ctx: UploadContext,
  ): Promise<void> {
    const url = new URL(ctx.path ?? `/api/v1/clips/${encodeURIComponent(id)}`, this.#base)
    const auth = `Basic ${Buffer.from(`${ctx.deviceId}:${ctx.secret}`).toString('base64')}`
    let lastErr: unknown
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (attempt > 0) await sleep(250 * 2 ** (attempt - 1), ctx.signal)
      try {
        const held = await this.#held(url, auth, file, ctx)
        onProgress(held.bytes)
        if (held.stored) return
        const done =
          held.bytes >= file.bytes
            ? await this.#finish(url, auth, file, ctx)
            : await this.#put(url, auth, file, held.bytes, onProgress, ctx)
        if (done) return
        lastErr = new UploadError(`upload ${id}: the gateway holds part of the clip; resuming`)
      } catch (err) {
        // Refusals a retry cannot fix end the upload at once: a client error (but a timeout or "too many
        // at once", 408 and 429, pass) and a full quota (507; the unit keeps the clip on its card).
        if (err instanceof UploadError && err.status !== undefined && !retryable(err.status)) throw err
        if (ctx.signal?.aborted) throw err
        lastErr = err
      }
    }
    throw lastErr instanceof Error ? lastErr : new UploadError(`upload ${id} failed`)
  }

  #signal(ctx: UploadContext): AbortSignal {
    const t = AbortSignal.timeout(this.#timeoutMs)
    return ctx.signal ? AbortSignal.any([t, ctx.signal]) : t
  }

  async #held(
    url: URL,
    auth: string,
    file: ClipFile,
    ctx: UploadContext,
  ): Promise<{ bytes: number; stored: boolean }> {
    const res = await fetch(url, {
      method: 'HEAD',
      headers: { authorization: auth },
      signal: this.#signal(ctx),
    })
    const clamp = (v: string | null) => {
      const n = v === null ? 0 : Number(v)
      return Number.isFinite(n) && n >= 0 ? Math.min(n, file.bytes) : 0
    }
    if (res.status === 404) return { bytes: 0, stored: false }
    if (res.status === 308) {
      const m = /bytes=0-(\d+)/.exec(res.headers.get('range') ?? '')
      return { bytes: m ? clamp(String(Number(m[1]) + 1)) : 0, stored: false }
    }
    if (res.ok) {
      // Doorstep's gateway says outright where the clip stands.
      const state = res.headers.get('doorstep-clip-state')
      if (state === 'ready') return { bytes: file.bytes, stored: true }
      if (state === 'rejected' || state === 'expired') {
        throw new UploadError(`HEAD ${url.pathname}: the gateway marks this clip ${state}`, 409)
      }
      const offset = res.headers.get('upload-offset')
      if (offset !== null) return { bytes: clamp(offset), stored: false }
      const bytes = clamp(res.headers.get('content-length'))
      return { bytes, stored: bytes >= file.bytes }
    }
    throw await errorOf(res, `HEAD ${url.pathname}`)
  }

  /** Reads a 2xx PUT answer: true unless it is a ClipUploadResult saying `partial`. */
  async #stored(res: Response): Promise<boolean> {
    const body: unknown = await res.json().catch(() => null)
    const result = ClipUploadResult.safeParse(body)
    return !result.success || result.data.state === 'stored'
  }

  /** Every byte is there but the clip is not stored yet: ask the gateway to finish it. */
  async #finish(url: URL, auth: string, file: ClipFile, ctx: UploadContext): Promise<boolean> {
    const res = await fetch(url, {
      method: 'PUT',
      headers: { authorization: auth, 'content-range': `bytes */${file.bytes}`, 'content-length': '0' },
      signal: this.#signal(ctx),
    })
    if (res.ok) return this.#stored(res)
    if (res.status === 308 || res.status === 409 || res.status === 416) {
      await res.arrayBuffer().catch(() => undefined)
      return false
    }
    throw await errorOf(res, `PUT ${url.pathname}`)
  }

  /** Streams [offset, end) of the file. Returns true when the gateway says it is stored. */
  async #put(
    url: URL,
    auth: string,
    file: ClipFile,
    offset: number,
    onProgress: (bytes: number) => void,
    ctx: UploadContext,
  ): Promise<boolean> {
    const fh = await fs.open(file.path, 'r')
    const started = Date.now()
    let pos = offset
    const chunk = ctx.bytesPerS
      ? Math.max(1024, Math.min(this.#chunk, Math.floor(ctx.bytesPerS / 4)))
      : this.#chunk
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (pos >= file.bytes) {
          controller.close()
          return
        }
        const buf = Buffer.allocUnsafe(Math.min(chunk, file.bytes - pos))
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos)
        if (bytesRead === 0) {
          controller.error(new UploadError(`clip ${file.path} is shorter than announced`))
          return
        }
        pos += bytesRead
        controller.enqueue(buf.subarray(0, bytesRead))
        onProgress(pos)
        if (ctx.bytesPerS) {
          // Slow uplink: hold the next read until the average rate is back under the limit.
          const due = ((pos - offset) / ctx.bytesPerS) * 1000 - (Date.now() - started)
          if (due > 0) await sleep(due, ctx.signal)
        }
      },
    })
    try {
      const init: RequestInit & { duplex: 'half' } = {
        method: 'PUT',
        headers: {
          authorization: auth,
          'content-type': 'video/mp4',
          'content-length': String(file.bytes - offset),
          'content-range': `bytes ${offset}-${file.bytes - 1}/${file.bytes}`,
        },
        body,
        // Required by fetch for a streamed request body.
        duplex: 'half',
        signal: this.#signal(ctx),
      }
      const res = await fetch(url, init)
      if (res.ok) return this.#stored(res)
      // 308: partial accepted; 409/416: our offset was stale. Both: ask again and resume.
      if (res.status === 308 || res.status === 409 || res.status === 416) {
        await res.arrayBuffer().catch(() => undefined)
        return false
      }
      throw await errorOf(res, `PUT ${url.pathname}`)
    } finally {
      await fh.close()
    }
  }
}

async function errorOf(res: Response, what: string): Promise<UploadError> {
  let code: string | undefined
  try {
    const body = (await res.json()) as { error?: { code?: unknown } }
    if (typeof body.error?.code === 'string') code = body.error.code
  } catch {
    // Not an error body; the status says enough.
  }
  return new UploadError(`${what}: HTTP ${res.status}${code ? ` ${code}` : ''}`, res.status, code)
}

/**
 * Bounds concurrent uploads across the fleet: a pull storm must not open a
 * socket per unit. Excess work waits in a bounded queue; beyond it, refused.
 */
export function createLimiter(
  concurrency: number,
  maxQueued = 10_000,
): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const queue: Array<() => void> = []
  const release = () => {
    active--
    queue.shift()?.()
  }
  return <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= concurrency && queue.length >= maxQueued) {
      return Promise.reject(new Error('upload queue is full'))
    }
    return new Promise<T>((resolve, reject) => {
      const run = () => {
        active++
        fn().then(resolve, reject).finally(release)
      }
      if (active < concurrency) run()
      else queue.push(run)
    })
  }
}

function retryable(status: number): boolean {
  if (status === 408 || status === 429) return true
  return status >= 500 && status !== 507
}
