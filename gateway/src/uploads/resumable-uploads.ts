import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import type { WorkQueue } from '../media/index.js'
import { NotAVideoError, type ProbeResult, probe } from '../media/index.js'
import { BodyInterruptedError, hashFile, TooManyBytesError, writePart } from './partial-file.js'
import type { UploadRange } from './upload-headers.js'

/** Where an upload's bytes wait, and the content-addressed store they go to (a `ClipStore`). */
export interface PartialFiles {
  partialPath(id: string): string
  /** Bytes received so far (0 when none). */
  partialSize(id: string): Promise<number>
  removePartial(id: string): Promise<void>
  exists(sha256: string): boolean
  /** Renames a verified partial to its content address. */
  commit(id: string, sha256: string): Promise<void>
}

/** A PUT's hold on its upload across gateways (`UploadTarget.writer`). */
export interface WriterHold {
  /** How long after it was taken or renewed the hold may lapse (another PUT may then take it), ms. */
  readonly lapseMs: number
  /** The PUT is still at work: false when another PUT took the upload over (its hold had lapsed). */
  renew(): Promise<boolean>
  release(): Promise<void>
}

/**
 * How often a PUT renews its hold: while its body brings bytes, and while the bytes it has are verified
 * and probed; a body that stalls (a unit whose link died, seen by nobody) stops renewing, and its hold
 * lapses (the target's lease) for the unit's next PUT, wherever that comes in.
 */
const RENEW_MS = 2000

/** What every answer of a PUT carries, for the `Upload-Offset` headers. */
export interface UploadAnswer {
  received: number
  total: number
}

/**
 * What is uploaded where, who may, and what completion means. The engine
 * calls these at fixed points of a request; each says what it does to the
 * target's own records.
 */
export interface UploadTarget<Job, Result extends UploadAnswer> {
  /** The thing uploaded, in messages: `clip`, `recording`. */
  readonly noun: string
  /** The log field that names the upload: `eventId`, `pullId`. */
  readonly logKey: string
  /** What `id` names, if `deviceId` may upload to it; throws NOT_FOUND, FORBIDDEN or its own refusal. */
  find(id: string, deviceId: string): Job | Promise<Job>
  /** The total size known before this request (announced, or fixed by an earlier request). */
  knownTotal(job: Job): number | null
  /** The bytes stored when the upload is finished, else null (`HEAD`). */
  storedBytes(job: Job): number | null
  /** The answer to a PUT for an upload already stored (the unit lost ours), else null. */
  storedAnswer(job: Job): Result | null | Promise<Result | null>
  /** `Doorstep-Clip-State` of a `HEAD`. */
  headState(job: Job, received: number): string
  /**
   * Whether the job takes bytes now, and its total size: what this request
   * names, checked against what is known. Records nothing (the size limit is
   * checked after it).
   */
  total(job: Job, req: { range: UploadRange | null; contentLength: number | undefined }, have: number): number
  /** The size passed the limit (a pull records it). */
  sized?(job: Job, total: number): void | Promise<void>
  /**
   * Bytes of `total` are about to be taken for the job: the target may refuse
   * (a unit's quota or its open uploads, checked when an upload opens) and
   * records the upload as open. Called on every PUT that carries or finishes
   * bytes; an upload already open passes.
   */
  reserve?(job: Job, total: number): void | Promise<void>
  /**
   * Makes this PUT the upload's only writer across the gateways sharing its partial (after `reserve`,
   * before any byte is written or verified), or throws DOORSTEP_ERR_UPLOAD_BUSY while another PUT holds
   * it; null when there is nobody to share with (the gateway's own lock is enough).
   */
  writer?(job: Job): Promise<WriterHold | null>
  /** Bytes are about to be written. */
  writing?(job: Job): void | Promise<void>
  /** Bytes were written: `received` in all. */
  progressed?(job: Job, received: number): void | Promise<void>
  /** The partial was removed (a body too long, a digest mismatch): the upload starts again from 0. */
  discarded(job: Job): void | Promise<void>
  /**
   * The sha256 the bytes must have, announced for the target or declared by
   * the request, and `from` where, for the message of a mismatch.
   */
  expectedSha256(job: Job, declared: string | null): { sha256: string; from: string } | null
  /** ffprobe saw no video; the partial is already removed. */
  rejected(job: Job, reason: string): void | Promise<void>
  /** Verified and probed: store it at its content address (write-ahead first) and say so. */
  commit(job: Job, total: number, sha256: string, media: ProbeResult): Promise<Result>
  /** The answer while bytes are missing. */
  partial(job: Job, received: number, total: number): Result
}

