import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { hashFile } from '../uploads/index.js'

const SHA_RE = /^[0-9a-f]{64}$/
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Temp files of `writeAtomic`: `<final>.tmp-<pid>-<random>`. */
const TEMP_RE = /\.tmp-\d+-[0-9a-f]+$/

/** How much of the disk holding the clips is in use. */
export interface DiskUsage {
  sizeBytes: number
  freeBytes: number
}

/** The default disk-usage source: `statfs` of the clip directory (blocks free to us, not to root). */
export async function statfsUsage(dir: string): Promise<DiskUsage> {
  const s = await fsp.statfs(dir)
  return { sizeBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize }
}

/**
 * Clip files on disk:
 * - `<root>/ab/cd/<sha256>`: a stored clip, named by its content, so a file
 *   at a name is always whole and verified; two events with the same clip
 *   share one file.
 * - `<root>/ab/cd/<sha256>.webp`: its thumbnail.
 * - `<root>/partial/<eventId>`: an upload in progress. This file is the
 *   clip's temp file: it is fsynced, verified, then renamed into place (same
 *   file system, so the rename is atomic) and the directory fsynced.
 * Other files are written with `writeAtomic` (temp in the same directory,
 * fsync, rename); a crash leaves at most a `.tmp-` file, which `start`
 * removes.
 */
export class ClipStore {
  readonly root: string
  readonly partialDir: string
  /**
   * The last operation queued on each content address. Storing a clip whose file is already there
   * drops the upload and keeps the file, and removing a file nobody uses any more checks first:
   * without one at a time per address, a removal that had checked could unlink a file a commit just
   * kept for another event (two events, one clip), leaving that event ready with no file.
   */
  readonly #busy = new Map<string, Promise<unknown>>()

  constructor(root: string) {
    this.root = root
    this.partialDir = path.join(root, 'partial')
  }

  async init(): Promise<{ tempsRemoved: number }> {
    await fsp.mkdir(this.partialDir, { recursive: true })
    return { tempsRemoved: await this.#removeTemps() }
  }

  clipPath(sha256: string): string {
    if (!SHA_RE.test(sha256)) throw new Error('not a sha256')
    return path.join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256)
  }

  thumbPath(sha256: string): string {
    return `${this.clipPath(sha256)}.webp`
  }

  partialPath(eventId: string): string {
    // The id lands in a path: only a UUID may, never `..` or a slash.
    if (!UUID_RE.test(eventId)) throw new Error('not an event id')
    return path.join(this.partialDir, eventId.toLowerCase())
  }

  /** Bytes of an upload received so far (0 when none). */
  async partialSize(eventId: string): Promise<number> {
    try {
      return (await fsp.stat(this.partialPath(eventId))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
      throw err
    }
  }

  /** When a partial was last written (ms): the age of an upload found on disk with no record of it. */
  async partialWrittenAt(eventId: string): Promise<number> {
    return Math.round((await fsp.stat(this.partialPath(eventId))).mtimeMs)
  }

  async removePartial(eventId: string): Promise<void> {
    await fsp.rm(this.partialPath(eventId), { force: true })
  }

  /** Event ids that have a partial upload on disk. */
  async partialIds(): Promise<string[]> {
    return (await fsp.readdir(this.partialDir)).filter((n) => UUID_RE.test(n))
  }

  exists(sha256: string): boolean {
    return fs.existsSync(this.clipPath(sha256))
  }

  /**
   * Moves a verified, fsynced partial into its content address. If the
   * content is already stored (another event, same clip), the partial is
   * simply dropped.
   */
  commit(eventId: string, sha256: string): Promise<void> {
    return this.#exclusive(sha256, () => this.#commit(eventId, sha256))
  }

  async #commit(eventId: string, sha256: string): Promise<void> {
    const src = this.partialPath(eventId)
    const dest = this.clipPath(sha256)
    await fsp.mkdir(path.dirname(dest), { recursive: true })
    if (fs.existsSync(dest)) {
      await fsp.rm(src, { force: true })
      return
    }
    await fsp.rename(src, dest)
    // The rename is durable only once the directories holding both names are.
    await fsyncDir(path.dirname(dest))
    await fsyncDir(this.partialDir)
  }

  /**
   * Copies a stored file of another store (`src`, its content `sha256`) to the same address here, as
   * `writeAtomic` writes: a temp file, fsynced, its digest checked, renamed. `present` when the address
   * holds it already; `mismatch` (nothing written) when the source is not that content.
   */
  importFile(src: string, sha256: string): Promise<'copied' | 'present' | 'mismatch'> {
    return this.#exclusive(sha256, async () => {
      const dest = this.clipPath(sha256)
      if (fs.existsSync(dest)) return 'present'
      await fsp.mkdir(path.dirname(dest), { recursive: true })
      const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
      try {
        await fsp.copyFile(src, tmp, fs.constants.COPYFILE_EXCL)
        const fh = await fsp.open(tmp, 'r+')
        try {
          await fh.sync()
        } finally {
          await fh.close()
        }
        if ((await hashFile(tmp)) !== sha256) {
          await fsp.rm(tmp, { force: true })
          return 'mismatch'
        }
        await fsp.rename(tmp, dest)
      } catch (err) {
        await fsp.rm(tmp, { force: true })
        throw err
      }
      await fsyncDir(path.dirname(dest))
      return 'copied'
    })
  }

  /** Writes `data` to `dest` so that `dest` is either absent or whole: temp, fsync, rename, fsync dir. */
  async writeAtomic(dest: string, data: Buffer): Promise<void> {
    await fsp.mkdir(path.dirname(dest), { recursive: true })
    const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
    const fh = await fsp.open(tmp, 'wx')
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    try {
      await fsp.rename(tmp, dest)
    } catch (err) {
      await fsp.rm(tmp, { force: true })
      throw err
    }
    await fsyncDir(path.dirname(dest))
  }

  /**
   * Deletes a stored clip and its thumbnail unless `inUse()` says another record still points at it,
   * asked once no commit to the same address is in progress; returns the bytes freed.
   */
  removeUnlessUsed(sha256: string, inUse: () => boolean | Promise<boolean>): Promise<number> {
    return this.#exclusive(sha256, async () => ((await inUse()) ? 0 : this.#remove(sha256)))
  }

  /** Runs `fn` after whatever was queued on this address before it. */
  #exclusive<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#busy.get(sha256) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const tail = run.catch(() => {})
    this.#busy.set(sha256, tail)
    // The map holds only addresses with work queued: the last one out removes its entry.
    void tail.then(() => {
      if (this.#busy.get(sha256) === tail) this.#busy.delete(sha256)
    })
    return run
  }

  async #remove(sha256: string): Promise<number> {
    let freed = 0
    for (const p of [this.clipPath(sha256), this.thumbPath(sha256)]) {
      try {
        freed += (await fsp.stat(p)).size
        await fsp.rm(p)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    return freed
  }

  /** Leftovers of a crash inside `writeAtomic`: a temp never renamed is never a file anyone reads. */
  async #removeTemps(): Promise<number> {
    let removed = 0
    for (const a of await readdirSafe(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue
      for (const b of await readdirSafe(path.join(this.root, a))) {
        const dir = path.join(this.root, a, b)
        for (const name of await readdirSafe(dir)) {
          if (!TEMP_RE.test(name)) continue
          await fsp.rm(path.join(dir, name), { force: true })
          removed++
        }
      }
    }
    return removed
  }
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir)
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' ||
      (err as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      return []
    }
    throw err
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
