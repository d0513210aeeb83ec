import { createHash, type Hash } from 'node:crypto'
import fsp, { type FileHandle } from 'node:fs/promises'

const READ_CHUNK = 1024 * 1024

/** The body carried more bytes than the range (or the announced size) allows. */
export class TooManyBytesError extends Error {
  constructor(readonly limit: number) {
    super(`the body is longer than the ${limit} bytes expected`)
    this.name = 'TooManyBytesError'
  }
}

/** The client went away (or a newer upload of the same clip took over) mid-body. */
export class BodyInterruptedError extends Error {
  constructor(cause: unknown) {
    super('the upload was interrupted', { cause })
    this.name = 'BodyInterruptedError'
  }
}

/**
 * Opens an upload's partial file to continue at `offset` and returns a sha256
 * state that already covers bytes `[0, offset)`.
 *
 * Resumable hashing: Node's Hash cannot be saved and restored, and keeping
 * one per event in memory would not survive a restart. So on every resume the
 * prefix already on disk is re-hashed once (a sequential read, about 1 s per
 * GB), then the new bytes are hashed as they stream in. The digest therefore
 * always covers exactly the bytes in the file, whoever wrote them. Anything
 * past `offset` (bytes a client is re-sending) is cut off first.
 */
async function openPartial(file: string, offset: number): Promise<{ fh: FileHandle; hash: Hash }> {
  const hash = createHash('sha256')
  if (offset === 0) return { fh: await fsp.open(file, 'w'), hash }
  const fh = await fsp.open(file, 'r+')
  try {
    await fh.truncate(offset)
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, offset))
    let pos = 0
    while (pos < offset) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, offset - pos), pos)
      if (bytesRead === 0) throw new Error(`partial ${file} is shorter than ${offset} bytes`)
      hash.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
    return { fh, hash }
  } catch (err) {
    await fh.close()
    throw err
  }
}

/**
 * Streams `body` into `fh` from `offset`, hashing as it goes, and never
 * holds more than one chunk in memory: each chunk is awaited onto disk before
 * the next is read, which is also the backpressure on the socket. Stops with
 * TooManyBytesError past `limit` (the position the body must not pass) and
 * with BodyInterruptedError when the body breaks off. Returns the new end.
 */
async function appendBody(
  fh: FileHandle,
  hash: Hash,
  body: AsyncIterable<Buffer | string> | Iterable<Buffer>,
  offset: number,
  limit: number,
): Promise<number> {
  let pos = offset
  try {
    for await (const piece of body) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece
      if (pos + chunk.length > limit) throw new TooManyBytesError(limit - offset)
      hash.update(chunk)
      let written = 0
      while (written < chunk.length) {
        const r = await fh.write(chunk, written, chunk.length - written, pos + written)
        written += r.bytesWritten
      }
      pos += chunk.length
    }
  } catch (err) {
    if (err instanceof TooManyBytesError) throw err
    // A write error (disk full) is ours to report as such; anything from the body is the client leaving.
    if ((err as NodeJS.ErrnoException).syscall === 'write') throw err
    throw new BodyInterruptedError(err)
  }
  return pos
}

/**
 * One part of a resumable upload: opens the partial at `start`, streams the
 * body up to `end`, and once the file holds all `total` bytes syncs it and
 * returns its digest (empty until then). Throws what appendBody throws; the
 * caller decides what each means for its upload.
 */
export async function writePart(
  file: string,
  body: AsyncIterable<Buffer | string> | Iterable<Buffer> | undefined,
  start: number,
  end: number,
  total: number,
): Promise<{ at: number; digest: string }> {
  const { fh, hash } = await openPartial(file, start)
  try {
    const at = body ? await appendBody(fh, hash, body, start, end) : start
    // [durability] the last byte is on disk before anything is verified or renamed.
    if (at === total) await fh.sync()
    // The hash covers [0, at): it is the file's digest once the last byte is in.
    return { at, digest: at === total ? hash.digest('hex') : '' }
  } finally {
    await fh.close()
  }
}

/** sha256 of a whole file, read sequentially (recovery of a complete partial after a restart). */
export async function hashFile(file: string): Promise<string> {
  const fh = await fsp.open(file, 'r')
  try {
    const hash = createHash('sha256')
    const buf = Buffer.allocUnsafe(READ_CHUNK)
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      if (bytesRead === 0) break
      hash.update(buf.subarray(0, bytesRead))
    }
    return hash.digest('hex')
  } finally {
    await fh.close()
  }
}
