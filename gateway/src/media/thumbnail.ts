import sharp from 'sharp'
import { MEDIA_TIMEOUT_MS, posterFrame } from './ffmpeg.js'

const THUMB_WIDTH = 320
/** Portrait clips down to 1:3 keep their full width; taller ones are narrower. */
const THUMB_MAX_HEIGHT = 960
/**
 * sharp decodes at most this many pixels: ffmpeg has already scaled the frame
 * into the thumbnail box, so anything bigger is not that frame (and sharp's
 * own default, 268 Mpx, would let a crafted PNG take gigabytes).
 */
const MAX_INPUT_PIXELS = THUMB_WIDTH * THUMB_MAX_HEIGHT
/** Where the poster frame is taken: a second in, or halfway through a shorter video. */
const POSTER_AT_MS = 1000

// libvips caches the last 100 operations with their input buffers, memory it does not count against
// its own 50 MB limit. Every thumbnail is of a new frame, so the cache never hits: it only holds
// native memory for as long as the gateway runs.
sharp.cache(false)

/** A WebP thumbnail `width` px wide (height keeps the aspect ratio, at most THUMB_MAX_HEIGHT) from a frame. */
export function webpThumbnail(image: Buffer, width = THUMB_WIDTH): Promise<Buffer> {
  return sharp(image, { limitInputPixels: MAX_INPUT_PIXELS })
    .resize({ width, height: THUMB_MAX_HEIGHT, fit: 'inside' })
    .webp({ quality: 75 })
    .toBuffer()
}

/** The WebP thumbnail of a stored video: its poster frame, scaled down by ffmpeg, then encoded by sharp. */
export async function videoThumbnail(
  file: string,
  durationMs: number,
  timeoutMs = MEDIA_TIMEOUT_MS,
): Promise<Buffer> {
  const at = Math.min(POSTER_AT_MS, Math.floor(durationMs / 2))
  const frame = await posterFrame(file, at, { width: THUMB_WIDTH, height: THUMB_MAX_HEIGHT }, timeoutMs)
  return webpThumbnail(frame)
}
