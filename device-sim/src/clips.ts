import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

/**
 * Real H.264 clips for simulated events. Encoding is slow next to everything
 * else the simulator does, so a handful of variants are made once into a
 * cache dir and every unit shares them: an event announces one of these
 * files' exact size and sha256, and an upload sends that same file.
 */
export interface ClipFile {
  path: string
  bytes: number
  /** Lowercase hex, as proto's ClipInfo wants it. */
  sha256: string
  durationMs: number
  codec: string
}

interface Variant {
  name: string
  /** lavfi source graph. */
  source: string
  durationMs: number
  /** Extra output filter, e.g. greyscale for a night (IR) look. */
  filter?: string
}

// Shortest first: `variants: 1` (tests) gets the quickest events.
const VARIANTS: readonly Variant[] = [
  {
    name: 'night-4s',
    source: 'testsrc=duration=4:size=640x360:rate=15',
    durationMs: 4_000,
    filter: 'hue=s=0',
  },
  { name: 'street-6s', source: 'testsrc2=duration=6:size=640x360:rate=15', durationMs: 6_000 },
  { name: 'bars-8s', source: 'smptebars=duration=8:size=640x360:rate=15', durationMs: 8_000 },
  { name: 'day-10s', source: 'testsrc=duration=10:size=640x360:rate=15', durationMs: 10_000 },
]

export interface EnsureClipsOptions {
  /** Where clips are cached between runs. */
  cacheDir?: string
  /** How many variants to use (1..4). */
  variants?: number
  ffmpegPath?: string
  /** Longest one encode may take before it is killed, ms. */
  timeoutMs?: number
}

export const DEFAULT_CLIP_DIR = path.join('.doorstep-sim', 'clips')

function ffmpegArgs(v: Variant, out: string): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', v.source]
  if (v.filter) args.push('-vf', v.filter)
  args.push(
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    out,
  )
  return args
}

/** The cache file name carries a hash of the arguments: changing a variant makes a new file. */
function cacheName(v: Variant): string {
  const h = createHash('sha256').update(ffmpegArgs(v, '').join(' ')).digest('hex').slice(0, 10)
  return `clip-${v.name}-${h}.mp4`
}

function run(bin: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `ffmpeg not found (${bin}); install it (Debian: apt-get install ffmpeg) or pass clips yourself`,
            )
          : err,
      )
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else
        reject(
          new Error(
            `ffmpeg failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        )
    })
  })
}

/** bytes and sha256 of a file, streamed (clips can be large). */
export async function describeFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { bytes, sha256: hash.digest('hex') }
}

/** Makes the missing variants with ffmpeg, then describes all of them. */
export async function ensureClips(opts: EnsureClipsOptions = {}): Promise<ClipFile[]> {
  const dir = path.resolve(opts.cacheDir ?? DEFAULT_CLIP_DIR)
  const count = Math.min(VARIANTS.length, Math.max(1, opts.variants ?? VARIANTS.length))
  const bin = opts.ffmpegPath ?? 'ffmpeg'
  fs.mkdirSync(dir, { recursive: true })
  const out: ClipFile[] = []
  for (const v of VARIANTS.slice(0, count)) {
    const file = path.join(dir, cacheName(v))
    if (!fs.existsSync(file)) {
      // Encode beside the target and rename: a killed run never leaves a half clip under the real name.
      const tmp = `${file}.${process.pid}.tmp.mp4`
      try {
        await run(bin, ffmpegArgs(v, tmp), opts.timeoutMs ?? 120_000)
        fs.renameSync(tmp, file)
      } finally {
        fs.rmSync(tmp, { force: true })
      }
    }
    const { bytes, sha256 } = await describeFile(file)
    out.push({ path: file, bytes, sha256, durationMs: v.durationMs, codec: 'h264' })
  }
  return out
}
