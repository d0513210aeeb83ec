import { describe, expect, it, vi } from 'vitest'
import { Scheduler } from '../../device-sim/src/scheduler.js'

/** A scheduler on a clock the test moves by hand. */
function manual(maxPerTick = 1000) {
  let now = 1_000
  const s = new Scheduler({ now: () => now, maxPerTick })
  return { s, advance: (ms: number) => (now += ms), at: () => now }
}

describe('scheduler (one timer heap for the fleet)', () => {
  it('runs tasks in due-time order, equal times in scheduling order', () => {
    const { s, advance } = manual()
    const ran: string[] = []
    s.schedule(1_300, () => ran.push('c'))
    s.schedule(1_100, () => ran.push('a'))
    s.schedule(1_200, () => ran.push('b1'))
    s.schedule(1_200, () => ran.push('b2'))
    s.schedule(1_200, () => ran.push('b3'))
    expect(s.runDue()).toBe(0)
    advance(250)
    expect(s.runDue()).toBe(4)
    expect(ran).toEqual(['a', 'b1', 'b2', 'b3'])
    advance(100)
    s.runDue()
    expect(ran).toEqual(['a', 'b1', 'b2', 'b3', 'c'])
    expect(s.size).toBe(0)
  })

  it('keeps order over many random times (heap property)', () => {
    const { s, advance } = manual(100_000)
    const ran: number[] = []
    for (let i = 0; i < 5_000; i++) {
      const at = 1_000 + Math.floor(Math.random() * 10_000)
      s.schedule(at, () => ran.push(at))
    }
    advance(20_000)
    expect(s.runDue()).toBe(5_000)
    expect(ran).toEqual([...ran].sort((a, b) => a - b))
  })

  it('cancel removes a task, and cancelling twice or after it ran says false', () => {
    const { s, advance } = manual()
    const ran: string[] = []
    const a = s.after(10, () => ran.push('a'))
    const b = s.after(20, () => ran.push('b'))
    expect(s.cancel(a)).toBe(true)
    expect(s.cancel(a)).toBe(false)
    expect(s.size).toBe(1)
    advance(30)
    s.runDue()
    expect(ran).toEqual(['b'])
    expect(s.cancel(b)).toBe(false)
    expect(s.cancel(null)).toBe(false)
  })

  it('many cancels are compacted away and the rest still run in order', () => {
    const { s, advance } = manual(100_000)
    const tasks = Array.from({ length: 4_000 }, (_, i) => s.after(i, () => ran.push(i)))
    const ran: number[] = []
    for (const [i, t] of tasks.entries()) if (i % 4 !== 0) s.cancel(t)
    expect(s.size).toBe(1_000)
    advance(5_000)
    expect(s.runDue()).toBe(1_000)
    expect(ran).toEqual(Array.from({ length: 1_000 }, (_, i) => i * 4))
  })

  it('bounds the work per tick: the rest waits for the next turn', () => {
    const { s, advance } = manual(100)
    let n = 0
    for (let i = 0; i < 250; i++) s.after(0, () => n++)
    advance(1)
    expect(s.runDue()).toBe(100)
    expect(s.runDue()).toBe(100)
    expect(s.runDue()).toBe(50)
    expect(n).toBe(250)
  })

  it('a task that throws is reported and does not stop the others', () => {
    const errors: unknown[] = []
    let now = 0
    const s = new Scheduler({ now: () => now, onError: (e) => errors.push(e) })
    let ran = 0
    s.after(1, () => {
      throw new Error('boom')
    })
    s.after(2, () => ran++)
    now = 5
    s.runDue()
    expect(ran).toBe(1)
    expect(errors).toHaveLength(1)
  })

  it('drives itself from real timers once started, including tasks scheduled by tasks', async () => {
    const s = new Scheduler({ maxPerTick: 10 })
    s.start()
    const ran: string[] = []
    const done = new Promise<void>((resolve) => {
      s.after(30, () => {
        ran.push('late')
        resolve()
      })
      s.after(5, () => {
        ran.push('early')
        s.after(1, () => ran.push('chained'))
      })
      // More than one tick's worth due at once: all of it still runs.
      for (let i = 0; i < 35; i++) s.after(10, () => ran.push('burst'))
    })
    await done
    s.stop()
    expect(ran[0]).toBe('early')
    expect(ran.filter((r) => r === 'burst')).toHaveLength(35)
    expect(ran).toContain('chained')
    expect(ran.at(-1)).toBe('late')
  })

  it('stop forgets every task', () => {
    vi.useFakeTimers()
    try {
      const s = new Scheduler()
      s.start()
      let ran = 0
      s.after(5, () => ran++)
      s.stop()
      vi.advanceTimersByTime(30)
      expect(ran).toBe(0)
      expect(s.size).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})
