import sharp from 'sharp'
import { posterFrame } from './ffmpeg.js'

const THUMB_WIDTH = 320
/** Where the poster frame is taken: a second in, or halfway through a shorter video. */
const POSTER_AT_MS = 1000

/** A WebP thumbnail `width` px wide (height keeps the aspect ratio) from a decoded frame. */
function webpThumbnail(image: Buffer, width = THUMB_WIDTH): Promise<Buffer> {
  return sharp(image).resize({ width }).webp({ quality: 75 }).toBuffer()
}

/** The WebP thumbnail of a stored video: its poster frame, scaled down. */
export async function videoThumbnail(file: string, durationMs: number): Promise<Buffer> {
  return webpThumbnail(await posterFrame(file, Math.min(POSTER_AT_MS, Math.floor(durationMs / 2))))
}
