import type { PullUploadResult } from '@doorstep/proto'
import type { ClipStore } from '../clips/index.js'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import type { ProbeResult, WorkQueue } from '../media/index.js'
import { videoThumbnail } from '../media/index.js'
import type { UploadRange } from '../uploads/index.js'
import {
  type ResumableUploads,
  redoCommit,
  type UploadTarget,
  type WriterHold,
  type WriterLeases,
} from '../uploads/index.js'
import type { CaseStore } from './case-store.js'
import { FINAL_STATES, type PullRow } from './pull-table.js'

export interface PullTargetDeps {
  /** A ClipStore of its own (`<dataDir>/pulls`): same layout and guarantees, outside clip retention. */
  store: ClipStore
  table: CaseStore
  media: WorkQueue
  /** Longest an ffmpeg run for a thumbnail may take, ms. */
  mediaTimeoutMs: number
  log: Logger
  /** Bytes received so far (for the pull's progress). */
  onProgress: (pull: PullRow, received: number) => Promise<void>
  /** The recording is stored at its content address. */
  onStored: (pullId: string, sha256: string, bytes: number, media: ProbeResult) => Promise<void>
  /** The bytes were not a readable video: the pull fails. */
  onRejected: (pullId: string, reason: string) => Promise<void>
  /** In a cluster: PUTs of one recording through several gateways take turns. */
  leases?: WriterLeases | null
}

export type PullUploads = ResumableUploads<PullRow, PullUploadResult>

/** States in which the unit has (had) the command and its upload is taken. */
const UPLOADABLE = new Set(['pending', 'uploading', 'offline'])

/**
 * A pulled recording as an upload target. What differs from an event clip:
 * nobody announced the size or the digest beforehand. The first request names
 * the size (Content-Range total, or Content-Length); the digest is computed on
 * arrival and, when the unit sent `Repr-Digest`, must equal it. A stored
 * recording moves the pull to `done` (custody) and gets a thumbnail.
 */
export class PullUploadTarget implements UploadTarget<PullRow, PullUploadResult> {
  readonly noun = 'recording'
  readonly logKey = 'pullId'
  readonly #d: PullTargetDeps
  #thumbs: Promise<void> = Promise.resolve()

  constructor(deps: PullTargetDeps) {
    this.#d = deps
  }

