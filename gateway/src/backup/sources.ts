import fsp from 'node:fs/promises'
import path from 'node:path'

/**
 * What of a data dir goes into a backup, in one place (README "What a backup holds"):
 * - SQLite databases, copied with SQLite's online backup API;
 * - content-addressed stores of clips, pulled footage and firmware images, copied once each;
 * - key folders, copied file by file with their permissions.
 * `influxdb/` is not copied as files: `influxd backup -portable` takes it.
 */
export const DATABASES = [
  'doorstep.db',
  // The separate spool file of older versions; the gateway moves its rows into doorstep.db at start.
  'spool.db',
] as const
export type DatabaseFile = (typeof DATABASES)[number]

export const STORES = [
  { dir: 'clips', kind: 'clip' },
  { dir: 'pulls', kind: 'pull' },
  { dir: 'firmware', kind: 'firmware' },
] as const

/** Evidence signing keys (`evidence/`) and any other keys a feature keeps under `keys/`. */
export const KEY_DIRS = ['evidence', 'keys'] as const

/** A stored file or its thumbnail (`ab/cd/<sha256>[.webp]`); partial uploads and temp files are not. */
const STORED = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}(\.webp)?$/

/** Every file under `dir`, as paths relative to it with forward slashes. Absent dir: none. */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  const visit = async (rel: string): Promise<void> => {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) await visit(r)
      else if (e.isFile()) out.push(r)
    }
  }
  await visit('')
  return out.sort()
}

/** The stored files of a content-addressed store (see clips/store.ts for the layout). */
export async function storedFiles(dir: string): Promise<string[]> {
  return (await walk(dir)).filter((r) => STORED.test(r))
}
