import { describe, expect, it } from 'vitest'
import { parseRange } from '../../gateway/src/clips/range.js'
import { WorkQueue } from '../../gateway/src/media/work-queue.js'
import { parseContentRange } from '../../gateway/src/uploads/upload-headers.js'

describe('Content-Range of a clip PUT', () => {
  it('reads a part and the finish form', () => {
    expect(parseContentRange(undefined)).toBeNull()
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ kind: 'part', start: 0, end: 99, total: 1000 })
    expect(parseContentRange('bytes */1000')).toEqual({ kind: 'finish', total: 1000 })
  })

  it.each([
    'bytes 10-5/100',
    'bytes 0-100/100',
    'bytes=0-10/100',
    'items 0-1/2',
    'bytes 0-1',
    'bytes -1-5/10',
  ])('refuses %s', (h) => {
    expect(() => parseContentRange(h)).toThrow(/Content-Range/)
  })
})

describe('Range of a clip GET (RFC 9110 §14.1.2)', () => {
  it.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=10-', { start: 10, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-500', { start: 0, end: 99 }],
    ['bytes=90-500', { start: 90, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    // Ignored, so the whole file is sent: several ranges, other units, nonsense.
    ['bytes=0-1,5-6', null],
    ['items=0-1', null],
    ['bytes=9-3', null],
    [undefined, null],
  ] as const)('%s', (h, want) => {
    expect(parseRange(h, 100)).toEqual(want)
  })
})

describe('WorkQueue', () => {
  const gate = () => {
    let open = () => {}
    const p = new Promise<void>((r) => {
      open = r
    })
    return { p, open }
  }

  it('runs at most `concurrency` jobs, in order, and refuses past `maxQueued`', async () => {
    const q = new WorkQueue({ concurrency: 2, maxQueued: 1 })
    const order: number[] = []
    const gates = [gate(), gate(), gate()]
    const jobs = gates.map((g, i) =>
      q.run(async () => {
        order.push(i)
        await g.p
        return i
      }),
    )
    await Promise.resolve()
    expect(q.running).toBe(2)
    expect(q.queued).toBe(1)
    await expect(q.run(async () => 99)).rejects.toMatchObject({ code: 'DOORSTEP_ERR_MEDIA_BUSY' })
    for (const g of gates) g.open()
    expect(await Promise.all(jobs)).toEqual([0, 1, 2])
    expect(order).toEqual([0, 1, 2])
    await q.drain()
    expect(q.running).toBe(0)
  })

  it('a failing job does not stop the queue; close() waits for running jobs and drops waiting ones', async () => {
    const q = new WorkQueue({ concurrency: 1, maxQueued: 5 })
    await expect(q.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    const g = gate()
    let finished = false
    const running = q.run(async () => {
      await g.p
      finished = true
    })
    const waiting = q.run(async () => 'never')
    const closed = q.close()
    await expect(waiting).rejects.toMatchObject({ code: 'DOORSTEP_ERR_SHUTTING_DOWN' })
    g.open()
    await closed
    await running
    expect(finished).toBe(true)
    await expect(q.run(async () => 1)).rejects.toMatchObject({ code: 'DOORSTEP_ERR_SHUTTING_DOWN' })
  })
})
