import ffmpeg from 'fluent-ffmpeg'

/**
 * The gateway's one door to ffmpeg and ffprobe. fluent-ffmpeg is archived
 * upstream; keeping every use of it in this file means replacing it touches
 * nothing else. The binaries come from PATH (Debian: /usr/bin), or from
 * FFMPEG_PATH / FFPROBE_PATH, which fluent-ffmpeg reads itself.
 */

export interface ProbeResult {
  /** ffprobe's format name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  container: string
  /** Codec of the first real video stream (cover art excluded), e.g. `h264`. */
  codec: string
  width: number
  height: number
  durationMs: number
  /** Content-Type to serve the file with. */
  mime: string
}

/** The file is not a video ffprobe can read; the message says why, for the 422. */
export class NotAVideoError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NotAVideoError'
  }
}

const PROBE_TIMEOUT_MS = 20_000
const FRAME_TIMEOUT_S = 30

/** Reads container, codec, size and duration; throws NotAVideoError for anything that is not a video. */
export function probe(file: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    // fluent-ffmpeg's ffprobe takes no timeout; a wedged ffprobe must not hold an upload forever.
    const timer = setTimeout(() => reject(new Error(`ffprobe timed out after ${timeoutMs} ms`)), timeoutMs)
    ffmpeg.ffprobe(file, (err, data) => {
      clearTimeout(timer)
      if (err) {
        const msg = String((err as Error).message ?? err)
        // A missing binary is our fault, not the unit's: do not answer it with a 422.
        if (/ENOENT|Cannot find ffprobe/i.test(msg)) return reject(err)
        // The message names our path; the unit needs only ffprobe's verdict.
        return reject(
          new NotAVideoError(`ffprobe could not read it (${lastLine(msg.split(file).join('clip'))})`),
        )
      }
      const video = data.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1)
      const width = Number(video?.width)
      const height = Number(video?.height)
      const seconds = Number(video?.duration ?? data.format.duration)
      if (!video?.codec_name || !(width > 0) || !(height > 0)) {
        return reject(new NotAVideoError('it has no video stream'))
      }
      if (!(seconds > 0)) return reject(new NotAVideoError('its video stream has no duration'))
      const container = String(data.format.format_name ?? 'unknown')
      resolve({
        container,
        codec: video.codec_name,
        width,
        height,
        durationMs: Math.round(seconds * 1000),
        mime: mimeOf(container, video.codec_name),
      })
    })
  })
}

/**
 * One decoded frame as PNG, at `atMs` into the clip (or the first frame when
 * the clip is shorter). ffmpeg writes to a pipe: no temp files to clean up.
 */
export async function posterFrame(file: string, atMs: number): Promise<Buffer> {
  const frame = await frameAt(file, atMs / 1000)
  if (frame.length > 0 || atMs === 0) {
    if (frame.length === 0) throw new NotAVideoError('no frame could be decoded')
    return frame
  }
  return posterFrame(file, 0)
}

function frameAt(file: string, atS: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const cmd = ffmpeg(file, { timeout: FRAME_TIMEOUT_S })
      .seekInput(atS)
      .noAudio()
      .frames(1)
      .videoCodec('png')
      .format('image2pipe')
      .on('error', (err: Error) => reject(new Error(`ffmpeg poster frame failed: ${lastLine(err.message)}`)))
    const out = cmd.pipe()
    out.on('data', (c: Buffer) => chunks.push(c))
    out.on('end', () => resolve(Buffer.concat(chunks)))
  })
}

/** What browsers need to hear to play the file in `<video>`. */
function mimeOf(container: string, codec: string): string {
  const names = container.split(',')
  if (names.includes('mp4') || names.includes('mov')) return 'video/mp4'
  if (names.includes('webm') && ['vp8', 'vp9', 'av1'].includes(codec)) return 'video/webm'
  if (names.includes('matroska')) return 'video/x-matroska'
  if (names.includes('mpegts')) return 'video/mp2t'
  if (names.includes('avi')) return 'video/x-msvideo'
  return 'application/octet-stream'
}

function lastLine(msg: string): string {
  const lines = msg
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
  return (lines.at(-1) ?? msg).slice(0, 300)
}
