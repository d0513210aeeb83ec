import { randomUUID } from 'node:crypto'
import { type DeviceEvent, EventsQuery } from '@doorstep/proto'
import { beforeEach, describe, expect, it } from 'vitest'
import { type Db, openDb } from '../../gateway/src/db/sqlite.js'
import { EventIndex } from '../../gateway/src/events/event-index.js'
import { boundingBox, haversineM } from '../../gateway/src/events/geo.js'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'
import { deviceRecord } from '../helpers/devices.js'

function device(id: string, lat: number, lon: number, district = 5): DeviceRecord {
  return deviceRecord({ id, lat, lon, district })
}

function ev(over: Partial<DeviceEvent>): DeviceEvent {
  return { v: 1, ts: 0, eventId: randomUUID(), phase: 'start', kind: 'motion', score: 0.5, ...over }
}

const clip = { bytes: 100, sha256: 'c'.repeat(64), durationMs: 5000, codec: 'h264' }

describe('EventIndex (in-memory SQLite)', () => {
  let db: Db
  let index: EventIndex
  beforeEach(() => {
    db = openDb(':memory:')
    index = new EventIndex(db)
    index.load()
  })

  it("ignores another unit's messages for an event id it does not own", () => {
    const a = device('cam-a', 10, 10)
    const b = device('cam-b', 10, 10)
    const e = ev({ phase: 'start' })
    expect(index.record(a, e, 1000)).toBe(true)
    expect(
      index.record(b, { ...e, phase: 'end', score: 1, clip: { ...clip, sha256: 'd'.repeat(64) } }, 2000),
    ).toBe(false)
    expect(index.get(e.eventId)).toMatchObject({
      deviceId: 'cam-a',
      phase: 'start',
      score: 0.5,
      clip: { state: 'none', sha256: null },
    })
  })

  it('an end seen before its start dates the event from the clip length; the late start does not undo the end', () => {
    const a = device('cam-a', 10, 10)
    const id = randomUUID()
    index.record(a, ev({ eventId: id, phase: 'end', clip }), 100_000)
    expect(index.get(id)).toMatchObject({
      startedAt: 95_000,
      endedAt: 100_000,
      phase: 'end',
      clip: { state: 'pending' },
    })
    index.record(a, ev({ eventId: id, phase: 'start', kind: 'person' }), 94_000)
    expect(index.get(id)).toMatchObject({ startedAt: 94_000, endedAt: 100_000, phase: 'end', kind: 'motion' })
  })

  it('keeps the announced clip once its upload has begun', () => {
    const a = device('cam-a', 10, 10)
    const id = randomUUID()
    index.record(a, ev({ eventId: id, phase: 'end', clip }), 1000)
    index.setClipState(id, 'uploading')
    index.record(a, ev({ eventId: id, phase: 'update', clip: { ...clip, sha256: 'e'.repeat(64) } }), 2000)
    expect(index.get(id)?.clip).toMatchObject({ state: 'uploading', sha256: 'c'.repeat(64) })
  })

  it('keeps events without a clip out of the clip index, and the clip queries still use it', () => {
    const cam = device('cam-c', 29.3, 117.2)
    const none = ev({})
    const pending = ev({ phase: 'end', clip })
    const ready = ev({ phase: 'end', clip })
    for (const [i, e] of [none, pending, ready].entries()) index.record(cam, e, 10_000 + i)
    index.setClipState(ready.eventId, 'ready')
    const clipIndex = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'event_index_clip'").get() as {
      sql: string
    }
    expect(clipIndex.sql).toContain("WHERE clip_state <> 'none'")
    // The statements the index runs, kept to ask SQLite for their plans.
    const statements: string[] = []
    const prepare = db.prepare.bind(db)
    db.prepare = ((sql: string) => {
      statements.push(sql)
      return prepare(sql)
    }) as typeof db.prepare
    const ids = (q: Record<string, string>) =>
      index
        .query(EventsQuery.parse(q))
        .events.map((e) => e.id)
        .sort()
    expect(ids({ hasClip: 'true' })).toEqual([ready.eventId])
    const readyQuery = statements.at(-1) as string
    expect(ids({ hasClip: 'false' })).toEqual([none.eventId, pending.eventId].sort())
    expect(index.unfinishedClipsBefore(20_000).map((e) => e.id)).toEqual([pending.eventId])
    const unfinishedQuery = statements.at(-1) as string
    // SQLite takes a partial index only where the query repeats its condition: the plans say these do.
    const plan = (sql: string) => {
      const params = Array.from(sql.matchAll(/\?/g), () => 0)
      return (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('; ')
    }
    expect(plan(readyQuery)).toContain('event_index_clip')
    expect(plan(unfinishedQuery)).toContain('event_index_clip')
  })

  it('finds events near a point across the antimeridian and near a pole', () => {
    const west = device('cam-west', -16.5, 179.99)
    const east = device('cam-east', -16.5, -179.99)
    const away = device('cam-away', -16.5, 178)
    const polar = device('cam-polar', 89.99, 45)
    const polar2 = device('cam-polar2', 89.99, -135)
    for (const [i, d] of [west, east, away, polar, polar2].entries()) index.record(d, ev({}), 1000 + i)
    const near = (q: string) =>
      index
        .query(EventsQuery.parse({ near: q }))
        .events.map((e) => e.deviceId)
        .sort()
    expect(haversineM(-16.5, 179.99, -16.5, -179.99)).toBeLessThan(2200)
    expect(near('-16.5,180,5000')).toEqual(['cam-east', 'cam-west'])
    expect(near('-16.5,-180,5000')).toEqual(['cam-east', 'cam-west'])
    // Two points 0.01° from the pole on opposite meridians are about 2.2 km apart.
    expect(near('89.99,45,3000')).toEqual(['cam-polar', 'cam-polar2'])
  })

  it('refuses a cursor it did not give out', () => {
    expect(() =>
      index.query(EventsQuery.parse({ cursor: Buffer.from('x|y').toString('base64url') })),
    ).toThrow(/cursor/)
  })
})

describe('geo', () => {
  it('haversine matches a known distance (Paris → London, about 343.5 km)', () => {
    expect(haversineM(48.8566, 2.3522, 51.5074, -0.1278) / 1000).toBeCloseTo(343.5, 0)
  })

  it('the bounding box contains every point of the circle', () => {
    for (const [lat, lon, r] of [
      [41.88, -87.63, 1000],
      [-33.86, 151.2, 50_000],
      [70, 179.9, 20_000],
      [0, 0, 100_000],
    ] as const) {
      const box = boundingBox(lat, lon, r)
      for (let bearing = 0; bearing < 360; bearing += 5) {
        // Destination point at distance r (spherical), nudged inward by a millimetre.
        const d = (r - 0.001) / 6_371_008.8
        const b = (bearing * Math.PI) / 180
        const p1 = (lat * Math.PI) / 180
        const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b))
        const l2 =
          (lon * Math.PI) / 180 +
          Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2))
        const plat = (p2 * 180) / Math.PI
        const plon = (((((l2 * 180) / Math.PI + 540) % 360) + 360) % 360) - 180
        expect(plat).toBeGreaterThanOrEqual(box.minLat)
        expect(plat).toBeLessThanOrEqual(box.maxLat)
        const lb = box.lon
        if (!lb) continue
        const inside = lb.wraps
          ? plon >= lb.minLon || plon <= lb.maxLon
          : plon >= lb.minLon && plon <= lb.maxLon
        expect(inside, `${lat},${lon},${r} bearing ${bearing}: ${plon} not in ${JSON.stringify(lb)}`).toBe(
          true,
        )
      }
    }
  })
})