  /** The pull, if this unit may upload to it. */
  async find(pullId: string, deviceId: string): Promise<PullRow> {
    const p = await this.#d.table.pulls.get(pullId)
    if (!p) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No pull ${pullId}`)
    if (p.device_id !== deviceId) {
      throw new DoorstepError('DOORSTEP_ERR_FORBIDDEN', 'Only the unit a pull was sent to may upload for it')
    }
    return p
  }

  knownTotal(p: PullRow): number | null {
    return p.total
  }

  storedBytes(p: PullRow): number | null {
    return p.stored_at !== null ? (p.total ?? 0) : null
  }

  storedAnswer(p: PullRow): PullUploadResult | null {
    if (p.stored_at === null || p.total === null || !p.sha256) return null
    return { pullId: p.id, state: 'stored', received: p.total, total: p.total, sha256: p.sha256 }
  }

  headState(p: PullRow, received: number): string {
    return p.stored_at !== null ? 'ready' : received > 0 ? 'uploading' : 'pending'
  }

  /** The size of the recording: fixed by the first request, and every later one must agree. */
  total(
    p: PullRow,
    req: { range: UploadRange | null; contentLength: number | undefined },
    have: number,
  ): number {
    // Sent at least once: the unit has the command, and may go on uploading even while the gateway
    // waits to send it again (after a reconnect, when the district's budget is full).
    if (!UPLOADABLE.has(p.state) || p.sends === 0) {
      throw new DoorstepError('DOORSTEP_ERR_PULL_STATE', `The pull is ${p.state}; it takes no upload now`)
    }
    const named = req.range ? req.range.total : req.contentLength
    if (named === undefined) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        'Content-Range or Content-Length must give the size',
      )
    }
    if (named <= 0) throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'The recording is empty')
    if (p.total !== null && p.total !== named && have > 0) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        `The upload names ${named} bytes; it began as ${p.total} bytes (${have} received)`,
      )
    }
    return named
  }

  writer(p: PullRow): Promise<WriterHold | null> {
    return this.#d.leases ? this.#d.leases.hold(p.id, this.noun) : Promise.resolve(null)
  }

  async sized(p: PullRow, total: number): Promise<void> {
    if (p.total !== total) await this.#d.table.pulls.update(p.id, { total })
  }

  progressed(p: PullRow, received: number): Promise<void> {
    return this.#d.onProgress(p, received)
  }

  discarded(p: PullRow): Promise<void> {
    return this.#d.onProgress(p, 0)
  }

  expectedSha256(_p: PullRow, declared: string | null): { sha256: string; from: string } | null {
    return declared === null ? null : { sha256: declared, from: 'the Repr-Digest the unit sent' }
  }

  rejected(p: PullRow, reason: string): Promise<void> {
    return this.#d.onRejected(p.id, reason)
  }

  async commit(p: PullRow, total: number, sha256: string, media: ProbeResult): Promise<PullUploadResult> {
    // Write-ahead: the digest is on the row before the rename, so a crash in between is finished at start.
    await this.#d.table.pulls.update(p.id, { sha256, media: JSON.stringify(media) })
    await this.#d.store.commit(p.id, sha256)
    await this.#d.onStored(p.id, sha256, total, media)
    this.#scheduleThumb(p.id)
    return { pullId: p.id, state: 'stored', received: total, total, sha256 }
  }

  partial(p: PullRow, received: number, total: number): PullUploadResult {
    return { pullId: p.id, state: 'partial', received, total }
  }

  /** Resolves when the thumbnails asked for so far are made. */
  async thumbsDone(): Promise<void> {
    await this.#thumbs
  }

  #scheduleThumb(pullId: string): void {
    if (!this.#d.media.hasRoom) return
    const job = this.#d.media
      .run(() => this.#makeThumb(pullId))
      .catch((err) => this.#d.log.warn({ err: (err as Error).message, pullId }, 'pull thumbnail failed'))
    this.#thumbs = this.#thumbs.then(() => job)
  }

  async #makeThumb(pullId: string): Promise<void> {
    const p = await this.#d.table.pulls.get(pullId)
    if (!p?.sha256 || p.stored_at === null || p.thumb === 1) return
    const media = JSON.parse(p.media ?? '{}') as Partial<ProbeResult>
    const store = this.#d.store
    const webp = await videoThumbnail(store.clipPath(p.sha256), media.durationMs ?? 0, this.#d.mediaTimeoutMs)
    await store.writeAtomic(store.thumbPath(p.sha256), webp)
    await this.#d.table.pulls.update(pullId, { thumb: 1 })
  }

  /**
   * At start: finish what a crash interrupted between the write-ahead and
   * `done`, drop partials of pulls that are over, and make missing thumbnails.
   */
  async recover(): Promise<void> {
    const { store, table, log } = this.#d
    for (const p of await table.pulls.committing()) {
      const sha = p.sha256 as string
      const media = JSON.parse(p.media ?? 'null') as ProbeResult | null
      const size = await store.partialSize(p.id)
      if (media === null || !(await redoCommit(store, p.id, sha, p.total))) {
        await table.pulls.update(p.id, { sha256: null, media: null })
        continue
      }
      await this.#d.onStored(p.id, sha, p.total ?? size, media)
      log.warn({ pullId: p.id }, 'finished a pull commit interrupted by a crash')
    }
    for (const id of await store.partialIds()) {
      const p = await table.pulls.get(id)
      if (!p || FINAL_STATES.has(p.state)) await store.removePartial(id)
    }
    for (const p of await table.pulls.withoutThumb()) this.#scheduleThumb(p.id)
  }
}
