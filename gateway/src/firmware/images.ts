import { createHash, randomUUID } from 'node:crypto'
import fsp from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { firmwareStatement } from '@doorstep/proto'
import { ClipStore } from '../clips/index.js'
import { isUniqueViolation } from '../db/index.js'
import { DoorstepError } from '../errors.js'
import type { FirmwareStore, ImageRow } from './firmware-store.js'

/** A partial image file in a folder gateways share, written to by nobody for this long, is an upload cut off. */
const STALE_PARTIAL_MS = 3_600_000

/** What signs images: the firmware key (an `EvidenceKeyring` of its own). */
export interface ImageSigner {
  sign(data: string): string
  readonly fingerprint: string
}

/**
 * Firmware images on disk, content-addressed like clips (`<sharedDir>/firmware/ab/cd/<sha256>`, a
 * `ClipStore`): the body is streamed to `partial/<imageId>` while hashed, fsynced, then renamed into
 * place, so a file at a content address is always whole. The row is written after the rename: an
 * image listed is an image on disk (a crash in between leaves an unlisted file, harmless).
 */
export class FirmwareImages {
  readonly store: ClipStore
  readonly #table: FirmwareStore
  readonly #signer: ImageSigner
  readonly #maxBytes: number
  readonly #now: () => number

  constructor(deps: {
    root: string
    table: FirmwareStore
    signer: ImageSigner
    maxBytes: number
    now: () => number
  }) {
    this.store = new ClipStore(deps.root)
    this.#table = deps.table
    this.#signer = deps.signer
    this.#maxBytes = deps.maxBytes
    this.#now = deps.now
  }

  /**
   * `shared`: other gateways use the same folder, and a partial may be one of their uploads under way;
   * only those untouched for an hour are removed then.
   */
  async init(shared = false): Promise<void> {
    await this.store.init()
    // A partial is an upload cut off: the admin sends the whole image again.
    const cutoff = this.#now() - STALE_PARTIAL_MS
    for (const id of await this.store.partialIds()) {
      if (shared && (await this.store.partialWrittenAt(id).catch(() => 0)) > cutoff) continue
      await this.store.removePartial(id)
    }
  }

  async receive(body: Readable, meta: { model: string; version: string; by: string }): Promise<ImageRow> {
    if (await this.#table.imageOf(meta.model, meta.version)) {
      body.resume()
      throw new DoorstepError('DOORSTEP_ERR_FIRMWARE_EXISTS', undefined, meta)
    }
    const id = randomUUID()
    const partial = this.store.partialPath(id)
    const hash = createHash('sha256')
    let size = 0
    const fh = await fsp.open(partial, 'wx')
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer
        size += buf.length
        if (size > this.#maxBytes) {
          throw new DoorstepError(
            'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
            `A firmware image may be at most ${this.#maxBytes} bytes`,
          )
        }
        hash.update(buf)
        await fh.write(buf)
      }
      await fh.sync()
    } catch (err) {
      await fh.close()
      await this.store.removePartial(id)
      throw err
    }
    await fh.close()
    if (size === 0) {
      await this.store.removePartial(id)
      throw new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', 'The image is empty')
    }
    const sha256 = hash.digest('hex')
    await this.store.commit(id, sha256)
    const row: ImageRow = {
      id,
      model: meta.model,
      version: meta.version,
      sha256,
      size,
      signature: this.#signer.sign(firmwareStatement(meta.model, meta.version, size, sha256)),
      key_fingerprint: this.#signer.fingerprint,
      uploaded_by: meta.by,
      uploaded_at: this.#now(),
    }
    try {
      await this.#table.insertImage(row)
    } catch (err) {
      // Two uploads of one model and version at once (through one gateway or two): the UNIQUE
      // constraint picks one.
      if (isUniqueViolation(err)) throw new DoorstepError('DOORSTEP_ERR_FIRMWARE_EXISTS', undefined, meta)
      throw err
    }
    return row
  }

  pathOf(row: ImageRow): string {
    return this.store.clipPath(row.sha256)
  }
}