export interface UploadRequest {
  id: string
  deviceId: string
  range: UploadRange | null
  contentLength: number | undefined
  /** The request body as a stream; it is never gathered in memory. */
  body: AsyncIterable<Buffer | string> | Iterable<Buffer> | undefined
  /** sha256 hex the client declared in `Repr-Digest` (RFC 9530), if any. */
  declaredSha256: string | null
  /** Ends the request (a newer upload of the same thing takes over, or the server closes). */
  abort: () => void
}

export interface ResumableUploadsDeps<Job, Result extends UploadAnswer> {
  target: UploadTarget<Job, Result>
  files: PartialFiles
  media: WorkQueue
  log: Logger
  maxBytes: number
  /** Longest a probe may take before ffprobe is killed and the upload rejected, ms. */
  mediaTimeoutMs?: number
}

interface ActiveUpload {
  abort: () => void
  done: Promise<void>
}

/**
 * The resumable upload protocol, for event clips and pulled recordings alike:
 * the bytes go to a partial file at the offset the Content-Range names (RFC
 * 9110 §14.4), hashed as they stream; when the last byte is in, the digest must
 * equal the expected one, ffprobe (in the media queue) must see a video, and
 * the target commits the file to its content address. One upload per id at a
 * time: a newer request ends the older one.
 */
export class ResumableUploads<Job, Result extends UploadAnswer> {
  readonly #d: ResumableUploadsDeps<Job, Result>
  readonly #active = new Map<string, ActiveUpload>()

  constructor(deps: ResumableUploadsDeps<Job, Result>) {
    this.#d = deps
  }

  /** `HEAD`: how many bytes the gateway holds. */
  async status(
    id: string,
    deviceId: string,
  ): Promise<{ received: number; total: number | null; state: string }> {
    const { target, files } = this.#d
    const job = await this.#find(id, deviceId)
    const received = target.storedBytes(job) ?? (await files.partialSize(id))
    return { received, total: target.knownTotal(job), state: target.headState(job, received) }
  }

  busy(id: string): boolean {
    return this.#active.has(id)
  }

