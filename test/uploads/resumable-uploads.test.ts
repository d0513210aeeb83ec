import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ClipStore } from '../../gateway/src/clips/store.js'
import { DoorstepError } from '../../gateway/src/errors.js'
import { createLogger } from '../../gateway/src/log.js'
import { WorkQueue } from '../../gateway/src/media/work-queue.js'
import {
  ResumableUploads,
  type UploadAnswer,
  type UploadRequest,
  type UploadTarget,
} from '../../gateway/src/uploads/resumable-uploads.js'
import { tempDir } from '../helpers/tmp.js'

interface Job {
  id: string
  total: number
  sha256: string | null
}

/** A target that records what the engine told it; probing is not reached in these tests. */
class RecordingTarget implements UploadTarget<Job, UploadAnswer> {
  readonly noun = 'thing'
  readonly logKey = 'thingId'
  readonly told: string[] = []
  constructor(readonly job: Job) {}
  find(id: string, deviceId: string): Job {
    if (deviceId !== 'cam-1') throw new DoorstepError('DOORSTEP_ERR_FORBIDDEN')
    if (id !== this.job.id) throw new DoorstepError('DOORSTEP_ERR_NOT_FOUND')
    return this.job
  }
  knownTotal(j: Job): number {
    return j.total
  }
  storedBytes(): null {
    return null
  }
  storedAnswer(): null {
    return null
  }
  headState(_j: Job, received: number): string {
    return received > 0 ? 'uploading' : 'pending'
  }
  total(j: Job): number {
    return j.total
  }
  writing(): void {
    this.told.push('writing')
  }
  progressed(_j: Job, received: number): void {
    this.told.push(`progressed ${received}`)
  }
  discarded(): void {
    this.told.push('discarded')
  }
  expectedSha256(j: Job, declared: string | null): { sha256: string; from: string } | null {
    const sha256 = declared ?? j.sha256
    return sha256 === null ? null : { sha256, from: 'the announced digest' }
  }
  rejected(): void {
    this.told.push('rejected')
  }
  async commit(): Promise<UploadAnswer> {
    throw new Error('not reached')
  }
  partial(_j: Job, received: number, total: number): UploadAnswer {
    return { received, total }
  }
}

describe('the resumable-upload engine', () => {
  let tmp: ReturnType<typeof tempDir>
  let store: ClipStore
  let media: WorkQueue
  const bytes = Buffer.from('0123456789abcdefghij')
  const id = randomUUID()

  beforeEach(async () => {
    tmp = tempDir('doorstep-uploads-')
    store = new ClipStore(tmp.dir)
    await store.init()
    media = new WorkQueue({ concurrency: 1, maxQueued: 1 })
  })
  afterEach(async () => {
    await media.close()
    tmp.cleanup()
  })

  function engine(job: Job, maxBytes = 1000) {
    const target = new RecordingTarget(job)
    const uploads = new ResumableUploads({
      target,
      files: store,
      media,
      log: createLogger('silent'),
      maxBytes,
    })
    return { target, uploads }
  }

  function put(over: Partial<UploadRequest>): UploadRequest {
    return {
      id,
      deviceId: 'cam-1',
      range: null,
      contentLength: undefined,
      body: undefined,
      declaredSha256: null,
      abort: () => {},
      ...over,
    }
  }

  it('keeps the bytes of each part and says where to continue', async () => {
    const { target, uploads } = engine({ id, total: bytes.length, sha256: null })
    const first = await uploads.receive(
      put({ range: { kind: 'part', start: 0, end: 7, total: 20 }, body: [bytes.subarray(0, 8)] }),
    )
    expect(first).toEqual({ status: 202, result: { received: 8, total: 20 } })
    expect(await uploads.status(id, 'cam-1')).toEqual({ received: 8, total: 20, state: 'uploading' })
    // Overlap is written again; the file is the same bytes.
    await uploads.receive(
      put({ range: { kind: 'part', start: 4, end: 11, total: 20 }, body: [bytes.subarray(4, 12)] }),
    )
    expect(fs.readFileSync(store.partialPath(id))).toEqual(bytes.subarray(0, 12))
    expect(target.told).toEqual(['writing', 'progressed 8', 'writing', 'progressed 12'])
  })

  it('refuses a gap with the offset, and a body longer than its range', async () => {
    const { target, uploads } = engine({ id, total: bytes.length, sha256: null })
    await uploads.receive(
      put({ range: { kind: 'part', start: 0, end: 3, total: 20 }, body: [bytes.subarray(0, 4)] }),
    )
    const gap = await uploads
      .receive(put({ range: { kind: 'part', start: 6, end: 9, total: 20 }, body: [bytes.subarray(6, 10)] }))
      .catch((e: unknown) => e)
    expect(gap).toMatchObject({ code: 'DOORSTEP_ERR_UPLOAD_OFFSET', details: { received: 4, total: 20 } })
    const long = await uploads
      .receive(put({ range: { kind: 'part', start: 4, end: 5, total: 20 }, body: [bytes.subarray(4, 10)] }))
      .catch((e: unknown) => e)
    expect(long).toMatchObject({ code: 'DOORSTEP_ERR_PAYLOAD_TOO_LARGE' })
    expect(await store.partialSize(id)).toBe(0)
    expect(target.told.at(-1)).toBe('discarded')
  })

  it('removes the partial when the digest is not the one expected', async () => {
    const { target, uploads } = engine({ id, total: bytes.length, sha256: null })
    const wrong = createHash('sha256').update('something else').digest('hex')
    const err = await uploads.receive(put({ body: [bytes], declaredSha256: wrong })).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'DOORSTEP_ERR_CLIP_HASH_MISMATCH',
      message: 'The thing does not match the announced digest',
      details: { expected: wrong, actual: createHash('sha256').update(bytes).digest('hex') },
    })
    expect(await store.partialSize(id)).toBe(0)
    expect(target.told).toContain('discarded')
  })

  it('refuses a size over the limit before a byte is written', async () => {
    const { uploads } = engine({ id, total: bytes.length, sha256: null }, 10)
    await expect(uploads.status(id, 'cam-1')).rejects.toMatchObject({
      code: 'DOORSTEP_ERR_PAYLOAD_TOO_LARGE',
    })
    await expect(uploads.receive(put({ body: [bytes] }))).rejects.toThrow(
      'The thing is 20 bytes; the most accepted is 10',
    )
    expect(await store.partialSize(id)).toBe(0)
  })

  it('a newer request ends the one in progress, which keeps its bytes for the resume', async () => {
    const { uploads } = engine({ id, total: bytes.length, sha256: null })
    let aborted = false
    let fail: (err: Error) => void = () => {}
    // A body that delivers 5 bytes, then waits until the request is ended.
    async function* slow(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, 5)
      await new Promise<void>((_resolve, reject) => {
        fail = reject
      })
    }
    const older = uploads
      .receive(
        put({
          body: slow(),
          abort: () => {
            aborted = true
            fail(new Error('socket destroyed'))
          },
        }),
      )
      .catch((e: unknown) => e)
    await expect.poll(() => store.partialSize(id)).toBe(5)
    const newer = await uploads.receive(
      put({ range: { kind: 'part', start: 5, end: 9, total: 20 }, body: [bytes.subarray(5, 10)] }),
    )
    expect(aborted).toBe(true)
    expect(await older).toMatchObject({ code: 'DOORSTEP_ERR_BAD_REQUEST' })
    expect(newer).toEqual({ status: 202, result: { received: 10, total: 20 } })
  })
})
