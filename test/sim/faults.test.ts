import { TOPICS } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { heartbeatValues } from '../../device-sim/src/behaviour.js'
import {
  ACCEPT_VARIANTS,
  DEFAULT_FAULTS,
  makeBadPayload,
  type PayloadKind,
  REJECT_VARIANTS,
  randomBadPayload,
  unitSkewMs,
} from '../../device-sim/src/faults.js'
import { planFleet } from '../../device-sim/src/fleet-plan.js'

const unit = planFleet({ count: 4 }).find((u) => u.hasBattery) ?? planFleet({ count: 1 })[0]!
const now = Date.now()
const GOOD: Record<PayloadKind, Record<string, unknown>> = {
  hello: { v: 1, ts: now, model: 'DS-C3W', firmware: '2.4.1', capabilities: ['motion', 'person'] },
  heartbeat: { v: 1, ts: now, ...heartbeatValues({ ...unit, hasBattery: true }, now, now - 60_000) },
  event: {
    v: 1,
    ts: now,
    eventId: '6f1c2f0e-8a4b-4c1d-9e2f-3a4b5c6d7e8f',
    phase: 'start',
    kind: 'person',
    score: 0.8,
    zone: 'door',
  },
}

/** What the gateway does with a payload: JSON.parse of the UTF-8 text, then the topic's schema. */
function accepted(kind: PayloadKind, body: string | Buffer): boolean {
  let json: unknown
  try {
    json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : body)
  } catch {
    return false
  }
  return TOPICS[kind].schema.safeParse(json).success
}

describe('bad payload generator', () => {
  const kinds: PayloadKind[] = ['hello', 'heartbeat', 'event']

  it('starts from payloads proto accepts', () => {
    for (const k of kinds) expect(accepted(k, JSON.stringify(GOOD[k]))).toBe(true)
  })

  for (const kind of kinds) {
    it.each(REJECT_VARIANTS)(`${kind}: "%s" is refused by proto`, (variant) => {
      const bad = makeBadPayload(kind, GOOD[kind]!, variant)
      expect(bad.expect).toBe('reject')
      expect(accepted(kind, bad.body)).toBe(false)
    })
    it.each(ACCEPT_VARIANTS)(`${kind}: "%s" is odd but accepted by proto`, (variant) => {
      const bad = makeBadPayload(kind, GOOD[kind]!, variant)
      expect(bad.expect).toBe('accept')
      expect(accepted(kind, bad.body)).toBe(true)
    })
  }

  it('random draws always match their own expectation, both kinds occur', () => {
    const seen = { reject: 0, accept: 0 }
    for (let i = 0; i < 600; i++) {
      const kind = kinds[i % 3]!
      const bad = randomBadPayload(kind, GOOD[kind]!)
      seen[bad.expect]++
      expect(accepted(kind, bad.body), `${kind} ${bad.variant}`).toBe(bad.expect === 'accept')
    }
    expect(seen.reject).toBeGreaterThan(300)
    expect(seen.accept).toBeGreaterThan(100)
  })

  it('refuses an unknown variant name', () => {
    expect(() => makeBadPayload('hello', GOOD.hello, 'nope')).toThrow(/unknown/)
  })
})

describe('per-unit fault traits', () => {
  it('clock skew hits about the given share of units, within the bound, and is stable per unit', () => {
    const plan = planFleet({ count: 2000 })
    const f = { ...DEFAULT_FAULTS, clockSkewShare: 0.1, clockSkewMaxMs: 60_000 }
    const skews = plan.map((u) => unitSkewMs(u.seed, f))
    const skewed = skews.filter((s) => s !== 0)
    expect(skewed.length / plan.length).toBeGreaterThan(0.07)
    expect(skewed.length / plan.length).toBeLessThan(0.13)
    expect(skews.every((s) => Math.abs(s) <= 60_000)).toBe(true)
    expect(plan.map((u) => unitSkewMs(u.seed, f))).toEqual(skews)
    expect(plan.every((u) => unitSkewMs(u.seed, DEFAULT_FAULTS) === 0)).toBe(true)
  })
})
