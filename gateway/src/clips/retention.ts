import type { ClipRow, ClipTable } from './clip-table.js'
import type { DiskUsage } from './store.js'

const DAY_MS = 86_400_000

export interface SweepReport {
  /** Clips deleted for being older than the retention period. */
  expired: string[]
  /** Clips deleted, oldest first, to bring the disk under the high watermark. */
  evicted: string[]
  /** Uploads begun more than the retention period ago and never finished, whose partial files were dropped. */
  abandoned: string[]
  /** Unfinished uploads whose partial files were dropped, oldest upload first, before any clip was evicted. */
  partialsEvicted: string[]
  /** Clips past retention kept only because a hold is in force. */
  keptByHold: number
  freedBytes: number
  /** Disk use measured before eviction, percent; null when no reading was available. */
  usedPct: number | null
  /** Set when another gateway of the cluster was sweeping the shared clips: this one left the turn to it. */
  skipped?: true
}

export interface RetentionDeps {
  table: ClipTable
  retentionDays: number
  highWatermarkPct: number
  /** Deletes a stored clip (marking its event `expired`); resolves with the bytes actually freed. */
  expire(row: ClipRow, reason: 'retention' | 'disk', now: number): Promise<number>
  /**
   * Drops uploads begun before `before` (the gateway's clock, not the event's
   * claimed time), and announced clips of events before it never begun; not
   * held, not uploading right now.
   */
  abandonUnfinished(before: number, now: number): Promise<string[]>
  /**
   * Drops partial files of unfinished uploads (not held, not uploading right
   * now), oldest upload first, until `bytes` are freed; says which and how much.
   */
  evictPartials(bytes: number, now: number): Promise<{ ids: string[]; freed: number }>
}

/**
 * The retention policy, one pass:
 * 1. every ready clip recorded before `now - retentionDays` goes, unless held;
 * 2. unfinished uploads begun longer ago than that are dropped, unless held;
 * 3. if the clip disk is above the high watermark, partial files of
 *    unfinished uploads go first (oldest upload first): no unit's finished
 *    clip is deleted while another's half upload takes room. Then ready unheld
 *    clips go, oldest first, until the bytes freed cover the excess.
 * A held clip is never a candidate: both queries exclude held event ids, so
 * no order of steps can delete one.
 */
export async function sweepOnce(
  deps: RetentionDeps,
  now: number,
  disk: DiskUsage | null,
): Promise<SweepReport> {
  const cutoff = now - deps.retentionDays * DAY_MS
  const report: SweepReport = {
    expired: [],
    evicted: [],
    abandoned: [],
    partialsEvicted: [],
    keptByHold: await deps.table.heldReadyBefore(cutoff, now),
    freedBytes: 0,
    usedPct: null,
  }
  for (const row of await deps.table.unheldReadyBefore(cutoff, now)) {
    report.freedBytes += await deps.expire(row, 'retention', now)
    report.expired.push(row.event_id)
  }
  report.abandoned = await deps.abandonUnfinished(cutoff, now)

  if (!disk || disk.sizeBytes <= 0) return report
  const used = disk.sizeBytes - disk.freeBytes
  report.usedPct = (used / disk.sizeBytes) * 100
  // The reading predates step 1, so count what step 1 freed against the excess.
  const excess = used - (deps.highWatermarkPct / 100) * disk.sizeBytes - report.freedBytes
  if (excess <= 0) return report
  const partials = await deps.evictPartials(excess, now)
  report.partialsEvicted = partials.ids
  let freed = partials.freed
  for (const row of await deps.table.unheldReadyBefore(Number.MAX_SAFE_INTEGER, now)) {
    if (freed >= excess) break
    const n = await deps.expire(row, 'disk', now)
    freed += n
    report.evicted.push(row.event_id)
  }
  report.freedBytes += freed
  return report
}
