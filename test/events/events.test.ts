import { randomUUID } from 'node:crypto'
import { type ErrorBody, type EventDetail, type EventList, type EventView, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { haversineM } from '../../gateway/src/events/geo.js'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/** Chicago's Loop, and two points 500 m and 5 km due north of it. */
const LOOP = { lat: 41.8781, lon: -87.6298 }
const NORTH_500M = { lat: LOOP.lat + 500 / 111_195, lon: LOOP.lon }
const NORTH_5KM = { lat: LOOP.lat + 5000 / 111_195, lon: LOOP.lon }

describe('events index and query API (real MQTT, real gateway)', () => {
  let t: TestGateway
  const units: MqttClient[] = []
  const fixtures = tempDir('doorstep-ev-')
  /** Every event published here, newest first by start time, as the API should list them. */
  const published: Array<{ id: string; device: string; district: number; kind: string; ts: number }> = []
  const now = Date.now()
  let clipEvent = ''

  const get = async <T>(path: string, token = t.adminToken): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${t.gateway.httpUrl}${path}`, { headers: bearer(token) })
    return { status: res.status, body: (await res.json()) as T }
  }
  const list = async (qs: string) => {
    const r = await get<EventList>(`/api/v1/events?${qs}`)
    expect(r.status).toBe(200)
    return r.body.events
  }

  beforeAll(async () => {
    t = await startTestGateway()
    const devices = [
      { id: 'cam-ev-loop', district: 1, ...LOOP },
      { id: 'cam-ev-near', district: 1, ...NORTH_500M },
      { id: 'cam-ev-far', district: 9, ...NORTH_5KM },
    ]
    const secrets = new Map<string, string>()
    for (const d of devices) {
      const c = await t.gateway.registry.create(deviceRow(d))
      secrets.set(d.id, c.secret)
      units.push(await connectUnit(t.gateway.mqttUrl, c.id, c.secret))
    }
    const [loop, near, far] = units as [MqttClient, MqttClient, MqttClient]
    // Start times a minute apart, oldest first, all inside the 10 min the gateway trusts unit clocks.
    const plan: Array<[MqttClient, string, number, 'person' | 'vehicle' | 'motion']> = [
      [loop, 'cam-ev-loop', 1, 'person'],
      [near, 'cam-ev-near', 1, 'motion'],
      [far, 'cam-ev-far', 9, 'person'],
      [loop, 'cam-ev-loop', 1, 'vehicle'],
      [near, 'cam-ev-near', 1, 'person'],
      [far, 'cam-ev-far', 9, 'vehicle'],
      [loop, 'cam-ev-loop', 1, 'motion'],
    ]
    for (const [i, [unit, device, district, kind]] of plan.entries()) {
      const ts = now - (9 - i) * 60_000
      const id = await announce(unit, device, undefined, { ts, kind })
      published.unshift({ id, device, district, kind, ts })
    }
    // One event with a stored clip.
    const clip = makeClip(fixtures.dir, 'ev-clip')
    const ts = now - 60_000
    clipEvent = await announce(far, 'cam-ev-far', clipInfo(clip), { ts, kind: 'person' })
    published.unshift({ id: clipEvent, device: 'cam-ev-far', district: 9, kind: 'person', ts })
    const res = await putClip(
      t.gateway.httpUrl,
      clipEvent,
      basic('cam-ev-far', secrets.get('cam-ev-far') as string),
      clip.buf,
    )
    expect(res.status).toBe(201)
  })
  afterAll(async () => {
    for (const u of units) await end(u)
    await t?.stop()
    fixtures.cleanup()
  })

  it('merges one event over its lifecycle: start → update → end with the clip', async () => {
    const unit = units[0] as MqttClient
    const topic = topicFor('event', 'cam-ev-loop')
    const eventId = randomUUID()
    const ts = now - 30_000
    await publish(unit, topic, event({ eventId, ts, phase: 'start', kind: 'person', score: 0.5 }))
    await publish(
      unit,
      topic,
      event({ eventId, ts: ts + 2000, phase: 'update', kind: 'person', score: 0.9, zone: 'driveway' }),
    )
    const clip = { bytes: 1234, sha256: 'a'.repeat(64), durationMs: 8000, codec: 'h264' }
    await publish(
      unit,
      topic,
      event({ eventId, ts: ts + 8000, phase: 'end', kind: 'person', score: 0.7, clip }),
    )
    const { status, body } = await get<EventDetail>(`/api/v1/events/${eventId}`)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      id: eventId,
      deviceId: 'cam-ev-loop',
      district: 1,
      kind: 'person',
      phase: 'end',
      score: 0.9,
      zone: 'driveway',
      startedAt: ts,
      endedAt: ts + 8000,
      lat: LOOP.lat,
      lon: LOOP.lon,
      clip: {
        state: 'pending',
        bytes: 1234,
        sha256: 'a'.repeat(64),
        durationMs: 8000,
        codec: 'h264',
        url: null,
        thumbUrl: null,
      },
      media: null,
      holds: [],
    })
    published.unshift({ id: eventId, device: 'cam-ev-loop', district: 1, kind: 'person', ts })
  })

  it('lists newest first, with clip links on events whose clip is ready', async () => {
    const events = await list('limit=500')
    const ours = events.filter((e) => published.some((p) => p.id === e.id))
    expect(ours.map((e) => e.id)).toEqual(published.map((p) => p.id))
    const withClip = events.find((e) => e.id === clipEvent) as EventView
    expect(withClip.clip).toMatchObject({
      state: 'ready',
      url: `/api/v1/clips/${clipEvent}`,
      thumbUrl: `/api/v1/clips/${clipEvent}/thumb`,
    })
  })

  it('filters by device, district, kind, time window and clip', async () => {
    const ids = (es: EventView[]) => es.map((e) => e.id)
    const expected = (f: (p: (typeof published)[number]) => boolean) => published.filter(f).map((p) => p.id)
    expect(ids(await list('device=cam-ev-near'))).toEqual(expected((p) => p.device === 'cam-ev-near'))
    expect(ids(await list('district=9'))).toEqual(expected((p) => p.district === 9))
    expect(ids(await list('kind=vehicle'))).toEqual(expected((p) => p.kind === 'vehicle'))
    expect(ids(await list('district=1&kind=person'))).toEqual(
      expected((p) => p.district === 1 && p.kind === 'person'),
    )
    const from = now - 7 * 60_000
    const to = new Date(now - 4 * 60_000).toISOString()
    expect(ids(await list(`from=${from}&to=${to}`))).toEqual(
      expected((p) => p.ts >= from && p.ts <= now - 4 * 60_000),
    )
    expect(ids(await list('hasClip=true'))).toEqual([clipEvent])
    expect(ids(await list('hasClip=false'))).toEqual(expected((p) => p.id !== clipEvent))
  })

  it('pages with a cursor, newest first, every event exactly once', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r: { status: number; body: EventList } = await get<EventList>(
        `/api/v1/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      )
      expect(r.status).toBe(200)
      expect(r.body.events.length).toBeLessThanOrEqual(3)
      seen.push(...r.body.events.map((e) => e.id))
      cursor = r.body.nextCursor
      pages++
    } while (cursor)
    expect(seen).toEqual(published.map((p) => p.id))
    expect(pages).toBe(Math.ceil(published.length / 3))
  })

  it('finds events near a point (near=lat,lon,radius_m)', async () => {
    const devicesNear = async (radius: number) =>
      [...new Set((await list(`near=${LOOP.lat},${LOOP.lon},${radius}`)).map((e) => e.deviceId))].sort()
    expect(haversineM(LOOP.lat, LOOP.lon, NORTH_500M.lat, NORTH_500M.lon)).toBeCloseTo(500, -1)
    expect(await devicesNear(100)).toEqual(['cam-ev-loop'])
    expect(await devicesNear(600)).toEqual(['cam-ev-loop', 'cam-ev-near'])
    expect(await devicesNear(4900)).toEqual(['cam-ev-loop', 'cam-ev-near'])
    expect(await devicesNear(5100)).toEqual(['cam-ev-far', 'cam-ev-loop', 'cam-ev-near'])
    // Combined with paging.
    const page = await get<EventList>(`/api/v1/events?near=${LOOP.lat},${LOOP.lon},600&limit=2`)
    expect(page.body.events).toHaveLength(2)
    expect(page.body.nextCursor).not.toBeNull()
  })

  it('answers bad queries with 400, unknown events with 404, and only staff', async () => {
    for (const qs of [
      'near=41.8,-87.6',
      'near=91,0,100',
      'cursor=bm9wZQ',
      'hasClip=maybe',
      'from=yesterday',
      'limit=0',
      `from=${now}&to=${now - 1}`,
    ]) {
      const r = await get<ErrorBody>(`/api/v1/events?${qs}`)
      expect(r.status, qs).toBe(400)
      expect(r.body.error.code).toBe('DOORSTEP_ERR_BAD_REQUEST')
    }
    expect((await get<ErrorBody>(`/api/v1/events/${randomUUID()}`)).status).toBe(404)
    expect((await get<ErrorBody>('/api/v1/events/not-a-uuid')).status).toBe(400)
    const ops = (await t.gateway.tokens.issue('ops', 'ops')).token
    const inv = (await t.gateway.tokens.issue('inv', 'investigator')).token
    const owner = (await t.gateway.tokens.issue('owner', 'owner', 'owner@example.org')).token
    expect((await get('/api/v1/events', ops)).status).toBe(200)
    expect((await get('/api/v1/events', inv)).status).toBe(200)
    expect((await get('/api/v1/events', owner)).status).toBe(403)
    expect((await fetch(`${t.gateway.httpUrl}/api/v1/events`)).status).toBe(401)
  })
})
