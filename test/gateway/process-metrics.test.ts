import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { delayPastInterval, ProcessWatch } from '../../gateway/src/process-metrics.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'

/** A full GC on demand, without starting the test process with --expose-gc. */
function fullGc(): void {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
}

/** Keeps the event loop busy for `ms`, as a long synchronous handler would. */
function block(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // spin
  }
}

describe('the process watch', () => {
  const watch = new ProcessWatch()
  beforeAll(() => watch.start())
  afterAll(() => watch.stop())

  it('reads a blocked event loop as lag, and the window starts over at each reading', async () => {
    watch.read()
    await sleep(50)
    block(150)
    await sleep(50)
    const blocked = watch.read()
    // Blocked for 150 ms, the 10 ms timer ran at least 140 ms late.
    expect(blocked.lagMaxS).toBeGreaterThanOrEqual(0.135)
    expect(blocked.lagP99S).toBeGreaterThanOrEqual(0.135)
    await sleep(100)
    const calm = watch.read()
    expect(calm.lagMaxS).toBeLessThan(0.1)
  })

  it('reads a delay as the time past the 10 ms the sampling timer was set for', () => {
    // perf_hooks records the whole interval between two runs of its timer: an idle loop reads ~10 ms.
    expect(delayPastInterval(10.2e6)).toBeCloseTo(0.0002, 6)
    expect(delayPastInterval(9.1e6)).toBe(0)
    expect(delayPastInterval(160e6)).toBeCloseTo(0.15, 6)
  })

  it('reads the live heap after a full GC: up by what is kept, down once it is let go', async () => {
    fullGc()
    await sleep(20)
    const base = watch.read().heapAfterGcBytes as number
    expect(base).toBeGreaterThan(0)
    // About 40 MiB of live objects (small arrays, so it lands on the V8 heap, not in Buffers).
    let kept: number[][] | null = Array.from({ length: 40 * 1024 }, () => new Array(128).fill(1.5))
    fullGc()
    await sleep(20)
    const withKept = watch.read()
    expect(withKept.majorGcs).toBeGreaterThanOrEqual(2)
    expect((withKept.heapAfterGcBytes as number) - base).toBeGreaterThan(30 * 1024 ** 2)
    expect(kept.length).toBe(40 * 1024)
    kept = null
    fullGc()
    await sleep(20)
    const after = watch.read().heapAfterGcBytes as number
    expect((withKept.heapAfterGcBytes as number) - after).toBeGreaterThan(30 * 1024 ** 2)
  })

  it('reads memory and open descriptors of this process', () => {
    const r = watch.read()
    expect(r.rssBytes).toBeGreaterThan(r.heapUsedBytes)
    expect(r.heapTotalBytes).toBeGreaterThanOrEqual(r.heapUsedBytes)
    expect(r.externalBytes).toBeGreaterThan(0)
    expect(r.openFds).toBeGreaterThan(2)
  })
})

describe('the process on /metrics', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('exposes memory, the heap after GC, event-loop lag and descriptors', async () => {
    fullGc()
    await sleep(20)
    const scrape = async () => {
      const res = await fetch(`${t.gateway.httpUrl}/metrics`, { headers: bearer(t.adminToken) })
      expect(res.status).toBe(200)
      const text = await res.text()
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
      return value
    }
    const first = await scrape()
    for (const name of [
      'doorstep_process_resident_memory_bytes',
      'doorstep_process_heap_used_bytes',
      'doorstep_process_heap_total_bytes',
      'doorstep_process_external_bytes',
      'doorstep_process_heap_after_gc_bytes',
      'doorstep_process_open_fds',
    ])
      expect(first(name), name).toBeGreaterThan(0)
    expect(first('doorstep_process_major_gcs')).toBeGreaterThanOrEqual(1)
    expect(first('doorstep_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0)
    // A gateway handler that blocks shows in the next scrape's lag, however soon that scrape follows
    // the last one. As in the watch's own test: the block starts on a later turn than the reading
    // that reset the window, and its delay is recorded at the sampling timer's next tick.
    await sleep(50)
    block(150)
    await sleep(50)
    const second = await scrape()
    expect(second('doorstep_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.135)
  })
})
