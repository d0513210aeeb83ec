import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { fmtBytes } from '../backup/index.js'
import { PAGE_SIZE } from '../db/index.js'
import type { Logger } from '../log.js'
import { type FreeSpace, roomNeeded, statfsFree, UPGRADE_BACKUPS } from './guard.js'
import type { RepageJob, RepageReply } from './repage-worker.js'

/** The file the conversion writes beside the database, renamed over it once complete. */
export const REPAGE_SUFFIX = '.repage'

export interface RepageOptions {
  dataDir: string
  log: Logger
  freeSpace?: FreeSpace | undefined
  /** Progress lines at most this often. */
  progressEveryMs?: number
  /** The page size wanted; this release's by default. */
  pageSize?: number
}

export type RepageResult =
  | {
      converted: true
      from: number
      to: number
      bytesBefore: number
      bytesAfter: number
      ms: number
      kept: string
    }
  | { converted: false; reason: 'absent' | 'current' | 'no-room' | 'failed'; detail?: string }

/** A conversion the next start will make: the page sizes, and the room its copy needs. */
export interface PendingRepage {
  from: number
  to: number
  usedBytes: number
  needBytes: number
}

/** What the next start's conversion would be, read only; null when the database is absent or current. */
export function pendingRepage(dataDir: string, want = PAGE_SIZE): PendingRepage | null {
  const file = path.join(dataDir, 'doorstep.db')
  if (!fs.existsSync(file)) return null
  const db = new Database(file, { readonly: true })
  try {
    const from = db.pragma('page_size', { simple: true }) as number
    if (from >= want) return null
    const used =
      ((db.pragma('page_count', { simple: true }) as number) -
        (db.pragma('freelist_count', { simple: true }) as number)) *
      from
    return { from, to: want, usedBytes: used, needBytes: roomNeeded(used) }
  } finally {
    db.close()
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function rmQuiet(file: string): void {
  fs.rmSync(file, { force: true })
}

/**
 * Converts `doorstep.db` to this release's page size when it was made with smaller pages (earlier
 * versions made 4 KiB pages; a commit then writes four times as many WAL frames for the same index).
 * Run at start, before anything opens the database, so nothing else writes it meanwhile:
 * - the database is checkpointed and closed, then copied by `VACUUM INTO` a new file with the new
 *   page size on a worker thread, with a progress line every 10 s;
 * - every table's row count is compared between the two; any difference leaves the old file in use;
 * - the old file is kept, hard-linked, under `upgrade-backups/pages-<from>-to-<to>-<time>/`, and the
 *   new one renamed over `doorstep.db` (one rename: a crash leaves one file or the other, whole).
 * Not enough room for the copy, or a failed copy, leaves the database as it is (it still works, more
 * slowly) and says so; the next start tries again.
 */
export async function repageDatabase(o: RepageOptions): Promise<RepageResult> {
  const file = path.join(o.dataDir, 'doorstep.db')
  const target = file + REPAGE_SUFFIX
  const want = o.pageSize ?? PAGE_SIZE
  // What a killed conversion left: the database itself was not touched.
  for (const f of [target, `${target}-wal`, `${target}-shm`, `${target}-journal`]) rmQuiet(f)
  if (!fs.existsSync(file)) return { converted: false, reason: 'absent' }
  const pending = pendingRepage(o.dataDir, want)
  if (!pending) return { converted: false, reason: 'current' }
  const { from, usedBytes: used, needBytes: need } = pending
  const free = await (o.freeSpace ?? statfsFree)(o.dataDir)
  if (free < need) {
    o.log.warn(
      { pageSize: from, wanted: want, needBytes: need, freeBytes: free },
      `the database has ${from / 1024} KiB pages; converting it to ${want / 1024} KiB needs ${fmtBytes(need)} free ` +
        `in the data dir and ${fmtBytes(free)} is free. It is used as it is (commits cost more); ` +
        'free some space and the next start converts it',
    )
    return { converted: false, reason: 'no-room' }
  }

  // Everything in the WAL into the file, so the copy and the kept file are the whole database.
  const db = new Database(file)
  try {
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }

  const began = Date.now()
  o.log.info(
    { pageSize: from, wanted: want, bytes: used },
    `converting the database to ${want / 1024} KiB pages (about ${fmtBytes(used)} to copy; the old file is kept)`,
  )
  const every = o.progressEveryMs ?? 10_000
  const progress = setInterval(() => {
    const done = fs.statSync(target, { throwIfNoEntry: false })?.size ?? 0
    o.log.info(
      { copied: done, of: used, percent: Math.min(99, Math.floor((100 * done) / Math.max(1, used))) },
      'converting the database: still copying',
    )
  }, every)
  let reply: RepageReply
  try {
    reply = await new Promise<RepageReply>((resolve, reject) => {
      const w = new Worker(new URL('./repage-worker-boot.mjs', import.meta.url), {
        workerData: { source: file, target, pageSize: want } satisfies RepageJob,
      })
      w.once('message', resolve)
      w.once('error', reject)
      w.once('exit', (code) => {
        if (code !== 0) reject(new Error(`the conversion thread stopped with code ${code}`))
      })
    })
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) }
  } finally {
    clearInterval(progress)
  }
  const differ = reply.ok ? reply.counts.filter(([, a, b]) => a !== b) : []
  if (!reply.ok || differ.length > 0) {
    for (const f of [target, `${target}-wal`, `${target}-shm`]) rmQuiet(f)
    const detail = reply.ok
      ? `row counts differ: ${differ.map(([t, a, b]) => `${t} ${a}→${b}`).join(', ')}`
      : reply.error
    o.log.warn(
      { detail },
      'converting the database failed; it is used as it is, and the next start tries again',
    )
    return { converted: false, reason: 'failed', detail }
  }

  // The closed database has no WAL left; one beside it now would be replayed into the new file.
  const wal = fs.statSync(`${file}-wal`, { throwIfNoEntry: false })
  if (wal && wal.size > 0) {
    rmQuiet(target)
    const detail = 'the database has a write-ahead log again: another process has it open'
    o.log.warn({ detail }, 'converting the database stopped; it is used as it is')
    return { converted: false, reason: 'failed', detail }
  }
  rmQuiet(`${file}-wal`)
  rmQuiet(`${file}-shm`)
  fsyncPath(target)
  const stamp = new Date().toISOString().replace(/[-:.]/g, '')
  const keptDir = path.join(o.dataDir, UPGRADE_BACKUPS, `pages-${from}-to-${want}-${stamp}`)
  fs.mkdirSync(keptDir, { recursive: true })
  const kept = path.join(keptDir, 'doorstep.db')
  fs.linkSync(file, kept)
  fsyncPath(keptDir)
  fs.renameSync(target, file)
  fsyncPath(o.dataDir)
  const bytesAfter = fs.statSync(file).size
  const ms = Date.now() - began
  o.log.info(
    { ms, bytesBefore: used, bytesAfter, kept },
    `database converted to ${want / 1024} KiB pages; every table's rows were counted in both. The old file is kept ` +
      'beside the other upgrade backups: remove it once the gateway runs well',
  )
  return { converted: true, from, to: want, bytesBefore: used, bytesAfter, ms, kept }
}
