import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ProgressThrottle } from '../../gateway/src/alerts/progress-throttle.js'

interface P {
  id: string
  state: string
  bytes: number
}

function throttle(sent: P[], maxKeys = 100) {
  return new ProgressThrottle<P>({
    intervalMs: 500,
    maxKeys,
    send: (p) => sent.push(p),
    urgent: (a, b) => a.state !== b.state,
    final: (p) => p.state === 'done',
  })
}

describe('progress throttle', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('sends a new state at once and bytes at most twice a second, the latest at the end', () => {
    const sent: P[] = []
    const th = throttle(sent)
    const t0 = Date.now()
    th.push('a', { id: 'a', state: 'uploading', bytes: 0 }, t0)
    for (let i = 1; i <= 40; i++) th.push('a', { id: 'a', state: 'uploading', bytes: i * 1000 }, t0 + i * 10)
    expect(sent.map((p) => p.bytes)).toEqual([0])
    vi.advanceTimersByTime(500)
    expect(sent.map((p) => p.bytes)).toEqual([0, 40_000])
    th.push('a', { id: 'a', state: 'done', bytes: 50_000 }, Date.now())
    expect(sent.at(-1)).toEqual({ id: 'a', state: 'done', bytes: 50_000 })
    // A final state is forgotten: nothing is kept for a pull that is over.
    expect(th.size).toBe(0)
    vi.advanceTimersByTime(2_000)
    expect(sent).toHaveLength(3)
  })

  it('keeps no more keys than its bound, and sends what a forgotten key had pending', () => {
    const sent: P[] = []
    const th = throttle(sent, 10)
    const t0 = Date.now()
    for (let i = 0; i < 25; i++) th.push(`k${i}`, { id: `k${i}`, state: 'uploading', bytes: 1 }, t0)
    th.push('k24', { id: 'k24', state: 'uploading', bytes: 2 }, t0 + 1)
    expect(th.size).toBe(10)
    for (let i = 25; i < 1_000; i++) th.push(`k${i}`, { id: `k${i}`, state: 'uploading', bytes: 1 }, t0)
    expect(th.size).toBe(10)
    // k24's pending update was sent when it was pushed out, not lost.
    expect(sent.some((p) => p.id === 'k24' && p.bytes === 2)).toBe(true)
    th.clear()
    expect(th.size).toBe(0)
  })
})