  /** Ends every upload in progress; their partial files stay for the resume. */
  abortAll(): void {
    for (const u of this.#active.values()) u.abort()
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active.values()].map((u) => u.done))
  }

  /** On stop: ends every upload in progress and waits until each has let go of its partial. */
  async close(): Promise<void> {
    this.abortAll()
    await this.settled()
  }

  /** `PUT`: 202 while bytes are missing, 201 once stored, 200 when it already was. */
  async receive(req: UploadRequest): Promise<{ status: 200 | 201 | 202; result: Result }> {
    const { target, files } = this.#d
    await this.#find(req.id, req.deviceId)
    const release = await this.#lock(req.id, req.abort)
    try {
      // Read again under the lock: an upload that held it may have just stored it.
      const job = await this.#find(req.id, req.deviceId)
      const stored = await target.storedAnswer(job)
      if (stored) return { status: 200, result: stored }
      const have = await files.partialSize(req.id)
      const total = target.total(job, req, have)
      this.#checkSize(total)
      await target.sized?.(job, total)
      await target.reserve?.(job, total)
      const hold = (await target.writer?.(job)) ?? null
      if (!hold) return await this.#put(req, job, have, total, null)
      const watch = new HoldWatch(hold, req.abort, this.#d.log, { [target.logKey]: req.id })
      try {
        // Read again under the hold: the PUT that held it may have stored it through another gateway.
        const held = await this.#find(req.id, req.deviceId)
        const storedElsewhere = await target.storedAnswer(held)
        if (storedElsewhere) return { status: 200, result: storedElsewhere }
        return await this.#put(req, held, have, total, watch)
      } finally {
        await watch.end()
      }
    } finally {
      release()
    }
  }

  /**
   * A PUT's work once its upload is reserved (and held): finish, or write the range. `have` is read
   * again under a hold: until it was taken another gateway's PUT may have been writing the partial.
   */
  async #put(
    req: UploadRequest,
    job: Job,
    before: number,
    total: number,
    watch: HoldWatch | null,
  ): Promise<{ status: 200 | 201 | 202; result: Result }> {
    const { target, files } = this.#d
    const have = watch ? await files.partialSize(req.id) : before
    if (req.range?.kind === 'finish') {
      if (have !== total) throw offsetError(have, total, `only ${have} of ${total} bytes have arrived`)
      const digest = await hashFile(files.partialPath(req.id))
      return { status: 201, result: await this.#complete(req.id, job, total, digest, req.declaredSha256) }
    }
    const start = req.range?.kind === 'part' ? req.range.start : 0
    const end = req.range?.kind === 'part' ? req.range.end + 1 : total
    // Overlap is fine (bytes we have are cut off and written again); a gap is not.
    if (start > have) throw offsetError(have, total, `the upload continues at byte ${have}, not ${start}`)
    if (req.contentLength !== undefined && req.contentLength !== end - start) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        `Content-Length ${req.contentLength} does not match the ${end - start} bytes of the range`,
      )
    }
    await target.writing?.(job)
    const at = await this.#append(req, job, start, end, total, watch)
    await target.progressed?.(job, at.at)
    if (at.at < total) return { status: 202, result: target.partial(job, at.at, total) }
    return { status: 201, result: await this.#complete(req.id, job, total, at.digest, req.declaredSha256) }
  }

  /**
   * Finishes an upload whose bytes were all on disk at start (a crash after
   * the last byte, before the rename), under the same lock as a PUT. `recheck`
   * reads the job again under the lock and says null when it no longer waits
   * for its bytes. False when there was nothing to finish.
   */
  async finishFromDisk(id: string, recheck: () => Job | null | Promise<Job | null>): Promise<boolean> {
    const { target, files } = this.#d
    const release = await this.#lock(id, () => {})
    try {
      const job = await recheck()
      const total = job === null ? null : target.knownTotal(job)
      if (job === null || total === null || (await files.partialSize(id)) !== total) return false
      await this.#complete(id, job, total, await hashFile(files.partialPath(id)), null)
      return true
    } finally {
      release()
    }
  }

  async #find(id: string, deviceId: string): Promise<Job> {
    const job = await this.#d.target.find(id, deviceId)
    const known = this.#d.target.knownTotal(job)
    if (known !== null) this.#checkSize(known)
    return job
  }

  #checkSize(total: number): void {
    const { maxBytes, target } = this.#d
    if (total > maxBytes) {
      throw new DoorstepError(
        'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
        `The ${target.noun} is ${total} bytes; the most accepted is ${maxBytes}`,
      )
    }
  }

  /** Streams the body into the partial; the sha256 covers the whole file so far (see partial-file.ts). */
  async #append(
    req: UploadRequest,
    job: Job,
    start: number,
    end: number,
    total: number,
    watch: HoldWatch | null,
  ): Promise<{ at: number; digest: string }> {
    const { files, target, log } = this.#d
    const body = watch && req.body ? watch.streaming(req.body) : req.body
    try {
      return await writePart(files.partialPath(req.id), body, start, end, total)
    } catch (err) {
      if (err instanceof TooManyBytesError) {
        await files.removePartial(req.id)
        await target.discarded(job)
        throw new DoorstepError(
          'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
          `The body is longer than its range or the announced ${total} bytes`,
        )
      }
      if (err instanceof BodyInterruptedError) {
        log.info(
          { [target.logKey]: req.id, device: req.deviceId },
          `${target.noun} upload interrupted; partial kept`,
        )
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          'The upload was interrupted; HEAD tells where to continue',
        )
      }
      throw err
    }
  }

  /** Every byte is in the partial: verify, probe, commit. */
  async #complete(
    id: string,
    job: Job,
    total: number,
    digest: string,
    declared: string | null,
  ): Promise<Result> {
    const { files, target, log } = this.#d
    const expected = target.expectedSha256(job, declared)
    if (expected !== null && digest !== expected.sha256) {
      await files.removePartial(id)
      await target.discarded(job)
      log.warn({ [target.logKey]: id }, `${target.noun} digest mismatch; partial removed`)
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_HASH_MISMATCH',
        `The ${target.noun} does not match ${expected.from}`,
        { expected: expected.sha256, actual: digest },
      )
    }
    let media: ProbeResult
    try {
      media = await this.#d.media.run(() => probe(files.partialPath(id), this.#d.mediaTimeoutMs))
    } catch (err) {
      // MEDIA_BUSY: the complete partial stays, and `Content-Range: bytes */TOTAL` finishes it later.
      // A probe that ran out of time is a NotAVideoError: ffprobe was killed, and a file that wedges it
      // is not kept to wedge it again on every retry.
      if (!(err instanceof NotAVideoError)) throw err
      await files.removePartial(id)
      await target.rejected(job, `not a readable video: ${err.message}`)
      log.warn({ [target.logKey]: id, reason: err.message }, `${target.noun} is not a video; removed`)
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_NOT_VIDEO',
        `The ${target.noun} is not a readable video: ${err.message}`,
      )
    }
    return target.commit(job, total, digest, media)
  }

  /**
   * One upload per id at a time. A newer request ends the older one first:
   * after a dropped uplink the unit's retry must not wait for the server to
   * notice that the old socket is dead.
   */
  async #lock(id: string, abort: () => void): Promise<() => void> {
    for (let cur = this.#active.get(id); cur; cur = this.#active.get(id)) {
      cur.abort()
      await cur.done
    }
    let release = () => {}
    const done = new Promise<void>((r) => {
      release = r
    })
    const entry: ActiveUpload = { abort, done }
    this.#active.set(id, entry)
    return () => {
      if (this.#active.get(id) === entry) this.#active.delete(id)
      release()
    }
  }
}

