import type { ClipMedia, ClipState, ClipUploadResult } from '@doorstep/proto'
import { DoorstepError } from '../errors.js'
import type { IndexedEvent } from '../events/event-index.js'
import type { Logger } from '../log.js'
import { NotAVideoError, type ProbeResult, probe } from '../media/ffmpeg.js'
import type { WorkQueue } from '../media/work-queue.js'
import type { DeviceRecord } from '../registry/registry.js'
import type { ClipTable } from './clip-table.js'
import { BodyInterruptedError, hashFile, TooManyBytesError, writePart } from './partial-file.js'
import type { UploadRange } from './range.js'
import type { ClipStore } from './store.js'

/** What clips need from the event index (the events feature owns it). */
export interface ClipEventSource {
  get(id: string): IndexedEvent | undefined
  setClipState(id: string, state: ClipState): void
  unfinishedClipsBefore(before: number): IndexedEvent[]
}

export interface UploadDeps {
  store: ClipStore
  table: ClipTable
  media: WorkQueue
  events: () => ClipEventSource
  log: Logger
  now: () => number
  maxBytes: number
  /** A clip was stored: its media facts, and the thumbnail to make. */
  mediaOf: (eventId: string) => ClipMedia | null
  onStored: (eventId: string) => void
}

export interface UploadRequest {
  device: DeviceRecord
  eventId: string
  range: UploadRange | null
  contentLength: number | undefined
  /** The request body as a stream; it is never gathered in memory. */
  body: AsyncIterable<Buffer | string> | Iterable<Buffer> | undefined
  /** Ends the body (a newer upload of the same clip takes over). */
  abort: () => void
}

type Uploadable = IndexedEvent & { clip: { bytes: number; sha256: string } }

interface ActiveUpload {
  abort: () => void
  done: Promise<void>
}

/**
 * Resumable, verified clip uploads: the bytes of an event's clip go to its
 * partial file at the offset the Content-Range names; when the last byte is
 * in, the digest must equal the announced one, ffprobe (in the media queue)
 * must see a video, and the file is committed to its content address.
 */
export class ClipUploads {
  readonly #d: UploadDeps
  readonly #active = new Map<string, ActiveUpload>()

  constructor(deps: UploadDeps) {
    this.#d = deps
  }

  /** `HEAD`: how many bytes of the clip the gateway holds. */
  async status(
    device: DeviceRecord,
    eventId: string,
  ): Promise<{ received: number; total: number; state: ClipState }> {
    const ev = this.#uploadable(device, eventId)
    const total = ev.clip.bytes
    const received = ev.clip.state === 'ready' ? total : await this.#d.store.partialSize(eventId)
    return { received, total, state: ev.clip.state }
  }

  busy(eventId: string): boolean {
    return this.#active.has(eventId)
  }

