/**
 * Seeded randomness. The fleet plan and the per-unit traits must come out the
 * same on every run (credentials files are keyed by device id, and bench runs
 * are compared with each other), so nothing here touches Math.random.
 */

/** 32-bit FNV-1a of a string: turns ids and labels into seeds. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** Mixes integers into one well-spread 32-bit value (a splitmix-style finaliser). */
export function mix(a: number, b = 0, c = 0): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca77)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

/** A stateless uniform draw in [0, 1) for (a, b, c): per-unit traits without storing them. */
export function unitFloat(a: number, b = 0, c = 0): number {
  return mix(a, b, c) / 4294967296
}

/**
 * Smooth noise in [0, 1) over time: linear interpolation between stateless
 * draws at whole periods. Heartbeat values drift slowly this way while a unit
 * keeps no state for them.
 */
export function smoothNoise(key: number, t: number, periodMs: number): number {
  const x = t / periodMs
  const i = Math.floor(x)
  const f = x - i
  const s = f * f * (3 - 2 * f)
  const a = unitFloat(key, i)
  const b = unitFloat(key, i + 1)
  return a + (b - a) * s
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number
  pick<T>(items: readonly T[]): T
  /** true with probability p. */
  chance(p: number): boolean
  /** Exponential draw with the given mean. */
  exp(mean: number): number
}

/** mulberry32: small, fast and good enough for simulation (not for secrets). */
export function createRng(seed: number): Rng {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list')
      return items[Math.floor(next() * items.length)] as T
    },
    chance: (p) => next() < p,
    // 1 - next() is in (0, 1]: log never sees 0.
    exp: (mean) => -Math.log(1 - next()) * mean,
  }
}

/** Fisher–Yates in place, driven by the given generator. */
export function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1))
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}