/**
 * Keeps a PUT's hold renewed every RENEW_MS while it is at work: while its body streams, only when bytes
 * came since the last renewal; otherwise (verifying, probing) always. A renewal refused means another PUT
 * took the upload over: this one is ended (`abort`). Bytes that arrive after a stall long enough for the
 * hold to have lapsed wait for a renewal first, and are never written once another PUT has the upload
 * (it may have stored the file this PUT still has open).
 */
class HoldWatch {
  readonly #hold: WriterHold
  readonly #abort: () => void
  readonly #timer: NodeJS.Timeout
  /** When the hold was last taken or renewed (this gateway's clock, read before asking). */
  #heldAt = Date.now()
  #inBody = false
  #fresh = false

  constructor(hold: WriterHold, abort: () => void, log: Logger, logFields: Record<string, string>) {
    this.#hold = hold
    this.#abort = () => {
      log.warn(logFields, 'upload taken over by a newer one through another gateway; this one ends')
      abort()
    }
    this.#timer = setInterval(() => {
      if (this.#inBody && !this.#fresh) return
      this.#fresh = false
      // A failed renewal (the database away) leaves the hold to lapse; the upload goes on meanwhile.
      this.#renew().catch(() => {})
    }, RENEW_MS)
    this.#timer.unref()
  }

  async #renew(): Promise<boolean> {
    const at = Date.now()
    const still = await this.#hold.renew()
    if (still) this.#heldAt = Math.max(this.#heldAt, at)
    else this.#abort()
    return still
  }

  /** The body, noting each piece that arrives; after a long stall, only once the hold is renewed. */
  async *streaming(body: AsyncIterable<Buffer | string> | Iterable<Buffer>): AsyncIterable<Buffer | string> {
    this.#inBody = true
    try {
      for await (const piece of body) {
        if (Date.now() - this.#heldAt > this.#hold.lapseMs / 2 && !(await this.#renew()))
          throw new Error('the upload was taken over by another PUT')
        this.#fresh = true
        yield piece
      }
    } finally {
      this.#inBody = false
    }
  }

  async end(): Promise<void> {
    clearInterval(this.#timer)
    // Not being able to say so leaves the hold to lapse.
    await this.#hold.release().catch(() => {})
  }
}

/**
 * At start, for a row whose write-ahead says `sha256` was about to be renamed
 * into place: true once the content is at its address (renamed now, or before
 * the crash), false when the partial is not that content and the commit is lost.
 */
export async function redoCommit(
  files: PartialFiles,
  id: string,
  sha256: string,
  bytes: number | null,
): Promise<boolean> {
  if (files.exists(sha256)) {
    await files.removePartial(id)
    return true
  }
  if (bytes === null || (await files.partialSize(id)) !== bytes) return false
  if ((await hashFile(files.partialPath(id))) !== sha256) return false
  await files.commit(id, sha256)
  return true
}

function offsetError(received: number, total: number, message: string): DoorstepError {
  return new DoorstepError(
    'DOORSTEP_ERR_UPLOAD_OFFSET',
    `The upload does not continue from the bytes received: ${message}`,
    { received, total },
  )
}
