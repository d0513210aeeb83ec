import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { AlertHub } from '../../gateway/src/alerts/alert-hub.js'
import { ProgressThrottle } from '../../gateway/src/alerts/progress-throttle.js'
import { RECENT_PRINCIPALS_MAX, RecentPrincipals } from '../../gateway/src/auth/recent-principals.js'
import { AuthThrottle } from '../../gateway/src/auth/throttle.js'
import { type LineBuffer, LineBufferPool } from '../../gateway/src/ingest/line-buffer.js'
import { WorkQueue } from '../../gateway/src/media/work-queue.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { AddressGates, AuthBackoff } from '../../gateway/src/mqtt/admission.js'
import { OfflineTimers } from '../../gateway/src/notify/offline-timers.js'
import { RepeatWindows } from '../../gateway/src/notify/windows.js'

/*
 * Each structure of the gateway that grows with what arrives from outside, filled past its bound with
 * the real code, and held to it. The table in gateway/README.md ("What bounds the gateway's memory")
 * names each bound and this test.
 */

/** Addresses as a spray from many sources would present them. */
const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

describe('bounded structures, filled past their bound', () => {
  it('the alert ring keeps the newest 10,000 alerts; a client further behind is told of the gap', () => {
    const hub = new AlertHub(createMetrics())
    for (let i = 0; i < 25_000; i++)
      hub.raise({ kind: 'motion', deviceId: 'cam-00001', district: 1, severity: 'info', message: `a${i}` })
    const all = hub.since(0)
    expect(all.alerts).toHaveLength(10_000)
    expect(all.alerts[0]?.id).toBe(15_001)
    expect(all.gap).toBe(true)
    expect(hub.recent(50_000)).toHaveLength(10_000)
  })

  it('the tokens recently resolved keep the 1,000 most recently confirmed', () => {
    const recent = new RecentPrincipals<{ name: string }>()
    for (let i = 0; i < 3000; i++) recent.confirmed(`d${i}`, { name: `p${i}` }, 1000)
    expect(recent.size).toBe(RECENT_PRINCIPALS_MAX)
    expect(recent.recall('d1999', 1000)).toBeNull()
    expect(recent.recall('d2000', 1000)).toEqual({ name: 'p2000' })
    // Confirmed again, an old one is the newest: the next to go is the one after it.
    recent.confirmed('d2000', { name: 'p2000' }, 2000)
    recent.confirmed('d9999', { name: 'p9999' }, 2000)
    expect(recent.recall('d2000', 2000)).not.toBeNull()
    expect(recent.recall('d2001', 2000)).toBeNull()
  })

  it('alerts of one shape share one hidden class, so the full ring holds no map per alert', () => {
    v8.setFlagsFromString('--allow-natives-syntax')
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
    const hub = new AlertHub(createMetrics())
    // As the rules raise them: the event id spread in only when there is one.
    const raise = (i: number, eventId?: string) =>
      hub.raise({
        kind: 'motion',
        severity: 'info',
        deviceId: `cam-${String(i).padStart(5, '0')}`,
        district: (i % 61) + 1,
        count: 1,
        message: `motion at ${i}`,
        ...(eventId ? { eventId } : {}),
        at: Date.now(),
      })
    const withId = Array.from({ length: 200 }, (_, i) =>
      raise(i, `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
    )
    const without = Array.from({ length: 200 }, (_, i) => raise(i))
    for (const list of [withId, without])
      for (const a of list) expect(sameMap(a, list[0] as object)).toBe(true)
  })

  it('failed authentications are tracked for at most 10,000 addresses', () => {
    const t = new AuthThrottle({ limit: 20, windowMs: 60_000 })
    for (let i = 0; i < 25_000; i++) t.fail(address(i))
    expect(t.tracked).toBeLessThanOrEqual(10_000)
    // The newest are among those kept: a spray cannot push a live offender out first.
    t.fail(address(24_999))
    expect(t.tracked).toBeLessThanOrEqual(10_000)
  })

  it('connect-rate gates are kept for at most 50,000 addresses', () => {
    const gates = new AddressGates(1)
    const now = Date.now()
    for (let i = 0; i < 60_000; i++) gates.tryAdmit(address(i), now)
    expect(gates.size).toBeLessThanOrEqual(50_000)
  })

  it('wrong-secret backoffs are kept for at most 50,000 id and address pairs', () => {
    const b = new AuthBackoff()
    const now = Date.now()
    for (let i = 0; i < 60_000; i++) {
      b.failed(`cam-${i}`, address(i), now)
      b.failed(`cam-${i}`, address(i), now)
      b.failed(`cam-${i}`, address(i), now)
    }
    expect(b.size).toBeLessThanOrEqual(50_000)
  })

  it('progress throttles keep at most their maxKeys keys', () => {
    const sent: number[] = []
    const p = new ProgressThrottle<number>({
      intervalMs: 60_000,
      maxKeys: 10_000,
      send: (v) => sent.push(v),
      urgent: () => false,
      final: () => false,
    })
    const now = Date.now()
    for (let i = 0; i < 25_000; i++) {
      p.push(`pull-${i}`, i, now)
      p.push(`pull-${i}`, i + 1, now) // a pending update, with its timer
    }
    expect(p.size).toBeLessThanOrEqual(10_000)
    p.clear()
  })

  it('offline timers and repeat windows stop at DOORSTEP_NOTIFY_MAX_TIMERS and refuse the rest', () => {
    const timers = new OfflineTimers(1000)
    let refused = 0
    for (let i = 0; i < 2500; i++) if (!timers.start(`cam-${i}`, 'rule-1', 60_000, () => {})) refused++
    expect(timers.size).toBe(1000)
    expect(refused).toBe(1500)
    timers.clear()
    const windows = new RepeatWindows<number>(1000, () => {})
    let opened = 0
    for (let i = 0; i < 2500; i++) if (windows.open(`k-${i}`, 60_000)) opened++
    expect(windows.size).toBe(1000)
    expect(opened).toBe(1000)
    windows.clear()
  })

  it('the media queue runs its concurrency, holds maxQueued and refuses the rest', async () => {
    const q = new WorkQueue({ concurrency: 2, maxQueued: 32 })
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const taken: Array<Promise<unknown>> = []
    let refused = 0
    for (let i = 0; i < 100; i++) {
      const p = q.run(() => gate)
      p.catch(() => refused++)
      taken.push(p)
    }
    await new Promise((r) => setImmediate(r))
    expect(q.running + q.queued).toBeLessThanOrEqual(34)
    expect(q.queued).toBeLessThanOrEqual(32)
    expect(refused).toBe(100 - 34)
    release()
    await Promise.allSettled(taken)
    await q.close()
  })

  it('the line-buffer pool keeps at most 8 free buffers', () => {
    const pool = new LineBufferPool()
    const out: LineBuffer[] = []
    for (let i = 0; i < 50; i++) out.push(pool.take())
    for (const b of out) pool.give(b)
    // Taking 50 again reuses 8 and makes 42 new ones: only 8 were kept.
    const again = Array.from({ length: 50 }, () => pool.take())
    expect(again.filter((b) => out.includes(b))).toHaveLength(8)
  })
})
