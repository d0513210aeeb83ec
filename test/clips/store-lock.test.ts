import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ClipStore } from '../../gateway/src/clips/store.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * Two events with one clip (the same bytes, so one file): the first expires while the second's
 * upload commits. Whatever the order the two reach the disk in, a clip someone still uses keeps its file.
 */
describe('ClipStore: one file, a removal and a commit at once', () => {
  let tmp: ReturnType<typeof tempDir>
  let store: ClipStore
  const bytes = Buffer.from('the same ten seconds of video, twice')
  const sha = createHash('sha256').update(bytes).digest('hex')

  /** A stored clip for the expiring event, and the second event's verified upload waiting to be committed. */
  async function twoEventsOneClip(): Promise<string> {
    const first = randomUUID()
    fs.writeFileSync(store.partialPath(first), bytes)
    await store.commit(first, sha)
    const second = randomUUID()
    fs.writeFileSync(store.partialPath(second), bytes)
    return second
  }

  beforeEach(async () => {
    tmp = tempDir('doorstep-store-lock-')
    store = new ClipStore(tmp.dir)
    await store.init()
  })
  afterEach(() => tmp.cleanup())

  it('keeps the file when the commit lands while the removal is under way', async () => {
    const second = await twoEventsOneClip()
    // The expiring event's sweep found no other user: the second event's row is not written yet.
    let secondRecorded = false
    const removed = store.removeUnlessUsed(sha, () => secondRecorded)
    // Then, before the removal has touched the disk, the second upload is recorded and commits.
    secondRecorded = true
    const committed = store.commit(second, sha)
    await Promise.all([removed, committed])
    expect(fs.readFileSync(store.clipPath(sha))).toEqual(bytes)
    expect(fs.existsSync(store.partialPath(second))).toBe(false)
  })

  it('keeps the file when the commit came first, since the removal then sees its user', async () => {
    const second = await twoEventsOneClip()
    const committed = store.commit(second, sha)
    expect(await store.removeUnlessUsed(sha, () => true)).toBe(0)
    await committed
    expect(fs.readFileSync(store.clipPath(sha))).toEqual(bytes)
  })

  it('removes the file and its thumbnail when nobody uses it, and frees their bytes', async () => {
    await twoEventsOneClip()
    fs.writeFileSync(store.thumbPath(sha), Buffer.alloc(100))
    expect(await store.removeUnlessUsed(sha, () => false)).toBe(bytes.length + 100)
    expect(fs.existsSync(store.clipPath(sha))).toBe(false)
    expect(fs.existsSync(store.thumbPath(sha))).toBe(false)
  })

  it('goes on after a failed operation on the same file', async () => {
    // A commit whose upload is missing fails; the removal queued behind it still runs.
    const failed = store.commit(randomUUID(), sha)
    const removed = store.removeUnlessUsed(sha, () => false)
    await expect(failed).rejects.toThrow()
    await expect(removed).resolves.toBe(0)
  })
})
