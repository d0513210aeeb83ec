import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FleetRevision } from '../../dashboard/src/live/fleet-revision.js'

describe('FleetRevision', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('gathers a storm of presence changes into one bump', () => {
    const r = new FleetRevision({ settleMs: 750, minGapMs: 3000, now: () => Date.now() })
    for (let i = 0; i < 500; i++) r.soon()
    expect(r.store.get()).toBe(0)
    vi.advanceTimersByTime(750)
    expect(r.store.get()).toBe(1)
  })

  it('spaces presence bumps at least minGapMs apart', () => {
    const r = new FleetRevision({ settleMs: 750, minGapMs: 3000, now: () => Date.now() })
    r.soon()
    vi.advanceTimersByTime(750)
    r.soon()
    vi.advanceTimersByTime(2999)
    expect(r.store.get()).toBe(1)
    vi.advanceTimersByTime(1)
    expect(r.store.get()).toBe(2)
  })

  it('bumps at once for a gap or a reconnect, taking a pending bump with it', () => {
    const r = new FleetRevision({ settleMs: 750, minGapMs: 3000, now: () => Date.now() })
    r.soon()
    r.now()
    expect(r.store.get()).toBe(1)
    vi.advanceTimersByTime(10_000)
    expect(r.store.get()).toBe(1)
  })
})
