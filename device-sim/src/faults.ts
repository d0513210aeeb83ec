import { unitFloat } from './prng.js'

/**
 * Faults on demand. Everything a real fleet does to a gateway on a bad day:
 * firmware that sends broken or slightly-off payloads, clocks that are wrong,
 * uplinks that crawl, links that drop. Per-unit traits (skewed? slow?) are
 * stateless draws from the unit's seed, so they cost no memory and stay the
 * same across reconnects. Power-cut storms and random drops are driven by the
 * fleet, which picks the units; this file only says how many and how bad.
 */
export interface FaultOptions {
  /** Share of hello/heartbeat/event publishes that go out bad, 0..1. */
  badRate: number
  /** Random link drops per connected unit per hour. */
  disconnectsPerHour: number
  /** Share of units whose clock is off, 0..1 ... */
  clockSkewShare: number
  /** ... by up to this much either way, ms. */
  clockSkewMaxMs: number
  /** Share of units on a slow uplink, 0..1: their publishes are delayed and uploads throttled. */
  slowShare: number
  slowDelayMs: number
  slowBytesPerS: number
  /** Share of units that refuse every remote configuration, 0..1 (seeded per unit). */
  configRefuseShare: number
}

export const DEFAULT_FAULTS: Readonly<FaultOptions> = Object.freeze({
  badRate: 0,
  disconnectsPerHour: 0,
  clockSkewShare: 0,
  clockSkewMaxMs: 5 * 60_000,
  slowShare: 0,
  slowDelayMs: 800,
  slowBytesPerS: 64 * 1024,
  configRefuseShare: 0,
})

const TAG_SKEW = 0x5e11
const TAG_SKEW_SIZE = 0x5e12
const TAG_SLOW = 0x510e

/** This unit's clock offset, ms (0 for most units). */
export function unitSkewMs(unitSeed: number, f: FaultOptions): number {
  if (unitFloat(unitSeed, TAG_SKEW) >= f.clockSkewShare) return 0
  return Math.round((unitFloat(unitSeed, TAG_SKEW_SIZE) * 2 - 1) * f.clockSkewMaxMs)
}

export function isSlowUplink(unitSeed: number, f: FaultOptions): boolean {
  return unitFloat(unitSeed, TAG_SLOW) < f.slowShare
}

// ---------------------------------------------------------------------------
// Bad payloads

export type PayloadKind = 'hello' | 'heartbeat' | 'event'

/**
 * `reject`: proto's schema (or JSON.parse) refuses it; the gateway must count
 * it and carry on. `accept`: odd but valid per proto (extra fields are
 * stripped, optional fields may be missing), as field firmware really sends.
 */
export type Expectation = 'reject' | 'accept'

export interface BadPayload {
  variant: string
  expect: Expectation
  body: string | Buffer
}

type Json = Record<string, unknown>
type Mangler = (kind: PayloadKind, good: Json) => string | Buffer

/** The required field each kind loses in `missing-field`, and one to break for the type variants. */
const KEY_FIELD: Record<
  PayloadKind,
  { required: string; typed: string; bad: unknown; outOfRange: [string, unknown] }
> = {
  hello: { required: 'firmware', typed: 'capabilities', bad: 'motion,person', outOfRange: ['model', ''] },
  heartbeat: { required: 'uptimeS', typed: 'recording', bad: 'yes', outOfRange: ['signalDbm', 12] },
  event: { required: 'kind', typed: 'score', bad: 'high', outOfRange: ['score', 1.7] },
}

const STRING_NUMBER_FIELD: Record<PayloadKind, string> = { hello: 'ts', heartbeat: 'uptimeS', event: 'score' }

const without = (o: Json, key: string): Json => {
  const { [key]: _dropped, ...rest } = o
  return rest
}

const REJECT: Record<string, Mangler> = {
  'not-json': () => Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x7b, 0x00, 0xff]),
  truncated: (_k, g) => {
    const s = JSON.stringify(g)
    return s.slice(0, Math.max(1, Math.floor(s.length / 2)))
  },
  // A byte-order mark before the JSON: some firmware writes it, JSON.parse refuses it.
  'utf8-bom': (_k, g) => `\ufeff${JSON.stringify(g)}`,
  'missing-field': (k, g) => JSON.stringify(without(g, KEY_FIELD[k].required)),
  'wrong-type': (k, g) => JSON.stringify({ ...g, [KEY_FIELD[k].typed]: KEY_FIELD[k].bad }),
  // proto wants JSON numbers; a number sent as a string is refused, not coerced.
  'string-number': (k, g) =>
    JSON.stringify({ ...g, [STRING_NUMBER_FIELD[k]]: String(g[STRING_NUMBER_FIELD[k]]) }),
  'out-of-range': (k, g) => {
    const [field, value] = KEY_FIELD[k].outOfRange
    return JSON.stringify({ ...g, [field]: value })
  },
  'bad-version': (_k, g) => JSON.stringify({ ...g, v: 2 }),
  'negative-ts': (_k, g) => JSON.stringify({ ...g, ts: -5 }),
  'json-null': () => 'null',
  'json-array': (_k, g) => JSON.stringify([g]),
}

const ACCEPT: Record<string, Mangler> = {
  // Newer firmware adds fields before the gateway knows them; proto strips them.
  'extra-fields': (_k, g) =>
    JSON.stringify({ ...g, fwBuild: 'b7f3a1', debug: { heapFree: 81_234, resets: 2 } }),
  'pretty-printed': (_k, g) => JSON.stringify(g, null, 2),
  'reordered-keys': (_k, g) => JSON.stringify(Object.fromEntries(Object.entries(g).reverse())),
  'float-noise': (k, g) => {
    if (k === 'heartbeat')
      return JSON.stringify({ ...g, temperatureC: Number(g.temperatureC) + 0.000123456789 })
    if (k === 'event') return JSON.stringify({ ...g, score: Math.min(1, Number(g.score) * 0.999999123) })
    return JSON.stringify(g)
  },
  'optional-omitted': (k, g) => {
    if (k === 'heartbeat') return JSON.stringify(without(g, 'batteryPct'))
    if (k === 'event') return JSON.stringify(without(g, 'zone'))
    return JSON.stringify({ ...g, capabilities: [] })
  },
}

export const REJECT_VARIANTS: readonly string[] = Object.keys(REJECT)
export const ACCEPT_VARIANTS: readonly string[] = Object.keys(ACCEPT)

export function makeBadPayload(kind: PayloadKind, good: Json, variant: string): BadPayload {
  const reject = REJECT[variant]
  if (reject) return { variant, expect: 'reject', body: reject(kind, good) }
  const accept = ACCEPT[variant]
  if (accept) return { variant, expect: 'accept', body: accept(kind, good) }
  throw new RangeError(`unknown bad-payload variant ${variant}`)
}

/** Two in three bad payloads are refusable, one in three only odd: both kinds must be handled. */
export function randomBadPayload(
  kind: PayloadKind,
  good: Json,
  random: () => number = Math.random,
): BadPayload {
  const list = random() < 2 / 3 ? REJECT_VARIANTS : ACCEPT_VARIANTS
  const variant = list[Math.floor(random() * list.length)] as string
  return makeBadPayload(kind, good, variant)
}