  /** Ends every upload in progress; their partial files stay for the resume. */
  abortAll(): void {
    for (const u of this.#active.values()) u.abort()
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active.values()].map((u) => u.done))
  }

  /** `PUT`: 202 while bytes are missing, 201 once stored, 200 when it already was. */
  async receive(req: UploadRequest): Promise<{ status: 200 | 201 | 202; result: ClipUploadResult }> {
    const { eventId, range } = req
    this.#uploadable(req.device, eventId)
    const release = await this.#lock(eventId, req.abort)
    try {
      // Read again under the lock: an upload that held it may have just stored the clip.
      const ev = this.#uploadable(req.device, eventId)
      const total = ev.clip.bytes
      if (ev.clip.state === 'ready') {
        // The unit lost our answer and asks again: the clip is stored, nothing to do.
        const media = this.#d.mediaOf(eventId) ?? undefined
        return { status: 200, result: { eventId, state: 'stored', received: total, total, media } }
      }
      if (range && range.total !== total) {
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          `Content-Range total ${range.total} differs from the ${total} bytes the event announced`,
        )
      }
      const store = this.#d.store
      const have = await store.partialSize(eventId)
      if (range?.kind === 'finish') {
        if (have !== total) throw offsetError(have, total, `only ${have} of ${total} bytes have arrived`)
        return { status: 201, result: await this.#finish(ev, await hashFile(store.partialPath(eventId))) }
      }
      const start = range?.kind === 'part' ? range.start : 0
      const end = range?.kind === 'part' ? range.end + 1 : total
      // Overlap is fine (bytes we have are cut off and written again); a gap is not.
      if (start > have) throw offsetError(have, total, `the upload continues at byte ${have}, not ${start}`)
      if (req.contentLength !== undefined && req.contentLength !== end - start) {
        throw new DoorstepError(
          'DOORSTEP_ERR_BAD_REQUEST',
          `Content-Length ${req.contentLength} does not match the ${end - start} bytes of the range`,
        )
      }
      if (ev.clip.state !== 'uploading') this.#d.events().setClipState(eventId, 'uploading')
      const pos = await this.#append(req, start, end, total)
      if (pos.at < total)
        return { status: 202, result: { eventId, state: 'partial', received: pos.at, total } }
      return { status: 201, result: await this.#finish(ev, pos.digest) }
    } finally {
      release()
    }
  }

  /** Streams the body into the partial; the sha256 covers the whole file so far (see partial-file.ts). */
  async #append(
    req: UploadRequest,
    start: number,
    end: number,
    total: number,
  ): Promise<{ at: number; digest: string }> {
    const store = this.#d.store
    try {
      return await writePart(store.partialPath(req.eventId), req.body, start, end, total)
    } catch (err) {
      if (err instanceof TooManyBytesError) {
        await store.removePartial(req.eventId)
        this.#d.events().setClipState(req.eventId, 'pending')
        throw new DoorstepError(
          'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
          `The body is longer than its range or the announced ${total} bytes`,
        )
      }
      if (err instanceof BodyInterruptedError) {
        this.#d.log.info(
          { eventId: req.eventId, device: req.device.id },
          'clip upload interrupted; partial kept',
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
  async #finish(ev: Uploadable, digest: string): Promise<ClipUploadResult> {
    const { store, log } = this.#d
    const eventId = ev.id
    const expected = ev.clip.sha256
    if (digest !== expected) {
      await store.removePartial(eventId)
      this.#d.events().setClipState(eventId, 'pending')
      log.warn({ eventId, device: ev.deviceId }, 'clip digest mismatch; partial removed')
      throw new DoorstepError('DOORSTEP_ERR_CLIP_HASH_MISMATCH', undefined, { expected, actual: digest })
    }
    let media: ProbeResult
    try {
      media = await this.#d.media.run(() => probe(store.partialPath(eventId)))
    } catch (err) {
      // MEDIA_BUSY: the complete partial stays, and `Content-Range: bytes */TOTAL` finishes it later.
      if (!(err instanceof NotAVideoError)) throw err
      await store.removePartial(eventId)
      this.#d.events().setClipState(eventId, 'rejected')
      log.warn({ eventId, device: ev.deviceId, reason: err.message }, 'clip is not a video; removed')
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_NOT_VIDEO',
        `The clip is not a readable video: ${err.message}`,
      )
    }
    await this.#commit(ev, digest, media)
    this.#d.onStored(eventId)
    const total = ev.clip.bytes
    return { eventId, state: 'stored', received: total, total, media: this.#d.mediaOf(eventId) ?? undefined }
  }

  /**
   * Write-ahead: the row says `committing` before the rename, so a crash
   * between the two is finished at the next start (see `recover`).
   */
  async #commit(ev: Uploadable, sha256: string, media: ProbeResult): Promise<void> {
    const { table, store } = this.#d
    table.insertCommitting({
      eventId: ev.id,
      deviceId: ev.deviceId,
      sha256,
      bytes: ev.clip.bytes,
      media,
      recordedAt: ev.startedAt,
      now: this.#d.now(),
    })
    await store.commit(ev.id, sha256)
    this.#markReady(ev.id)
  }

  #markReady(eventId: string): void {
    const table = this.#d.table
    table.transaction(() => {
      table.setState(eventId, 'ready')
      this.#d.events().setClipState(eventId, 'ready')
    })
  }

  /** The event a unit may upload to: its own, with an announced clip, not expired. */
  #uploadable(device: DeviceRecord, eventId: string): Uploadable {
    const ev = this.#d.events().get(eventId)
    if (!ev) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${eventId}`)
    if (ev.deviceId !== device.id) {
      throw new DoorstepError(
        'DOORSTEP_ERR_FORBIDDEN',
        'Only the unit that recorded the event may upload its clip',
      )
    }
    if (ev.clip.state === 'expired') throw new DoorstepError('DOORSTEP_ERR_CLIP_EXPIRED')
    if (ev.clip.bytes === null || ev.clip.sha256 === null)
      throw new DoorstepError('DOORSTEP_ERR_CLIP_NOT_ANNOUNCED')
    if (ev.clip.bytes > this.#d.maxBytes) {
      throw new DoorstepError(
        'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
        `The clip is ${ev.clip.bytes} bytes; the most accepted is ${this.#d.maxBytes}`,
      )
    }
    return ev as Uploadable
  }

  /**
   * One upload per event at a time. A newer request ends the older one
   * first: after a dropped uplink the unit's retry must not wait for the
   * server to notice that the old socket is dead.
   */
  async #lock(eventId: string, abort: () => void): Promise<() => void> {
    for (let cur = this.#active.get(eventId); cur; cur = this.#active.get(eventId)) {
      cur.abort()
      await cur.done
    }
    let release = () => {}
    const done = new Promise<void>((r) => {
      release = r
    })
    const entry: ActiveUpload = { abort, done }
    this.#active.set(eventId, entry)
    return () => {
      if (this.#active.get(eventId) === entry) this.#active.delete(eventId)
      release()
    }
  }

  /**
   * After a crash: finish commits the database recorded but the file system
   * may not have; drop partials nobody waits for. Returns the work that
   * remains for the background: complete partials (a crash after the last
   * byte, before the rename), verified and stored like a finished upload.
   */
  async recover(): Promise<() => Promise<void>> {
    const { store, table, log } = this.#d
    const events = this.#d.events()
    for (const row of table.byState('committing')) {
      const id = row.event_id
      if (store.exists(row.sha256)) {
        await store.removePartial(id)
      } else if (
        (await store.partialSize(id)) === row.bytes &&
        (await hashFile(store.partialPath(id))) === row.sha256
      ) {
        await store.commit(id, row.sha256)
      } else {
        table.remove(id)
        await store.removePartial(id)
        events.setClipState(id, 'pending')
        continue
      }
      this.#markReady(id)
      log.warn({ eventId: id }, 'finished a clip commit interrupted by a crash')
    }
    const complete: Uploadable[] = []
    for (const id of await store.partialIds()) {
      const ev = events.get(id)
      const size = await store.partialSize(id)
      const waiting = ev && (ev.clip.state === 'pending' || ev.clip.state === 'uploading')
      if (!ev || !waiting || ev.clip.bytes === null || ev.clip.sha256 === null || size > ev.clip.bytes) {
        await store.removePartial(id)
      } else if (size === ev.clip.bytes) {
        complete.push(ev as Uploadable)
      }
    }
    return async () => {
      for (const { id } of complete) {
        const release = await this.#lock(id, () => {})
        try {
          // Read again under the lock: the unit may have finished (or restarted) it meanwhile.
          const ev = events.get(id)
          if (!ev || (ev.clip.state !== 'pending' && ev.clip.state !== 'uploading')) continue
          if ((await store.partialSize(id)) !== ev.clip.bytes) continue
          await this.#finish(ev as Uploadable, await hashFile(store.partialPath(id)))
          log.warn({ eventId: id }, 'stored a complete upload found after a restart')
        } catch (err) {
          log.warn(
            { eventId: id, code: (err as DoorstepError).code },
            'a complete upload found after a restart was not stored',
          )
        } finally {
          release()
        }
      }
    }
  }
}

function offsetError(received: number, total: number, message: string): DoorstepError {
  return new DoorstepError(
    'DOORSTEP_ERR_UPLOAD_OFFSET',
    `The upload does not continue from the bytes received: ${message}`,
    { received, total },
  )
}
