import type { MapUnit } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { convexHull, districtOutlines } from '../../dashboard/src/views/map/district-outlines.js'
import { toneOfCounts, UnitClusters } from '../../dashboard/src/views/map/unit-clusters.js'

const unit = (id: string, lat: number, lon: number, state: MapUnit['state'], district = 1): MapUnit => ({
  id,
  district,
  lat,
  lon,
  state,
})

describe('district outlines', () => {
  it('are the hull of the units with a margin, labelled above them', () => {
    const out = districtOutlines(
      [
        { district: 2, lat: 29.3, lon: 117.2 },
        { district: 2, lat: 29.31, lon: 117.2 },
        { district: 2, lat: 29.3, lon: 117.21 },
        // inside the triangle: not a corner
        { district: 2, lat: 29.302, lon: 117.202 },
        { district: 5, lat: 29.4, lon: 117.3 },
      ],
      0.001,
    )
    expect(out.map((o) => [o.district, o.units])).toEqual([
      [2, 4],
      [5, 1],
    ])
    const [two, five] = out
    // A lone unit still gets an area: the square of its margin.
    expect(five?.ring).toHaveLength(4)
    for (const [lat, lon] of five?.ring ?? []) {
      expect(Math.abs(lat - 29.4)).toBeCloseTo(0.001, 9)
      expect(Math.abs(lon - 117.3)).toBeCloseTo(0.001, 9)
    }
    // Every unit lies inside its outline; the label sits above the northernmost unit.
    const lats = two?.ring.map(([lat]) => lat) ?? []
    const lons = two?.ring.map(([, lon]) => lon) ?? []
    expect(Math.max(...lats)).toBeCloseTo(29.311, 9)
    expect(Math.min(...lats)).toBeCloseTo(29.299, 9)
    expect(Math.max(...lons)).toBeCloseTo(117.211, 9)
    expect(two?.label[0]).toBeCloseTo(29.311, 9)
    expect(two?.label[1]).toBeCloseTo((117.2 * 2 + 117.21 + 117.202) / 4, 9)
  })

  it('hull: counter-clockwise corners only', () => {
    const hull = convexHull([
      [0, 0],
      [2, 0],
      [1, 1],
      [2, 2],
      [0, 2],
      [1, 0],
    ])
    expect(hull).toEqual([
      [0, 0],
      [2, 0],
      [2, 2],
      [0, 2],
    ])
  })
})

describe('unit clusters', () => {
  const units = [
    unit('a', 29.3, 117.2, 'online'),
    unit('b', 29.3001, 117.2001, 'offline'),
    unit('c', 29.3002, 117.2, 'stale'),
    unit('far', 30.3, 118.2, 'unknown'),
  ]
  const world: [number, number, number, number] = [-180, -85, 180, 85]

  it('groups nearby units with their states counted, and lets them apart when zoomed in', () => {
    const c = new UnitClusters(units)
    const out = c.within(world, 10)
    const group = out.find((f) => f.kind === 'cluster')
    expect(group).toMatchObject({
      kind: 'cluster',
      count: 3,
      states: { online: 1, offline: 1, stale: 1, unknown: 0 },
    })
    expect(out.filter((f) => f.kind === 'unit').map((f) => f.kind === 'unit' && f.unit.id)).toEqual(['far'])
    if (group?.kind !== 'cluster') throw new Error('no group')
    const apart = c.within(world, 18)
    expect(apart.every((f) => f.kind === 'unit')).toBe(true)
    expect(apart).toHaveLength(4)
    expect(c.expansionZoom(group.id)).toBeGreaterThan(10)
  })

  it('draws only what is in the view', () => {
    const c = new UnitClusters(units)
    const near = c.within([118, 30, 118.5, 30.5], 12)
    expect(near).toEqual([{ kind: 'unit', unit: units[3] }])
  })

  it('colours a group by its worst news', () => {
    expect(toneOfCounts({ online: 5, stale: 1, offline: 1, unknown: 0 })).toBe('offline')
    expect(toneOfCounts({ online: 5, stale: 1, offline: 0, unknown: 3 })).toBe('stale')
    expect(toneOfCounts({ online: 5, stale: 0, offline: 0, unknown: 3 })).toBe('online')
    expect(toneOfCounts({ online: 0, stale: 0, offline: 0, unknown: 3 })).toBe('unknown')
  })
})
