import { type RunResult, runTool, ToolRunFailure } from './tool-runner.js'

/**
 * The gateway's one door to ffmpeg and ffprobe. The binaries come from PATH
 * (Debian: /usr/bin), or from FFMPEG_PATH / FFPROBE_PATH.
 *
 * Every file given to them was sent by a unit, so each run is fenced in:
 * - `-protocol_whitelist file`: only the local file is read. A playlist or a
 *   concat list inside the upload cannot make them fetch a URL or pipe.
 * - `-format_whitelist`: only the video containers units record. Text formats
 *   that name other files (`concat`, `hls`) are not opened at all, so an upload
 *   cannot pass off another file on the gateway (another unit's clip) as its own.
 * - a timeout after which the process is killed (SIGKILL: ffmpeg catches
 *   SIGTERM and stays blocked in a read), not only abandoned.
 * The processes are run here (by the tool runner, off the event loop)
 * rather than through fluent-ffmpeg, whose ffprobe gives no handle to kill.
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

/** The default for both tools; the gateway passes `DOORSTEP_MEDIA_TIMEOUT_MS`. */
export const MEDIA_TIMEOUT_MS = 30_000

/** Demuxers of the containers units record (mimeOf below); nothing that reads other files. */
const FORMATS = 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,avi'
/** Decoded frames larger than 8K are refused by the decoder before it allocates them. */
const MAX_PIXELS = 7680 * 4320
/** The fence of every run (see above). */
const FENCE = ['-protocol_whitelist', 'file', '-format_whitelist', FORMATS]
/** ffprobe's JSON for one clip is a few KB; more is not a clip's. */
const MAX_PROBE_OUTPUT = 1024 * 1024
/** A scaled PNG frame inside the thumbnail box is well under this. */
const MAX_FRAME_OUTPUT = 16 * 1024 * 1024

/**
 * Runs `bin` with `args` (through the tool runner: see tool-runner.ts), gathering stdout up to
 * `maxStdout` bytes; the tool is killed (SIGKILL) after `timeoutMs` or past that output, and the run
 * settles only once it has exited, so a caller never leaves one behind. Past its output it is not
 * a clip's: NotAVideoError. Past its time: TimedOut (the caller says whose fault that is).
 */
async function run(bin: string, args: string[], timeoutMs: number, maxStdout: number): Promise<RunResult> {
  try {
    return await runTool(bin, args, timeoutMs, maxStdout)
  } catch (err) {
    if (!(err instanceof ToolRunFailure)) throw err
    if (err.kind === 'timeout') throw new TimedOut(err.message)
    if (err.kind === 'overflow') throw new NotAVideoError(err.message)
    throw Object.assign(new Error(err.message), err.code ? { code: err.code } : {})
  }
}

/** A tool ran past its time and was killed. */
class TimedOut extends Error {}

interface ProbeStream {
  codec_type?: string
  codec_name?: string
  width?: number
  height?: number
  duration?: string
  disposition?: { attached_pic?: number }
}

/** Reads container, codec, size and duration; throws NotAVideoError for anything that is not a video. */
export async function probe(file: string, timeoutMs = MEDIA_TIMEOUT_MS): Promise<ProbeResult> {
  const bin = process.env.FFPROBE_PATH || 'ffprobe'
  let r: RunResult
  try {
    r = await run(
      bin,
      ['-v', 'error', ...FENCE, '-print_format', 'json', '-show_format', '-show_streams', '-i', file],
      timeoutMs,
      MAX_PROBE_OUTPUT,
    )
  } catch (err) {
    // A wedged ffprobe is the file's doing (a stalled or crafted input): a verdict, not our failure.
    if (err instanceof TimedOut) throw new NotAVideoError(`ffprobe ${err.message}`)
    // A missing binary is our fault, not the unit's: do not answer it with a 422.
    throw err
  }
  if (r.code !== 0) {
    // The message names our path; the unit needs only ffprobe's verdict.
    throw new NotAVideoError(`ffprobe could not read it (${lastLine(r.stderr.split(file).join('clip'))})`)
  }
  let data: { streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } }
  try {
    data = JSON.parse(r.stdout.toString('utf8'))
  } catch {
    throw new NotAVideoError('ffprobe gave no readable answer')
  }
  const video = (data.streams ?? []).find(
    (s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1,
  )
  const width = Number(video?.width)
  const height = Number(video?.height)
  const seconds = Number(video?.duration ?? data.format?.duration)
  if (!video?.codec_name || !(width > 0) || !(height > 0)) {
    throw new NotAVideoError('it has no video stream')
  }
  if (width * height > MAX_PIXELS) throw new NotAVideoError(`its frames (${width}x${height}) are over 8K`)
  if (!(seconds > 0)) throw new NotAVideoError('its video stream has no duration')
  const container = String(data.format?.format_name ?? 'unknown')
  return {
    container,
    codec: video.codec_name,
    width,
    height,
    durationMs: Math.round(seconds * 1000),
    mime: mimeOf(container, video.codec_name),
  }
}

/** The box a poster frame is scaled into by ffmpeg, before sharp sees it. */
export interface FrameBox {
  width: number
  height: number
}

/**
 * One decoded frame as PNG, at `atMs` into the clip (or the first frame when
 * the clip is shorter), scaled by ffmpeg to fit inside `box` (aspect kept):
 * sharp then never decodes more than the box's pixels. ffmpeg writes to a
 * pipe: no temp files to clean up.
 */
export async function posterFrame(
  file: string,
  atMs: number,
  box: FrameBox,
  timeoutMs = MEDIA_TIMEOUT_MS,
): Promise<Buffer> {
  const frame = await frameAt(file, atMs / 1000, box, timeoutMs)
  if (frame.length > 0 || atMs === 0) {
    if (frame.length === 0) throw new NotAVideoError('no frame could be decoded')
    return frame
  }
  return posterFrame(file, 0, box, timeoutMs)
}

async function frameAt(file: string, atS: number, box: FrameBox, timeoutMs: number): Promise<Buffer> {
  const bin = process.env.FFMPEG_PATH || 'ffmpeg'
  const scale = `scale=w=${box.width}:h=${box.height}:force_original_aspect_ratio=decrease:force_divisible_by=2`
  const args = [
    ...['-v', 'error', '-nostdin', ...FENCE, '-max_pixels', String(MAX_PIXELS)],
    ...['-ss', String(atS), '-i', file],
    ...['-an', '-frames:v', '1', '-vf', scale, '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'],
  ]
  let r: RunResult
  try {
    r = await run(bin, args, timeoutMs, MAX_FRAME_OUTPUT)
  } catch (err) {
    throw new Error(`ffmpeg poster frame failed: ${(err as Error).message}`)
  }
  if (r.code !== 0)
    throw new Error(`ffmpeg poster frame failed: ${lastLine(r.stderr.split(file).join('clip'))}`)
  return r.stdout
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
