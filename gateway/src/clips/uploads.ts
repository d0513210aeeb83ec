import { setTimeout as sleep } from 'node:timers/promises'
import type { ClipMedia, ClipState, ClipUploadResult } from '@doorstep/proto'
import { DoorstepError } from '../errors.js'
import type { IndexedEvent } from '../events/index.js'
import type { Logger } from '../log.js'
import type { ProbeResult } from '../media/index.js'
import {
  type ResumableUploads,
  redoCommit,
  type UploadTarget,
  type WriterHold,
  type WriterLeases,
} from '../uploads/index.js'
import type { ClipRow, ClipTable } from './clip-table.js'
import type { ClipStore } from './store.js'

type Awaitable<T> = T | Promise<T>

/**
 * What clips need from the event index (the events feature owns it): the gateway's own index on one
 * machine (answering at once), the shared one in a cluster.
 */
export interface ClipEventSource {
  get(id: string): Awaitable<IndexedEvent | undefined>
  setClipState(id: string, state: ClipState): Awaitable<void>
  unfinishedClipsBefore(before: number): Awaitable<IndexedEvent[]>
}

/** How often an upload waiting for its event looks again, ms. */
const SETTLE_POLL_MS = 100

/** What one unit may hold on the clip disk (one unit cannot fill it for the others). */
export interface UnitLimits {
  /** Bytes of stored clips plus the full size of open uploads. */
  quotaBytes: number
  /** Uploads open (begun, not stored or dropped) at once. */
  openUploads: number
}

export interface ClipTargetDeps {
  store: ClipStore
  table: ClipTable
  events: () => ClipEventSource
  now: () => number
  limits: UnitLimits
  /** A clip was stored: its media facts, and the thumbnail to make. */
  mediaOf: (eventId: string) => Promise<ClipMedia | null>
  /**
   * How long an upload waits for an event it does not know yet, or whose clip it has not heard
   * announced, ms (0: not at all). In a cluster a unit's PUT may reach a gateway before the one that
   * acknowledged the event (or its `end`) has shipped it.
   */
  settleMs?: number
  /**
   * In a cluster, how long a PUT's hold on its upload lasts after its last bytes, ms: another PUT of the
   * clip, through any gateway, waits for it (409 with Retry-After) unless it lapsed. 0: no hold (one
   * gateway alone serialises its own PUTs).
   */
  writerLeaseMs?: number
  onStored: (eventId: string) => void
}

/** An event whose clip a unit may upload: its own, with the clip announced. */
export type Uploadable = IndexedEvent & { clip: { bytes: number; sha256: string } }

export type ClipUploads = ResumableUploads<Uploadable, ClipUploadResult>

/**
 * An event clip as an upload target: the unit announced its size and sha256
 * on `end`, so both are known before a byte arrives; the event's clip state
 * moves `pending` → `uploading` → `ready` | `rejected`; a stored clip gets
 * its `clips` row and a thumbnail.
 */
export class ClipUploadTarget implements UploadTarget<Uploadable, ClipUploadResult> {
  readonly noun = 'clip'
  readonly logKey = 'eventId'
  readonly #d: ClipTargetDeps
  readonly #leases: WriterLeases | null

  constructor(deps: ClipTargetDeps) {
    this.#d = deps
    const lapseMs = deps.writerLeaseMs ?? 0
    this.#leases = lapseMs > 0 ? deps.table.writerLeases(deps.now, lapseMs) : null
  }

  /** The event a unit may upload to: its own, with an announced clip, not expired. */
  async find(eventId: string, deviceId: string): Promise<Uploadable> {
    const ev = await this.#event(eventId)
    if (!ev) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND', `No event ${eventId}`)
    if (ev.deviceId !== deviceId) {
      throw new DoorstepError(
        'DOORSTEP_ERR_FORBIDDEN',
        'Only the unit that recorded the event may upload its clip',
      )
    }
    if (ev.clip.state === 'expired') throw new DoorstepError('DOORSTEP_ERR_CLIP_EXPIRED')
    if (ev.clip.bytes === null || ev.clip.sha256 === null)
      throw new DoorstepError('DOORSTEP_ERR_CLIP_NOT_ANNOUNCED')
    return ev as Uploadable
  }

  async #event(eventId: string): Promise<IndexedEvent | undefined> {
    const until = Date.now() + (this.#d.settleMs ?? 0)
    for (;;) {
      const ev = await this.#d.events().get(eventId)
      if ((ev && ev.clip.bytes !== null) || Date.now() >= until) return ev
      await sleep(SETTLE_POLL_MS)
    }
  }

