import { describe, expect, it } from 'vitest'
import { backoffCeiling, backoffDelay } from '../../device-sim/src/backoff.js'

describe('reconnect backoff (capped exponential, full jitter)', () => {
  const policy = { baseMs: 500, capMs: 30_000 }

  it('the ceiling doubles per attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeiling(a, policy))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ])
    // Absurd attempt counts stay finite and capped.
    expect(backoffCeiling(10_000, policy)).toBe(30_000)
    expect(backoffCeiling(-3, policy)).toBe(500)
  })

  it('every delay lies in [0, ceiling], whatever the random draw', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const r of [0, 1e-9, 0.25, 0.5, 0.999999999]) {
        const d = backoffDelay(attempt, policy, () => r)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(backoffCeiling(attempt, policy))
        expect(Number.isInteger(d)).toBe(true)
      }
    }
  })

  it('full jitter spreads retries over the whole window (no synchronized waves)', () => {
    const draws = Array.from({ length: 20_000 }, () => backoffDelay(6, policy))
    const max = Math.max(...draws)
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length
    expect(max).toBeLessThanOrEqual(30_000)
    expect(max).toBeGreaterThan(29_000)
    expect(Math.min(...draws)).toBeLessThan(1_000)
    expect(mean).toBeGreaterThan(14_000)
    expect(mean).toBeLessThan(16_000)
  })
})
