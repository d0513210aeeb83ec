import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Db } from '../../gateway/src/db/sqlite.js'
import { BatchWriter, type LineSink } from '../../gateway/src/ingest/batch-writer.js'
import type { Spool } from '../../gateway/src/ingest/spool.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { appendEvent, eventTuple, openSpool } from '../helpers/spool.js'
import { tempDir } from '../helpers/tmp.js'

/** A sink that records bodies and can be switched off, standing in for InfluxDB in these unit tests only. */
class RecordingSink implements LineSink {
  up = true
  bodies: string[] = []
  policies: string[] = []
  inFlight = 0
  maxInFlight = 0
  delayMs = 0
  /** The clock at each write tried, for the fake-clock tests. */
  attempts: number[] = []
  async writeLines(body: string | Buffer, rp = ''): Promise<void> {
    this.attempts.push(Date.now())
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs))
      if (!this.up) throw new Error('down')
      // Copied now: the writer reuses the buffer once the write has completed.
      this.bodies.push(String(body))
      this.policies.push(rp)
    } finally {
      this.inFlight--
    }
  }
  lines(): string[] {
    return this.bodies.flatMap((b) => b.split('\n'))
  }
}

const log = createLogger('silent')

/**
 * Waits for work that runs off the fake clock (the spool's worker thread) by
 * turning the event loop, bounded by real time.
 */
async function settle(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setImmediate(r))
  }
}

