import { createHash } from 'node:crypto'
import path from 'node:path'
import type { ClipMedia, Hold } from '@doorstep/proto'
import type { Config } from '../config.js'
import type { SharedDb } from '../db/index.js'
import { DoorstepError, isDoorstepError } from '../errors.js'
import type { EventBus } from '../event-bus.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { videoThumbnail, WorkQueue } from '../media/index.js'
import { CLUSTER_WRITER_LEASE_MS, ResumableUploads } from '../uploads/index.js'
import { type ClipRow, ClipTable, toMedia } from './clip-table.js'
import { type SweepReport, sweepOnce } from './retention.js'
import { ClipStore, type DiskUsage, statfsUsage } from './store.js'
import {
  type ClipEventSource,
  type ClipUploads,
  ClipUploadTarget,
  finishCommit,
  recoverClipUploads,
} from './uploads.js'

export type { ClipEventSource }

/**
 * Any fixed number works, as long as every release uses the same: the gateway holding it sweeps the
 * cluster's clips, the others skip that turn.
 */
const SWEEP_LOCK = 7_310_582_211

/** A commit takes seconds; one `committing` this long was left by a gateway that did not come back. */
const STALE_COMMIT_MS = 10 * 60_000

/** How long an upload through one gateway waits for an event another has not shipped yet, ms. */
const CLUSTER_SETTLE_MS = 2000

const EMPTY_SWEEP = { keptByHold: 0, freedBytes: 0, usedPct: null } as const

export interface ClipsDeps {
  config: Config
  /** Where the clips, holds and open uploads are recorded: this gateway's file, or the cluster's PostgreSQL. */
  shared: SharedDb
  /** The event index; a getter because the events feature makes it in its own `start()`. */
  events: () => ClipEventSource
  log: Logger
  /** Told when a clip and its thumbnail are ready; absent in tests of the clips feature alone. */
  bus?: EventBus
  /** How full the clip disk is; `statfs` by default, injectable for tests. */
  diskUsage?: (dir: string) => Promise<DiskUsage>
  now?: () => number
  /** Retention sweep period, ms; default `DOORSTEP_CLIP_SWEEP_INTERVAL_S`. */
  sweepIntervalMs?: number
  /** Media worker bounds (default 2 at once, 32 waiting). */
  media?: { concurrency?: number; maxQueued?: number }
}

/**
 * The clips feature: resumable, verified uploads into content-addressed
 * storage, media checks and thumbnails in a bounded worker queue, serving,
 * retention and holds. Routes live in `routes.ts` and `hold-routes.ts`.
 */
export class Clips implements Feature {
  readonly name = 'clips'
  readonly #deps: ClipsDeps
  readonly #log: Logger
  readonly #now: () => number
  #store: ClipStore | null = null
  #table: ClipTable | null = null
  #queue: WorkQueue | null = null
  #uploads: ClipUploads | null = null
  #timer: NodeJS.Timeout | null = null
  #sweeping: Promise<SweepReport> | null = null
  #background: Promise<void> = Promise.resolve()
  /** What the sweeps have removed since start, by why (for the metrics). */
  readonly #removed = { retention: 0, disk: 0, abandoned: 0, partial: 0 }

  constructor(deps: ClipsDeps) {
    this.#deps = deps
    this.#log = deps.log.child({ feature: 'clips' })
    this.#now = deps.now ?? Date.now
  }

  /** Media jobs waiting for a worker (for the metrics). */
  mediaQueued(): number {
    return this.#queue?.queued ?? 0
  }

  /** Clips and uploads the retention sweeps have removed since start, by why. */
  removedCounts(): Readonly<Record<'retention' | 'disk' | 'abandoned' | 'partial', number>> {
    return this.#removed
  }

  /** Used share of the clip disk, or null before start. */
  async diskUsedRatio(): Promise<number | null> {
    const store = this.#store
    if (!store) return null
    const d = await this.#diskUsage(store.root)
    return d.sizeBytes === 0 ? null : (d.sizeBytes - d.freeBytes) / d.sizeBytes
  }

