import type { PullUploadResult } from '@doorstep/proto'
import { BodyInterruptedError, hashFile, TooManyBytesError, writePart } from '../clips/partial-file.js'
import type { UploadRange } from '../clips/range.js'
import type { ClipStore } from '../clips/store.js'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import { NotAVideoError, type ProbeResult, posterFrame, probe } from '../media/ffmpeg.js'
import { webpThumbnail } from '../media/thumbnail.js'
import type { WorkQueue } from '../media/work-queue.js'
import { type CaseStore, FINAL_STATES, type PullRow } from './case-store.js'

export interface PullUploadRequest {
  pullId: string
  deviceId: string
  range: UploadRange | null
  contentLength: number | undefined
  body: AsyncIterable<Buffer | string> | Iterable<Buffer> | undefined
  /** sha256 hex the unit declared in `Repr-Digest` (RFC 9530), if any: checked when the last byte is in. */
  declaredSha256: string | null
  abort: () => void
}

export interface PullUploadDeps {
  /** A ClipStore of its own (`<dataDir>/pulls`): same layout and guarantees, outside clip retention. */
  store: ClipStore
  table: CaseStore
  media: WorkQueue
  log: Logger
  maxBytes: number
  /** Bytes received so far (for the pull's progress). */
  onProgress: (pull: PullRow, received: number) => void
  /** The recording is stored at its content address. */
  onStored: (pullId: string, sha256: string, bytes: number, media: ProbeResult) => void
  /** The bytes were not a readable video: the pull fails. */
  onRejected: (pullId: string, reason: string) => void
}

/** States in which the unit has (had) the command and its upload is taken. */
const UPLOADABLE = new Set(['pending', 'uploading', 'offline'])
const POSTER_AT_MS = 1000

/**
 * Resumable uploads of pulled recordings, built from the clips feature's
 * parts: the same Content-Range protocol (`range.ts`), the partial file with
 * resumable hashing (`partial-file.ts`), the content-addressed `ClipStore`,
 * ffprobe and the thumbnail. What differs from an event clip: nobody
 * announced the size or the digest beforehand. The first request names the
 * size (Content-Range total, or Content-Length); the digest is computed on
 * arrival and, when the unit sent `Repr-Digest`, must equal it.
 */
export class PullUploads {
  readonly #d: PullUploadDeps
  readonly #active = new Map<string, { abort: () => void; done: Promise<void> }>()
  #thumbs: Promise<void> = Promise.resolve()

  constructor(deps: PullUploadDeps) {
    this.#d = deps
  }

  /** `HEAD`: how much the gateway holds. */
  async status(
    pullId: string,
    deviceId: string,
  ): Promise<{ received: number; total: number | null; stored: boolean }> {
    const p = this.#own(pullId, deviceId)
    if (p.stored_at !== null) return { received: p.total ?? 0, total: p.total, stored: true }
    return { received: await this.#d.store.partialSize(pullId), total: p.total, stored: false }
  }

  abortAll(): void {
    for (const u of this.#active.values()) u.abort()
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active.values()].map((u) => u.done))
    await this.#thumbs
  }

  async receive(req: PullUploadRequest): Promise<{ status: 200 | 201 | 202; result: PullUploadResult }> {
    this.#own(req.pullId, req.deviceId)
    const release = await this.#lock(req.pullId, req.abort)
    try {
      const p = this.#own(req.pullId, req.deviceId)
      if (p.stored_at !== null && p.total !== null && p.sha256) {
        const total = p.total
        return {
          status: 200,
          result: { pullId: p.id, state: 'stored', received: total, total, sha256: p.sha256 },
        }
      }
      // Sent at least once: the unit has the command, and may go on uploading even while the gateway
      // waits to send it again (after a reconnect, when the district's budget is full).
      if (!UPLOADABLE.has(p.state) || p.sends === 0) {
        throw new DoorstepError('DOORSTEP_ERR_PULL_STATE', `The pull is ${p.state}; it takes no upload now`)
      }
      const store = this.#d.store
      const have = await store.partialSize(p.id)
      const total = await this.#total(p, req, have)
      if (req.range?.kind === 'finish') {
        if (have !== total) throw offsetError(have, total, `only ${have} of ${total} bytes have arrived`)
        return {
          status: 201,
          result: await this.#finish(p, total, await hashFile(store.partialPath(p.id)), req),
        }
      }
      const start = req.range?.kind === 'part' ? req.range.start : 0
      const end = req.range?.kind === 'part' ? req.range.end + 1 : total
      if (start > have) throw offsetError(have, total, `the upload continues at byte ${have}, not ${start}`)
      if (req.contentLength !== undefined && req.contentLength !== end - start) {
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          `Content-Length ${req.contentLength} does not match the ${end - start} bytes of the range`,
        )
      }
      const at = await this.#append(p, req, start, end, total)
      this.#d.onProgress(p, at.at)
      if (at.at < total)
        return { status: 202, result: { pullId: p.id, state: 'partial', received: at.at, total } }
      return { status: 201, result: await this.#finish(p, total, at.digest, req) }
    } finally {
      release()
    }
  }

