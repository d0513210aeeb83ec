import { createHash } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { z } from 'zod'

export const MANIFEST_FILE = 'manifest.json'
export const MANIFEST_FORMAT = 'doorstep-backup/1'

/**
 * What each file of a backup is, which says where restore puts it:
 * - `sqlite`: a database snapshot, restored at `target` in the data dir;
 * - `clip`, `pull`, `key`: files restored at `target` as they are;
 * - `config`: the config the gateway ran with (no secrets), kept in the backup only;
 * - `influx`: a file of the `influxd backup -portable` set, replayed with `influxd restore`.
 */
export const FileKind = z.enum(['sqlite', 'clip', 'pull', 'firmware', 'key', 'config', 'influx'])
export type FileKind = z.infer<typeof FileKind>

/** A path inside the backup or the data dir: relative, forward slashes, never leaving its root. */
const RelPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\'), 'not a safe path')

export const ManifestFile = z.object({
  path: RelPath,
  kind: FileKind,
  /** Where restore writes it, relative to the new data dir; absent for `config` and `influx`. */
  target: RelPath.optional(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Permission bits to restore (keys are 0600). */
  mode: z.number().int().optional(),
})
export type ManifestFile = z.infer<typeof ManifestFile>

export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  createdAt: z.string(),
  source: z.object({
    host: z.string(),
    dataDir: z.string(),
    /** Whether a gateway was running on the data dir while the backup was taken. */
    gatewayRunning: z.boolean(),
  }),
  /** The folder of this backup's snapshot files (databases, keys, config, InfluxDB). */
  generation: z.string(),
  influx: z.object({
    included: z.boolean(),
    db: z.string(),
    /** Why it is not in the backup (an external InfluxDB), for the restore report. */
    note: z.string().optional(),
  }),
  files: z.array(ManifestFile),
})
export type Manifest = z.infer<typeof Manifest>

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256')
  await pipeline(fs.createReadStream(file), h)
  return h.digest('hex')
}

/**
 * Copies `src` to `dest` through a temp file, hashing the bytes as they pass; fsyncs before the
 * rename. `mode` is set when the file is created, so a key is never readable by others, not even
 * for a moment.
 */
export async function copyHashed(
  src: string,
  dest: string,
  mode?: number,
): Promise<{ sha256: string; bytes: number }> {
  await fsp.mkdir(path.dirname(dest), { recursive: true })
  const tmp = `${dest}.tmp-${process.pid}`
  const h = createHash('sha256')
  let bytes = 0
  const out = fs.createWriteStream(tmp, mode === undefined ? {} : { mode })
  await pipeline(
    fs.createReadStream(src),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        h.update(chunk)
        bytes += chunk.length
        yield chunk
      }
    },
    out,
  )
  const fd = await fsp.open(tmp, 'r')
  await fd.sync()
  await fd.close()
  await fsp.rename(tmp, dest)
  return { sha256: h.digest('hex'), bytes }
}

export async function readManifest(dir: string): Promise<Manifest | null> {
  let text: string
  try {
    text = await fsp.readFile(path.join(dir, MANIFEST_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const parsed = Manifest.safeParse(JSON.parse(text))
  if (!parsed.success) {
    const first = parsed.error.issues[0]
    throw new Error(
      `${MANIFEST_FILE} is not a Doorstep backup manifest (${first?.path.join('.')}: ${first?.message})`,
    )
  }
  return parsed.data
}

/** Written last, through a rename: until then the previous manifest (and its files) is the backup. */
export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const file = path.join(dir, MANIFEST_FILE)
  const tmp = `${file}.tmp-${process.pid}`
  await fsp.writeFile(tmp, `${JSON.stringify(m, null, 2)}\n`)
  const fd = await fsp.open(tmp, 'r')
  await fd.sync()
  await fd.close()
  await fsp.rename(tmp, file)
}

export interface Problem {
  path: string
  what: 'missing' | 'size' | 'sha256'
  detail: string
}

/** Checks every file the manifest lists against its size and sha256. Reads only. */
export async function verifyFiles(
  dir: string,
  m: Manifest,
  onFile: (done: number, bytes: number) => void = () => {},
): Promise<Problem[]> {
  const problems: Problem[] = []
  let done = 0
  let bytes = 0
  for (const f of m.files) {
    const p = path.join(dir, f.path)
    let size: number
    try {
      size = (await fsp.stat(p)).size
    } catch {
      problems.push({ path: f.path, what: 'missing', detail: 'missing' })
      continue
    }
    if (size !== f.bytes) {
      problems.push({ path: f.path, what: 'size', detail: `${size} bytes, manifest says ${f.bytes}` })
      continue
    }
    const sha = await sha256File(p)
    if (sha !== f.sha256) {
      problems.push({ path: f.path, what: 'sha256', detail: `sha256 is ${sha}, manifest says ${f.sha256}` })
    }
    done++
    bytes += size
    onFile(done, bytes)
  }
  return problems
}
