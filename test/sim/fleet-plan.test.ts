import { DeviceCreate, DISTRICT_COUNT } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CENTER,
  planFleet,
  toDeviceCreate,
  URBAN_DISTRICTS,
} from '../../device-sim/src/fleet-plan.js'

const km = (lat: number, lon: number) => {
  const dLat = (lat - DEFAULT_CENTER.lat) * 111.32
  const dLon = (lon - DEFAULT_CENTER.lon) * 111.32 * Math.cos((DEFAULT_CENTER.lat * Math.PI) / 180)
  return Math.hypot(dLat, dLon)
}

describe('fleet plan (deterministic layout)', () => {
  it('is the same for the same seed and different for another', () => {
    const a = planFleet({ count: 500, seed: 42 })
    const b = planFleet({ count: 500, seed: 42 })
    const c = planFleet({ count: 500, seed: 43 })
    expect(b).toEqual(a)
    expect(c.map((u) => u.district)).not.toEqual(a.map((u) => u.district))
    // Ids depend on the position only; serials on the seed too.
    expect(c.map((u) => u.id)).toEqual(a.map((u) => u.id))
    expect(c[0]?.serial).not.toBe(a[0]?.serial)
  })

  it('numbers ids cam-00001.. and keeps ids and serials unique', () => {
    const plan = planFleet({ count: 2896 })
    expect(plan[0]?.id).toBe('cam-00001')
    expect(plan.at(-1)?.id).toBe('cam-02896')
    expect(new Set(plan.map((u) => u.id)).size).toBe(2896)
    expect(new Set(plan.map((u) => u.serial)).size).toBe(2896)
    expect(planFleet({ count: 3, idPrefix: 'bench-' }).map((u) => u.id)).toEqual([
      'bench-00001',
      'bench-00002',
      'bench-00003',
    ])
  })

  it.each([61, 62, 100, 2896])('uses all 61 districts with %i units', (count) => {
    const plan = planFleet({ count, seed: count })
    const used = new Set(plan.map((u) => u.district))
    expect(used.size).toBe(DISTRICT_COUNT)
    expect(Math.min(...used)).toBe(1)
    expect(Math.max(...used)).toBe(DISTRICT_COUNT)
  })

  it('puts ~70% of units in urban districts, near the centre, and the rest further out', () => {
    const plan = planFleet({ count: 2896 })
    const urban = plan.filter((u) => u.setting === 'urban')
    const rural = plan.filter((u) => u.setting === 'rural')
    expect(urban.length).toBe(Math.round(2896 * 0.7))
    expect(urban.every((u) => u.district <= URBAN_DISTRICTS)).toBe(true)
    expect(rural.every((u) => u.district > URBAN_DISTRICTS)).toBe(true)
    expect(Math.max(...urban.map((u) => km(u.lat, u.lon)))).toBeLessThan(6)
    expect(Math.min(...rural.map((u) => km(u.lat, u.lon)))).toBeGreaterThan(6)
    expect(urban.every((u) => /^\d+ [A-Z][a-z]+ (St|Rd|Ave)$/.test(u.address))).toBe(true)
    expect(new Set(urban.map((u) => u.address.replace(/^\d+ /, ''))).size).toBe(12)
    expect(rural.every((u) => / Village$/.test(u.address))).toBe(true)
  })

  it('mixes release policies: mostly ask, some always, a few never', () => {
    const plan = planFleet({ count: 2896 })
    const share = (p: string) => plan.filter((u) => u.releasePolicy === p).length / plan.length
    expect(share('ask')).toBeGreaterThan(0.68)
    expect(share('always')).toBeGreaterThan(0.15)
    expect(share('always')).toBeLessThan(0.25)
    expect(share('never')).toBeGreaterThan(0.02)
    expect(share('never')).toBeLessThan(0.08)
  })

  it('every row is a valid provisioning row for proto’s DeviceCreate', () => {
    for (const u of planFleet({ count: 300 })) {
      const row = DeviceCreate.safeParse(toDeviceCreate(u))
      expect(row.success, JSON.stringify(row.error?.issues)).toBe(true)
    }
  })

  it('spreads fewer units than districts without repeating one', () => {
    const plan = planFleet({ count: 20 })
    expect(new Set(plan.map((u) => u.district)).size).toBe(20)
    expect(planFleet({ count: 0 })).toEqual([])
  })
})