  async start(): Promise<void> {
    const c = this.#deps.config
    if (this.#inCluster() && path.resolve(c.sharedDir) === path.resolve(c.dataDir)) {
      // One gateway on PostgreSQL is fine; several would each keep files the others' rows name.
      this.#log.warn(
        'gateways share the clips table but this one keeps clip files in its own data dir: give every gateway the same DOORSTEP_SHARED_DIR',
      )
    }
    const store = new ClipStore(this.#dir())
    const table = new ClipTable(this.#deps.shared, this.#deps.config.cluster.nodeId)
    await table.load()
    this.#store = store
    this.#table = table
    const media = new WorkQueue({
      concurrency: this.#deps.media?.concurrency ?? 2,
      maxQueued: this.#deps.media?.maxQueued ?? 32,
    })
    this.#queue = media
    const uploads: ClipUploads = new ResumableUploads({
      target: new ClipUploadTarget({
        store,
        table,
        events: this.#deps.events,
        now: this.#now,
        limits: {
          quotaBytes: this.#deps.config.clips.unitQuotaBytes,
          openUploads: this.#deps.config.clips.unitOpenUploads,
        },
        mediaOf: (id) => this.mediaOf(id),
        onStored: (id) => this.#scheduleThumb(id),
        // The gateway that acknowledged the event ships it within a quarter second (events/event-shipper.ts).
        settleMs: this.#inCluster() ? CLUSTER_SETTLE_MS : 0,
        writerLeaseMs: this.#inCluster() ? CLUSTER_WRITER_LEASE_MS : 0,
      }),
      files: store,
      media,
      log: this.#log,
      maxBytes: this.#deps.config.clips.maxBytes,
      mediaTimeoutMs: this.#deps.config.media.timeoutMs,
    })
    this.#uploads = uploads
    const { tempsRemoved } = await store.init()
    if (tempsRemoved > 0) this.#log.warn({ tempsRemoved }, 'removed temp files left by a crash')
    // Crash leftovers first; complete uploads found on disk are verified in the background.
    const remaining = await recoverClipUploads(
      { store, table, events: this.#deps.events(), log: this.#log, shared: this.#inCluster() },
      uploads,
    )
    this.#background = remaining()
    for (const row of await table.readyWithoutThumb()) if (media.hasRoom) this.#scheduleThumb(row.event_id)
    const every = this.#deps.sweepIntervalMs ?? this.#deps.config.clips.sweepIntervalMs
    this.#timer = setInterval(
      () => void this.sweep().catch((err) => this.#log.error({ err }, 'retention sweep failed')),
      every,
    )
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#uploads?.close()
    await this.#sweeping?.catch(() => undefined)
    await this.#queue?.close()
    await this.#background
    this.#queue = null
    this.#uploads = null
    this.#store = null
    this.#table = null
  }

  get store(): ClipStore {
    return must(this.#store)
  }

  /** Gateways sharing PostgreSQL share the clips: their tables, and their files in the shared directory. */
  #inCluster(): boolean {
    return this.#deps.shared.dialect === 'postgres'
  }

  /**
   * Where the files go: under the directory every gateway of a cluster mounts (`DOORSTEP_SHARED_DIR`)
   * when they share the clips table; else the gateway's own data dir, as on one machine.
   */
  #dir(): string {
    const c = this.#deps.config
    return path.join(this.#inCluster() ? c.sharedDir : c.dataDir, 'clips')
  }

  /** Resolves when no media job runs or waits and recovery is done (tests use it). */
  async idle(): Promise<void> {
    await this.#background
    await this.#queue?.drain()
  }

  /** The resumable uploads of clips (see uploads.ts); the HEAD and PUT routes use them. */
  get uploads(): ClipUploads {
    return must(this.#uploads)
  }

  // ---- media ----------------------------------------------------------------------------------

  #scheduleThumb(eventId: string): void {
    const queue = this.#media()
    if (!queue.hasRoom) {
      this.#log.warn({ eventId }, 'media queue full; thumbnail deferred to the next sweep')
      return
    }
    queue
      .run(() => this.#makeThumb(eventId))
      .catch(async (err) => {
        if (isDoorstepError(err)) return
        // A sweep may evict the clip while its frame is being read: nothing failed, there is no clip.
        const row = await this.#table?.get(eventId).catch(() => undefined)
        if (row?.state !== 'ready') {
          this.#log.debug({ eventId }, 'clip removed before its thumbnail was made')
          return
        }
        this.#log.error({ err, eventId }, 'thumbnail failed')
      })
  }

  async #makeThumb(eventId: string): Promise<void> {
    const row = await must(this.#table).get(eventId)
    if (row?.state !== 'ready' || row.thumb_etag !== null) return
    const store = this.store
    const webp = await videoThumbnail(
      store.clipPath(row.sha256),
      row.duration_ms,
      this.#deps.config.media.timeoutMs,
    )
    // Removed meanwhile: a thumbnail written now would outlive its clip's file.
    if ((await must(this.#table).get(eventId))?.state !== 'ready') return
    await store.writeAtomic(store.thumbPath(row.sha256), webp)
    await must(this.#table).setThumb(eventId, createHash('sha256').update(webp).digest('hex').slice(0, 32))
    const ev = await this.#deps.events().get(eventId)
    if (ev) {
      this.#deps.bus?.emit('clip.ready', {
        eventId,
        deviceId: ev.deviceId,
        district: ev.district,
        at: this.#now(),
      })
    }
  }

  #media(): WorkQueue {
    const q = this.#queue
    if (!q) throw new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN')
    return q
  }

  // ---- serving --------------------------------------------------------------------------------

  /** The stored file of an event's clip, for the GET route. */
  async clipFile(eventId: string): Promise<{ path: string; size: number; mime: string; sha256: string }> {
    const row = await this.#readyRow(eventId)
    return { path: this.store.clipPath(row.sha256), size: row.bytes, mime: row.mime, sha256: row.sha256 }
  }

  async thumbFile(eventId: string): Promise<{ path: string; etag: string }> {
    const row = await this.#readyRow(eventId)
    if (row.thumb_etag === null)
      throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', 'The thumbnail is not made yet')
    return { path: this.store.thumbPath(row.sha256), etag: row.thumb_etag }
  }

  async #readyRow(eventId: string): Promise<ClipRow> {
    const ev = await this.#events().get(eventId)
    if (!ev) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${eventId}`)
    if (ev.clip.state === 'expired') throw new DoorstepError('DOORSTEP_ERR_CLIP_EXPIRED')
    const row = await must(this.#table).get(eventId)
    if (row?.state !== 'ready') {
      throw new DoorstepError(
        'DOORSTEP_ERR_NOT_FOUND',
        `The clip of event ${eventId} is not stored (${ev.clip.state})`,
      )
    }
    return row
  }

  async mediaOf(eventId: string): Promise<ClipMedia | null> {
    const row = await this.#table?.get(eventId)
    return row && row.state === 'ready' ? toMedia(row) : null
  }

  // ---- holds ----------------------------------------------------------------------------------

  /**
   * Keeps an event's clip past retention and through disk pressure until
   * released or `until` (ms; null: until released). Also for clips not yet
   * uploaded. The cases feature calls this directly.
   */
  async hold(eventId: string, reason: string, who: string, until: number | null = null): Promise<Hold> {
    const now = this.#now()
    const ev = await this.#events().get(eventId)
    if (!ev) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${eventId}`)
    if (ev.clip.state === 'expired')
      throw new DoorstepError(
        'DOORSTEP_ERR_CLIP_EXPIRED',
        'The clip is already deleted; there is nothing to hold',
      )
    if (until !== null && until <= now)
      throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'until: must be in the future')
    const hold = await must(this.#table).addHold(eventId, reason, who, until, now)
    this.#log.info({ holdId: hold.id, eventId, who, until }, 'clip hold placed')
    return hold
  }

  /** Ends a hold; the row stays as a record. Undefined when there is no such hold. */
  async release(holdId: number, who: string): Promise<Hold | undefined> {
    const hold = await must(this.#table).releaseHold(holdId, who, this.#now())
    if (hold) this.#log.info({ holdId, eventId: hold.eventId, who }, 'clip hold released')
    return hold
  }

  holds(filter: { eventId?: string | undefined; activeOnly?: boolean } = {}): Promise<Hold[]> {
    return must(this.#table).holds(
      { eventId: filter.eventId, activeOnly: filter.activeOnly ?? true },
      this.#now(),
    )
  }

  holdsOf(eventId: string): Promise<Hold[]> {
    return this.holds({ eventId, activeOnly: false })
  }

  /** Every event id a hold in force keeps. */
  heldEventIds(): Promise<Set<string>> {
    return must(this.#table).heldEventIds(this.#now())
  }

  // ---- retention ------------------------------------------------------------------------------

  /**
   * How full the clip disk is: an injected reading, else the clips' own bytes against
   * `DOORSTEP_CLIP_DISK_BYTES` when that is set, else `statfs`.
   */
  #diskUsage(root: string): Promise<DiskUsage> {
    if (this.#deps.diskUsage) return this.#deps.diskUsage(root)
    const room = this.#deps.config.clips.diskBytes
    if (room === null) return statfsUsage(root)
    // Free goes below zero when the clips outgrow the room, so the excess to evict is counted whole.
    return must(this.#table)
      .storedBytes()
      .then((stored) => ({ sizeBytes: room, freeBytes: room - stored }))
  }

  /**
   * One retention pass (see `retention.ts`). The timer calls it; tests call it
   * with a fixed `now` and a `disk` reading instead of `statfs`.
   */
  sweep(opts: { now?: number; disk?: DiskUsage | null } = {}): Promise<SweepReport> {
    if (this.#sweeping) return this.#sweeping
    const run = async (): Promise<SweepReport> => {
      const store = this.store
      const table = must(this.#table)
      const now = opts.now ?? this.#now()
      // Gateways sharing the clips sweep them one at a time: the one that finds another at it skips.
      const report = await table.exclusive(SWEEP_LOCK, () => this.#sweepOnce(table, store, now, opts.disk))
      return (
        report ?? {
          ...EMPTY_SWEEP,
          expired: [],
          evicted: [],
          abandoned: [],
          partialsEvicted: [],
          skipped: true,
        }
      )
    }
    this.#sweeping = run().finally(() => {
      this.#sweeping = null
    })
    return this.#sweeping
  }

  async #sweepOnce(
    table: ClipTable,
    store: ClipStore,
    now: number,
    disk: DiskUsage | null | undefined,
  ): Promise<SweepReport> {
    await this.#finishStaleCommits(table, store, now)
    const reading = disk !== undefined ? disk : await this.#diskUsage(store.root)
    const report = await sweepOnce(
      {
        table,
        retentionDays: this.#deps.config.clips.retentionDays,
        highWatermarkPct: this.#deps.config.clips.diskHighWatermarkPct,
        expire: (row, reason, at) => this.#expire(row, reason, at),
        abandonUnfinished: (before, at) => this.#abandonUnfinished(before, at),
        evictPartials: (bytes, at) => this.#evictPartials(bytes, at),
      },
      now,
      reading,
    )
    const { expired, evicted, abandoned, partialsEvicted } = report
    this.#removed.retention += expired.length
    this.#removed.disk += evicted.length
    this.#removed.abandoned += abandoned.length
    this.#removed.partial += partialsEvicted.length
    if (expired.length + evicted.length + abandoned.length + partialsEvicted.length > 0) {
      this.#log.info(
        {
          expired: expired.length,
          evicted: evicted.length,
          abandoned: abandoned.length,
          partialsEvicted: partialsEvicted.length,
          freedBytes: report.freedBytes,
          usedPct: report.usedPct,
        },
        'clip retention sweep',
      )
    }
    for (const row of await table.readyWithoutThumb())
      if (this.#queue?.hasRoom) this.#scheduleThumb(row.event_id)
    return report
  }

  /**
   * Commits left `committing` long past what a commit takes: a gateway of the cluster that began one
   * and never came back to finish it at its start. Finished here (or dropped, the event waiting for its
   * clip again), by whichever gateway sweeps.
   */
  async #finishStaleCommits(table: ClipTable, store: ClipStore, now: number): Promise<void> {
    for (const row of await table.byState('committing')) {
      if (row.stored_at > now - STALE_COMMIT_MS || this.uploads.busy(row.event_id)) continue
      const ready = await finishCommit({ store, table, events: this.#events() }, row)
      this.#log.warn(
        { eventId: row.event_id, node: row.node, ready },
        'finished a clip commit its gateway left unfinished',
      )
    }
  }

  /** The database says `expired` before the file goes: a crash in between leaks a file, never a reference. */
  async #expire(row: ClipRow, reason: 'retention' | 'disk', now: number): Promise<number> {
    const table = must(this.#table)
    // The event first: a crash before the row follows leaves the clip `ready` in the table, and the next
    // sweep expires it again.
    await this.#events().setClipState(row.event_id, 'expired')
    await table.expire(row.event_id, reason, now)
    // Asked under the store's lock on the file: an upload of the same clip may be committing now.
    return this.store.removeUnlessUsed(row.sha256, () => table.sharedWithOthers(row.sha256, row.event_id))
  }

  async #abandonUnfinished(before: number, now: number): Promise<string[]> {
    const table = must(this.#table)
    const dropped: string[] = []
    // Uploads by when the gateway saw them begin: a unit cannot keep a partial by dating its event ahead.
    for (const row of await table.openUploads(before)) {
      if (this.uploads.busy(row.event_id) || (await table.isHeld(row.event_id, now))) continue
      await this.store.removePartial(row.event_id)
      await table.closeUpload(row.event_id)
      await this.#settle(row.event_id, 'expired')
      dropped.push(row.event_id)
    }
    // Clips announced and never begun (or rejected), by the event's time on the gateway's clock.
    for (const ev of await this.#events().unfinishedClipsBefore(before)) {
      if ((await table.upload(ev.id)) || this.uploads.busy(ev.id) || (await table.isHeld(ev.id, now)))
        continue
      await this.store.removePartial(ev.id)
      await this.#events().setClipState(ev.id, 'expired')
      dropped.push(ev.id)
    }
    return dropped
  }

  /**
   * Disk pressure takes half uploads before finished clips. The event goes back
   * to `pending`: the unit still has the clip and may upload it again from 0.
   */
  async #evictPartials(bytes: number, now: number): Promise<{ ids: string[]; freed: number }> {
    const table = must(this.#table)
    const ids: string[] = []
    let freed = 0
    for (const row of await table.openUploads()) {
      if (freed >= bytes) break
      if (this.uploads.busy(row.event_id) || (await table.isHeld(row.event_id, now))) continue
      freed += await this.store.partialSize(row.event_id)
      await this.store.removePartial(row.event_id)
      await table.closeUpload(row.event_id)
      await this.#settle(row.event_id, 'pending')
      ids.push(row.event_id)
    }
    return { ids, freed }
  }

  /** An upload dropped: its event's clip state, unless the clip got stored meanwhile. */
  async #settle(eventId: string, state: 'expired' | 'pending'): Promise<void> {
    const ev = await this.#events().get(eventId)
    if (ev?.clip.state === 'pending' || ev?.clip.state === 'uploading')
      await this.#events().setClipState(eventId, state)
  }

  #events(): ClipEventSource {
    return this.#deps.events()
  }
}

function must<T>(v: T | null): T {
  if (v === null) throw new DoorstepError('DOORSTEP_ERR_SHUTTING_DOWN')
  return v
}
