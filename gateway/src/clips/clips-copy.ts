import fs from 'node:fs'
import fsp from 'node:fs/promises'
import type { SharedDb } from '../db/index.js'
import { ClipTable } from './clip-table.js'
import { ClipStore } from './store.js'

/** What a copy of one gateway's clips did. */
export interface ClipsCopy {
  /** Rows of stored clips and of deleted ones in the gateway's file. */
  total: number
  copied: number
  /** Already in the target under the same event id: left as they are there. */
  present: number
  /** Clip files copied into the shared directory (a file two events share counts once). */
  files: number
  /** Stored clips whose file is missing or not its content: not copied, named here. */
  unreadable: string[]
  holds: number
}

/**
 * Copies a gateway's clips, from its own SQLite file and data dir, into the PostgreSQL and the
 * shared directory of the cluster it joins: each stored clip's file (verified against its address)
 * and thumbnail first, then its row, so that a row there never names a file that is not; the record
 * of deleted clips; and every hold, under new ids. What is there already stays as it is, so it can be
 * run again. Uploads in progress and commits not finished are not copied: the unit sends those clips
 * again to the cluster.
 */
export async function copyClips(o: {
  from: SharedDb
  fromDir: string
  to: SharedDb
  toDir: string
  /** Recorded as the gateway of the copied clips. */
  node: string
  progress?: (done: number, total: number) => void
}): Promise<ClipsCopy> {
  const source = new ClipTable(o.from, o.node)
  const target = new ClipTable(o.to, o.node)
  await target.load()
  const sourceFiles = new ClipStore(o.fromDir)
  const files = new ClipStore(o.toDir)
  await fsp.mkdir(o.toDir, { recursive: true })
  const rows = await source.settledRows()
  const report: ClipsCopy = { total: rows.length, copied: 0, present: 0, files: 0, unreadable: [], holds: 0 }
  let done = 0
  for (const row of rows) {
    done++
    if (row.state === 'ready') {
      const src = sourceFiles.clipPath(row.sha256)
      const got = fs.existsSync(src) ? await files.importFile(src, row.sha256) : 'mismatch'
      if (got === 'mismatch') {
        report.unreadable.push(row.event_id)
        continue
      }
      if (got === 'copied') report.files++
      const thumb = sourceFiles.thumbPath(row.sha256)
      if (row.thumb_etag !== null && fs.existsSync(thumb) && !fs.existsSync(files.thumbPath(row.sha256)))
        await files.writeAtomic(files.thumbPath(row.sha256), await fsp.readFile(thumb))
    }
    if (await target.insertCopy(row)) report.copied++
    else report.present++
    o.progress?.(done, rows.length)
  }
  for (const h of await source.allHolds()) if (await target.insertHoldCopy(h)) report.holds++
  return report
}