  /** The size of the recording: fixed by the first request, and every later one must agree. */
  async #total(p: PullRow, req: PullUploadRequest, have: number): Promise<number> {
    const named = req.range ? req.range.total : req.contentLength
    if (named === undefined) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        'Content-Range or Content-Length must give the size',
      )
    }
    if (named <= 0) throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'The recording is empty')
    if (named > this.#d.maxBytes) {
      throw new DoorstepError(
        'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
        `The recording is ${named} bytes; the most accepted is ${this.#d.maxBytes}`,
      )
    }
    if (p.total !== null && p.total !== named) {
      if (have > 0) {
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          `The upload names ${named} bytes; it began as ${p.total} bytes (${have} received)`,
        )
      }
    }
    if (p.total !== named) this.#d.table.updatePull(p.id, { total: named })
    return named
  }

  async #append(
    p: PullRow,
    req: PullUploadRequest,
    start: number,
    end: number,
    total: number,
  ): Promise<{ at: number; digest: string }> {
    const store = this.#d.store
    try {
      return await writePart(store.partialPath(p.id), req.body, start, end, total)
    } catch (err) {
      if (err instanceof TooManyBytesError) {
        await store.removePartial(p.id)
        throw new DoorstepError('DOORSTEP_ERR_PAYLOAD_TOO_LARGE', 'The body is longer than its range')
      }
      if (err instanceof BodyInterruptedError) {
        this.#d.log.info({ pullId: p.id, device: p.device_id }, 'pull upload interrupted; partial kept')
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          'The upload was interrupted; HEAD tells where to continue',
        )
      }
      throw err
    }
  }

  async #finish(
    p: PullRow,
    total: number,
    digest: string,
    req: PullUploadRequest,
  ): Promise<PullUploadResult> {
    const { store, log } = this.#d
    if (req.declaredSha256 && req.declaredSha256 !== digest) {
      await store.removePartial(p.id)
      this.#d.onProgress(p, 0)
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_HASH_MISMATCH',
        'The recording does not match the Repr-Digest the unit sent',
        { expected: req.declaredSha256, actual: digest },
      )
    }
    let media: ProbeResult
    try {
      media = await this.#d.media.run(() => probe(store.partialPath(p.id)))
    } catch (err) {
      if (!(err instanceof NotAVideoError)) throw err
      await store.removePartial(p.id)
      this.#d.onRejected(p.id, `not a readable video: ${err.message}`)
      log.warn({ pullId: p.id, device: p.device_id }, 'pulled recording is not a video; removed')
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_NOT_VIDEO',
        `The recording is not a readable video: ${err.message}`,
      )
    }
    // Write-ahead: the digest is on the row before the rename, so a crash in between is finished at start.
    this.#d.table.updatePull(p.id, { sha256: digest, media: JSON.stringify(media) })
    await store.commit(p.id, digest)
    this.#d.onStored(p.id, digest, total, media)
    this.#scheduleThumb(p.id)
    return { pullId: p.id, state: 'stored', received: total, total, sha256: digest }
  }

  #scheduleThumb(pullId: string): void {
    if (!this.#d.media.hasRoom) return
    const job = this.#d.media
      .run(() => this.#makeThumb(pullId))
      .catch((err) => this.#d.log.warn({ err: (err as Error).message, pullId }, 'pull thumbnail failed'))
    this.#thumbs = this.#thumbs.then(() => job)
  }

  async #makeThumb(pullId: string): Promise<void> {
    const p = this.#d.table.pull(pullId)
    if (!p?.sha256 || p.stored_at === null || p.thumb === 1) return
    const media = JSON.parse(p.media ?? '{}') as Partial<ProbeResult>
    const store = this.#d.store
    const frame = await posterFrame(
      store.clipPath(p.sha256),
      Math.min(POSTER_AT_MS, Math.floor((media.durationMs ?? 0) / 2)),
    )
    await store.writeAtomic(store.thumbPath(p.sha256), await webpThumbnail(frame))
    this.#d.table.updatePull(pullId, { thumb: 1 })
  }

  /**
   * At start: finish what a crash interrupted between the write-ahead and
   * `done`, drop partials of pulls that are over, and make missing thumbnails.
   */
  async recover(): Promise<void> {
    const { store, table, log } = this.#d
    for (const p of table.committing()) {
      const sha = p.sha256 as string
      const media = JSON.parse(p.media ?? 'null') as ProbeResult | null
      const size = await store.partialSize(p.id)
      if (media && store.exists(sha)) {
        await store.removePartial(p.id)
      } else if (
        media &&
        p.total !== null &&
        size === p.total &&
        (await hashFile(store.partialPath(p.id))) === sha
      ) {
        await store.commit(p.id, sha)
      } else {
        table.updatePull(p.id, { sha256: null, media: null })
        continue
      }
      this.#d.onStored(p.id, sha, p.total ?? size, media)
      log.warn({ pullId: p.id }, 'finished a pull commit interrupted by a crash')
    }
    for (const id of await store.partialIds()) {
      const p = table.pull(id)
      if (!p || FINAL_STATES.has(p.state)) await store.removePartial(id)
    }
    for (const p of table.pullsWithoutThumb()) this.#scheduleThumb(p.id)
  }

  /** The pull, if this unit may upload to it. */
  #own(pullId: string, deviceId: string): PullRow {
    const p = this.#d.table.pull(pullId)
    if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${pullId}`)
    if (p.device_id !== deviceId) {
      throw new DoorstepError('DOORSTEP_ERR_FORBIDDEN', 'Only the unit a pull was sent to may upload for it')
    }
    return p
  }

  /** One upload per pull at a time; a newer request ends the older one (a unit retrying after a drop). */
  async #lock(id: string, abort: () => void): Promise<() => void> {
    for (let cur = this.#active.get(id); cur; cur = this.#active.get(id)) {
      cur.abort()
      await cur.done
    }
    let release = () => {}
    const done = new Promise<void>((r) => {
      release = r
    })
    const entry = { abort, done }
    this.#active.set(id, entry)
    return () => {
      if (this.#active.get(id) === entry) this.#active.delete(id)
      release()
    }
  }
}

function offsetError(received: number, total: number, message: string): DoorstepError {
  return new DoorstepError(
    'DOORSTEP_ERR_UPLOAD_OFFSET',
    `The upload does not continue from the bytes received: ${message}`,
    {
      received,
      total,
    },
  )
}
