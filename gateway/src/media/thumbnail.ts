import sharp from 'sharp'

const THUMB_WIDTH = 320

/** A WebP thumbnail `width` px wide (height keeps the aspect ratio) from a decoded frame. */
export function webpThumbnail(image: Buffer, width = THUMB_WIDTH): Promise<Buffer> {
  return sharp(image).resize({ width }).webp({ quality: 75 }).toBuffer()
}