  knownTotal(ev: Uploadable): number {
    return ev.clip.bytes
  }

  storedBytes(ev: Uploadable): number | null {
    return ev.clip.state === 'ready' ? ev.clip.bytes : null
  }

  storedAnswer(ev: Uploadable): Promise<ClipUploadResult | null> | null {
    return ev.clip.state === 'ready' ? this.#stored(ev) : null
  }

  headState(ev: Uploadable): string {
    return ev.clip.state
  }

  total(ev: Uploadable, req: { range: { total: number } | null }): number {
    const total = ev.clip.bytes
    if (req.range && req.range.total !== total) {
      throw new DoorstepError(
        'DOORSTEP_ERR_BAD_REQUEST',
        `Content-Range total ${req.range.total} differs from the ${total} bytes the event announced`,
      )
    }
    return total
  }

  /**
   * An upload opens (its first PUT with bytes) only within the unit's limits:
   * its open uploads, and its stored clips plus open uploads plus this one
   * against its quota. Open, it is counted at its full size until stored or
   * dropped, so a unit cannot get past its quota with many half uploads.
   */
  async reserve(ev: Uploadable, total: number): Promise<void> {
    const { table, limits } = this.#d
    // Open already (perhaps through another gateway, before the unit moved): it continues here.
    if (await table.upload(ev.id)) return table.claimUpload(ev.id)
    const use = await table.unitUsage(ev.deviceId)
    if (use.open.length >= limits.openUploads) {
      throw new DoorstepError(
        'DOORSTEP_ERR_UNIT_UPLOADS',
        `Unit ${ev.deviceId} has ${use.open.length} unfinished uploads, the most it may have; resume or finish one first`,
        { open: use.open, limit: limits.openUploads },
      )
    }
    if (use.storedBytes + use.openBytes + total > limits.quotaBytes) {
      throw new DoorstepError(
        'DOORSTEP_ERR_UNIT_QUOTA',
        `Unit ${ev.deviceId} has ${use.storedBytes + use.openBytes} bytes of clips stored or uploading; ${total} more would pass its quota of ${limits.quotaBytes}`,
        {
          storedBytes: use.storedBytes,
          openBytes: use.openBytes,
          clipBytes: total,
          quotaBytes: limits.quotaBytes,
        },
      )
    }
    await table.openUpload(ev.id, ev.deviceId, total, this.#d.now())
  }

  /** In a cluster, this PUT alone writes the clip's partial until it ends or stalls (`writerLeaseMs`). */
  writer(ev: Uploadable): Promise<WriterHold | null> {
    return this.#leases ? this.#leases.hold(ev.id, this.noun) : Promise.resolve(null)
  }

  async writing(ev: Uploadable): Promise<void> {
    if (ev.clip.state !== 'uploading') await this.#d.events().setClipState(ev.id, 'uploading')
  }

  async discarded(ev: Uploadable): Promise<void> {
    await this.#d.table.closeUpload(ev.id)
    await this.#d.events().setClipState(ev.id, 'pending')
  }

  expectedSha256(ev: Uploadable): { sha256: string; from: string } {
    return { sha256: ev.clip.sha256, from: 'the sha256 its event announced' }
  }

  async rejected(ev: Uploadable): Promise<void> {
    await this.#d.table.closeUpload(ev.id)
    await this.#d.events().setClipState(ev.id, 'rejected')
  }

  /**
   * Write-ahead: the row says `committing` before the rename, so a crash
   * between the two is finished at the next start (see `recoverClipUploads`).
   */
  async commit(ev: Uploadable, total: number, sha256: string, media: ProbeResult): Promise<ClipUploadResult> {
    const { table, store } = this.#d
    // From here its bytes count as a stored clip of the unit, no longer as an open upload.
    await table.transaction(async (t) => {
      await t.insertCommitting({
        eventId: ev.id,
        deviceId: ev.deviceId,
        sha256,
        bytes: total,
        media,
        recordedAt: ev.startedAt,
        now: this.#d.now(),
      })
      await t.closeUpload(ev.id)
    })
    await store.commit(ev.id, sha256)
    await markReady(table, this.#d.events(), ev.id)
    this.#d.onStored(ev.id)
    return this.#stored(ev)
  }

  partial(ev: Uploadable, received: number, total: number): ClipUploadResult {
    return { eventId: ev.id, state: 'partial', received, total }
  }

  async #stored(ev: Uploadable): Promise<ClipUploadResult> {
    const total = ev.clip.bytes
    const media = (await this.#d.mediaOf(ev.id)) ?? undefined
    return { eventId: ev.id, state: 'stored', received: total, total, media }
  }
}

/**
 * The event says `ready` before the row does: the two may be in different databases (the event index is
 * the gateway's own, the clips table shared), and a crash between them leaves the row `committing`,
 * which the next start finishes again.
 */
async function markReady(table: ClipTable, events: ClipEventSource, eventId: string): Promise<void> {
  await events.setClipState(eventId, 'ready')
  await table.setState(eventId, 'ready')
}

/**
 * After a crash: finish commits the database recorded but the file system
 * may not have; drop partials nobody waits for. Returns the work that
 * remains for the background: complete partials (a crash after the last
 * byte, before the rename), verified and stored like a finished upload.
 *
 * With `shared`, the clip directory and tables are the cluster's: what
 * another gateway has in hand (an upload it took bytes for last, a commit it
 * recorded) is its own to finish, and is left alone here.
 */
export async function recoverClipUploads(
  d: { store: ClipStore; table: ClipTable; events: ClipEventSource; log: Logger; shared: boolean },
  uploads: ClipUploads,
): Promise<() => Promise<void>> {
  const { store, table, events, log } = d
  const theirs = (node: string | null) => d.shared && node !== null && node !== table.node
  const othersCommitting = new Set<string>()
  for (const row of await table.byState('committing')) {
    const id = row.event_id
    if (theirs(row.node)) {
      othersCommitting.add(id)
      continue
    }
    if (await finishCommit({ store, table, events }, row))
      log.warn({ eventId: id }, 'finished a clip commit interrupted by a crash')
  }
  const complete: string[] = []
  const kept = new Set<string>()
  for (const id of await store.partialIds()) {
    if (othersCommitting.has(id)) continue
    const open = await table.upload(id)
    if (open && theirs(open.node)) continue
    const ev = await events.get(id)
    const size = await store.partialSize(id)
    if (!ev || !waiting(ev) || ev.clip.bytes === null || ev.clip.sha256 === null || size > ev.clip.bytes) {
      await store.removePartial(id)
      continue
    }
    // In a cluster, a partial without an open upload but with a clip row is one another gateway began to
    // commit after the look at the commits above: its to finish.
    if (!open && d.shared && (await table.get(id)) !== undefined) continue
    kept.add(id)
    // A partial from before uploads were recorded: its age is the file's.
    if (!open) await table.openUpload(id, ev.deviceId, ev.clip.bytes, await store.partialWrittenAt(id))
    if (size === ev.clip.bytes) complete.push(id)
  }
  // An upload recorded open whose partial is gone holds nothing: the unit opens it again on its next PUT.
  for (const row of await table.openUploads()) {
    if (kept.has(row.event_id) || theirs(row.node)) continue
    await table.closeUpload(row.event_id)
  }
  return async () => {
    for (const id of complete) {
      try {
        // Read again under the lock: the unit may have finished (or restarted) it meanwhile.
        const stored = await uploads.finishFromDisk(id, async () => {
          const ev = await events.get(id)
          return ev && waiting(ev) ? (ev as Uploadable) : null
        })
        if (stored) log.warn({ eventId: id }, 'stored a complete upload found after a restart')
      } catch (err) {
        log.warn(
          { eventId: id, code: (err as DoorstepError).code },
          'a complete upload found after a restart was not stored',
        )
      }
    }
  }
}

/**
 * A commit the table recorded (`committing`) and nobody finished: the clip is put in place and made
 * `ready` (true), or, when the partial is not that content any more, the row goes and the event waits
 * for its clip again (false).
 */
export async function finishCommit(
  d: { store: ClipStore; table: ClipTable; events: ClipEventSource },
  row: ClipRow,
): Promise<boolean> {
  const id = row.event_id
  if (!(await redoCommit(d.store, id, row.sha256, row.bytes))) {
    await d.table.remove(id)
    await d.store.removePartial(id)
    await d.events.setClipState(id, 'pending')
    return false
  }
  await markReady(d.table, d.events, id)
  return true
}

function waiting(ev: IndexedEvent): boolean {
  return ev.clip.state === 'pending' || ev.clip.state === 'uploading'
}