describe('BatchWriter', () => {
  let tmp: ReturnType<typeof tempDir>
  let spool: Spool
  let db: Db
  let sink: RecordingSink
  const make = (o: Partial<ConstructorParameters<typeof BatchWriter>[4]> = {}) =>
    new BatchWriter(sink, spool, log, createMetrics(), {
      batchSize: 100,
      flushMs: 20,
      queueMax: 1000,
      retryMinMs: 10,
      retryMaxMs: 40,
      ...o,
    })

  beforeEach(async () => {
    tmp = tempDir()
    ;({ spool, db } = await openSpool(tmp.dir))
    sink = new RecordingSink()
  })
  afterEach(async () => {
    await spool.close()
    db.close()
    tmp.cleanup()
  })

  it('cuts batches on size and on time', async () => {
    const w = make()
    w.start()
    for (let i = 0; i < 250; i++) w.enqueue(`hb n=${i}`, '')
    await w.flush()
    expect(sink.bodies.map((b) => b.split('\n').length)).toEqual([100, 100, 50])
    w.enqueue('late n=1', '')
    // When it goes out is for the fake-clock tests below; here, that it goes out at all without a flush.
    await expect.poll(() => sink.lines(), { timeout: 2000 }).toContain('late n=1')
    await w.stop()
  })

  it('pushes back when memory is full, and releases when a write completes', async () => {
    sink.delayMs = 30
    const w = make({ queueMax: 150, concurrency: 1 })
    w.start()
    let room = true
    for (let i = 0; i < 150 && room; i++) room = w.enqueue(`hb n=${i}`, '')
    expect(room).toBe(false)
    expect(w.queued).toBe(150)
    const queuedWhenTold = await new Promise<number>((resolve) => w.whenRoom(() => resolve(w.queued)))
    expect(queuedWhenTold).toBeLessThan(150)
    await w.stop()
    expect(sink.maxInFlight).toBe(1)
  })

  it('releases every publisher waiting on a full queue once there is room, and holds the next ones when it fills again', async () => {
    // On a fake clock a write completes only when the test moves time: "not yet released" cannot race a write.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      sink.delayMs = 30
      const w = make({ queueMax: 150, concurrency: 1 })
      w.start()
      // What each held publisher saw when it was told: all at once, with the same room.
      const told: number[] = []
      for (let i = 0; i < 160; i++) {
        if (!w.enqueue(`hb n=${i}`, '')) w.whenRoom(() => told.push(w.queued))
      }
      await vi.advanceTimersByTimeAsync(29)
      expect(told).toEqual([])
      await vi.advanceTimersByTimeAsync(1)
      expect(told).toHaveLength(11)
      expect(new Set(told).size).toBe(1)
      expect(told[0]).toBeLessThan(150)
      // Full again: the next publisher waits for the next release, not the one already given.
      let again = true
      for (let i = 0; i < 1000 && again; i++) again = w.enqueue(`hb m=${i}`, '')
      expect(again).toBe(false)
      let settled = false
      w.whenRoom(() => {
        settled = true
      })
      await vi.advanceTimersByTimeAsync(29)
      expect(settled).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      expect(settled).toBe(true)
      expect(told).toHaveLength(11)
      const stopped = w.stop()
      await vi.runAllTimersAsync()
      await stopped
    } finally {
      vi.useRealTimers()
    }
  })

  it('forgets spooled events once their batch is written, and only those', async () => {
    const w = make()
    w.start()
    const seqs: number[] = []
    for (const line of ['ev n=1', 'ev n=2', 'ev n=3']) {
      const r = await appendEvent(spool, 'events_1y', line, eventTuple())
      if (r.duplicate) throw new Error('a new event came back as a repeat')
      seqs.push(r.seq)
    }
    // Written but not yet delivered: the third stays in the spool.
    w.enqueue('ev n=1', 'events_1y', seqs[0])
    w.enqueue('ev n=2', 'events_1y', seqs[1])
    await w.flush()
    await expect.poll(() => spool.rows, { timeout: 3000 }).toBe(1)
    expect(spool.bytes).toBe('ev n=3'.length)
    expect((await spool.read(0, 10)).map((r) => r.line)).toEqual(['ev n=3'])
    expect(sink.lines()).toEqual(['ev n=1', 'ev n=2'])
    await w.stop()
  })

  it('while the sink is down, spools everything and replays it in order when it returns', async () => {
    const w = make()
    w.start()
    sink.up = false
    for (let i = 0; i < 30; i++) w.enqueue(`hb n=${i}`, '')
    const ev = await appendEvent(spool, 'events_1y', 'ev n=1', eventTuple())
    if (!ev.duplicate) w.enqueue('ev n=1', 'events_1y', ev.seq)
    await expect.poll(() => w.backlog, { timeout: 2000 }).toBe(true)
    await expect.poll(() => spool.rows, { timeout: 2000 }).toBe(31)
    w.enqueue('hb n=30', '')
    sink.up = true
    // The replay ends with a read that finds nothing, a moment after the last rows were marked delivered.
    await expect.poll(() => w.backlog, { timeout: 3000 }).toBe(false)
    expect(spool.rows).toBe(0)
    expect(spool.bytes).toBe(0)
    const lines = sink.lines()
    expect(new Set(lines).size).toBe(32)
    expect(lines.indexOf('hb n=30')).toBeGreaterThan(lines.indexOf('hb n=29'))
    // The replayed event still goes to its own retention policy.
    const evBody = sink.bodies.findIndex((b) => b.includes('ev n=1'))
    expect(sink.policies[evBody]).toBe('events_1y')
    expect(sink.bodies[evBody]).not.toContain('hb n=')
    await w.stop()
  })

  it('lines queued while the replay reads the spool still reach InfluxDB once it catches up', async () => {
    const w = make()
    w.start()
    sink.up = false
    for (let i = 0; i < 30; i++) w.enqueue(`hb n=${i}`, '')
    await expect.poll(() => w.backlog, { timeout: 3000 }).toBe(true)
    sink.up = true
    // A publisher that keeps going through the whole replay, up to its last read and past it,
    // slower than the replay so that the replay catches up.
    let n = 30
    // Bounded in time only as a guard: it ends as soon as the replay has caught up.
    const deadline = performance.now() + 15_000
    while (performance.now() < deadline && (w.backlog || n < 300)) {
      w.enqueue(`hb n=${n++}`, '')
      await new Promise((r) => setTimeout(r, 1))
    }
    expect(w.backlog).toBe(false)
    await w.flush()
    await expect.poll(() => spool.rows, { timeout: 3000 }).toBe(0)
    const landed = new Set(sink.lines())
    const missing = Array.from({ length: n }, (_, i) => `hb n=${i}`).filter((l) => !landed.has(l))
    expect(missing).toEqual([])
    await w.stop()
  })

  it('keeps one batch per retention policy', async () => {
    const w = make()
    w.start()
    w.enqueue('hb n=1', '')
    w.enqueue('ev n=1', 'events_1y')
    w.enqueue('hb n=2', '')
    await w.flush()
    expect(sink.bodies.map((b, i) => [sink.policies[i], b]).sort()).toEqual([
      ['', 'hb n=1\nhb n=2'],
      ['events_1y', 'ev n=1'],
    ])
    await w.stop()
  })

  it('a stopped writer leaves undelivered points in the spool for the next start', async () => {
    sink.up = false
    const w = make()
    w.start()
    for (let i = 0; i < 5; i++) w.enqueue(`hb n=${i}`, '')
    // The failed write is what turns the writer to the spool.
    await expect.poll(() => w.backlog, { timeout: 2000 }).toBe(true)
    await w.stop()
    expect(spool.rows).toBe(5)
    sink.up = true
    const w2 = make()
    w2.start()
    await expect.poll(() => spool.rows, { timeout: 3000 }).toBe(0)
    expect(sink.lines().sort()).toEqual(['hb n=0', 'hb n=1', 'hb n=2', 'hb n=3', 'hb n=4'])
    await w2.stop()
  })

  describe('on a fake clock', () => {
    beforeEach(() => {
      // Not setImmediate: the spool answers through it.
      vi.useFakeTimers({ now: 1_800_000_000_000, toFake: ['Date', 'setTimeout', 'clearTimeout'] })
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    it('a partial batch goes out flushMs after its first line, not before; later lines ride along', async () => {
      const w = make({ flushMs: 1000 })
      w.start()
      w.enqueue('hb n=1', '')
      vi.advanceTimersByTime(600)
      w.enqueue('hb n=2', '')
      vi.advanceTimersByTime(399)
      expect(sink.attempts).toEqual([])
      vi.advanceTimersByTime(1)
      expect(sink.bodies).toEqual(['hb n=1\nhb n=2'])
      // The next line starts a timer of its own.
      w.enqueue('hb n=3', '')
      vi.advanceTimersByTime(999)
      expect(sink.bodies).toHaveLength(1)
      vi.advanceTimersByTime(1)
      expect(sink.bodies).toEqual(['hb n=1\nhb n=2', 'hb n=3'])
      await w.stop()
    })

    it('a full batch goes out at once; the rest waits for the timer', async () => {
      const w = make({ batchSize: 100, flushMs: 1000 })
      w.start()
      for (let i = 0; i < 150; i++) w.enqueue(`hb n=${i}`, '')
      expect(sink.bodies.map((b) => b.split('\n').length)).toEqual([100])
      vi.advanceTimersByTime(999)
      expect(sink.bodies).toHaveLength(1)
      vi.advanceTimersByTime(1)
      expect(sink.bodies.map((b) => b.split('\n').length)).toEqual([100, 50])
      await w.stop()
    })

    it('retries a sink that is down with doubling pauses up to the ceiling, and drains the spool when it returns', async () => {
      const w = make({ flushMs: 1000, retryMinMs: 100, retryMaxMs: 400 })
      w.start()
      sink.up = false
      w.enqueue('hb n=1', '')
      vi.advanceTimersByTime(1000)
      // The failed direct write, then the replay's first try at once.
      await settle('the first replay', () => sink.attempts.length === 2)
      for (let n = 3; n <= 6; n++) {
        vi.advanceTimersToNextTimer()
        await settle(`try ${n}`, () => sink.attempts.length === n)
      }
      const t = sink.attempts
      expect(t.slice(1).map((at, i) => at - (t[i] as number))).toEqual([0, 100, 200, 400, 400])
      sink.up = true
      vi.advanceTimersToNextTimer()
      await settle('the spool drained', () => !w.backlog && spool.rows === 0)
      expect(sink.lines()).toEqual(['hb n=1'])
      await w.stop()
    })
  })
})
