import fs from 'node:fs'
import { type ErrorBody, topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway } from '../helpers/gateway.js'
import { basic } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip, uploadOffset } from './helpers.js'

const DAY = 86_400_000

interface Unit {
  id: string
  auth: string
  mqtt: MqttClient
}

/** A gateway and units that record events with clips, for the limits one unit must not pass. */
async function setup(env: Record<string, string | number>, ids: string[]) {
  const t = await startTestGateway(env)
  const units: Record<string, Unit> = {}
  for (const id of ids) {
    const cam = await t.gateway.registry.create(deviceRow({ id }))
    units[id] = {
      id,
      auth: basic(cam.id, cam.secret),
      mqtt: await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret),
    }
  }
  const base = t.gateway.httpUrl
  const put = (u: Unit, eventId: string, clip: ClipFile, from = 0, to = clip.bytes) =>
    putClip(base, eventId, u.auth, clip.buf.subarray(from, to), {
      'content-range': `bytes ${from}-${to - 1}/${clip.bytes}`,
    })
  // As the clips feature records it: the gateway's own index, or with PostgreSQL the shared table.
  const state = async (eventId: string) => (await t.gateway.events.clipEvents.get(eventId))?.clip.state
  const partial = (eventId: string) => fs.existsSync(t.gateway.clips.store.partialPath(eventId))
  const stored = (c: ClipFile) => fs.existsSync(t.gateway.clips.store.clipPath(c.sha256))
  const close = async () => {
    for (const u of Object.values(units)) await end(u.mqtt)
    await t.stop()
  }
  return { t, units, put, state, partial, stored, close }
}

async function errorOf(res: Response): Promise<ErrorBody['error']> {
  return ((await res.json()) as ErrorBody).error
}

describe('one unit filling its clip quota', () => {
  let fixtures: { dir: string; cleanup: () => void }
  const clips: Record<string, ClipFile> = {}
  let s: Awaited<ReturnType<typeof setup>>

  beforeAll(async () => {
    fixtures = tempDir('doorstep-quota-')
    for (const name of ['a1', 'a2', 'a3', 'b1', 'b2']) clips[name] = makeClip(fixtures.dir, `quota-${name}`)
    const c = clips as Record<'a1' | 'a2' | 'a3', ClipFile>
    // Room for a1 and a2 and not for a3 as well.
    const quota = c.a1.bytes + c.a2.bytes + Math.floor(c.a3.bytes / 2)
    s = await setup({ DOORSTEP_UNIT_CLIP_QUOTA_BYTES: quota }, ['cam-greedy', 'cam-neighbour'])
  })
  afterAll(async () => {
    await s?.close()
    fixtures?.cleanup()
  })

  it("is refused (507) past it, counting half uploads at full size; the other units' clips and ingest go on", async () => {
    const { units, put, state, stored } = s
    const greedy = units['cam-greedy'] as Unit
    const neighbour = units['cam-neighbour'] as Unit
    const c = clips as Record<'a1' | 'a2' | 'a3' | 'b1' | 'b2', ClipFile>

    const b1 = await announce(neighbour.mqtt, neighbour.id, clipInfo(c.b1))
    expect((await put(neighbour, b1, c.b1)).status).toBe(201)

    // a1 half sent: it counts at its full size already.
    const a1 = await announce(greedy.mqtt, greedy.id, clipInfo(c.a1))
    expect((await put(greedy, a1, c.a1, 0, 1000)).status).toBe(202)
    const a2 = await announce(greedy.mqtt, greedy.id, clipInfo(c.a2))
    expect((await put(greedy, a2, c.a2)).status).toBe(201)
    const a3 = await announce(greedy.mqtt, greedy.id, clipInfo(c.a3))
    const refused = await put(greedy, a3, c.a3)
    expect(refused.status).toBe(507)
    const err = await errorOf(refused)
    expect(err.code).toBe('DOORSTEP_ERR_UNIT_QUOTA')
    expect(err.details).toMatchObject({
      storedBytes: c.a2.bytes,
      openBytes: c.a1.bytes,
      clipBytes: c.a3.bytes,
    })
    expect(await state(a3)).toBe('pending')
    expect(s.partial(a3)).toBe(false)
    // The half upload it already had finishes: it was counted when it began.
    expect((await put(greedy, a1, c.a1, 1000)).status).toBe(201)
    expect((await put(greedy, a3, c.a3)).status).toBe(507)

    // The neighbour is untouched: its clip stays, and its next one is taken.
    const b2 = await announce(neighbour.mqtt, neighbour.id, clipInfo(c.b2))
    expect((await put(neighbour, b2, c.b2)).status).toBe(201)
    expect([stored(c.b1), stored(c.b2)]).toEqual([true, true])
    expect([await state(b1), await state(b2)]).toEqual(['ready', 'ready'])

    // Ingest keeps running for both: events are indexed (QoS 1, acknowledged) and heartbeats taken.
    const later = await announce(greedy.mqtt, greedy.id, undefined)
    const other = await announce(neighbour.mqtt, neighbour.id, undefined)
    expect(s.t.gateway.events.index.get(later)?.phase).toBe('end')
    expect(s.t.gateway.events.index.get(other)?.phase).toBe('end')
    await publish(greedy.mqtt, topicFor('heartbeat', greedy.id), heartbeat())
    expect(greedy.mqtt.connected).toBe(true)
  })
})

describe('open uploads per unit, abandoned uploads and disk pressure', () => {
  let fixtures: { dir: string; cleanup: () => void }
  let clip: ClipFile
  let s: Awaited<ReturnType<typeof setup>>
  /** Half uploads the first test leaves open, oldest first. */
  const leftOpen: string[] = []

  beforeAll(async () => {
    fixtures = tempDir('doorstep-open-')
    clip = makeClip(fixtures.dir, 'open')
    s = await setup({ DOORSTEP_UNIT_OPEN_UPLOADS: 2 }, ['cam-opener', 'cam-quiet'])
  })
  afterAll(async () => {
    await s?.close()
    fixtures?.cleanup()
  })

  it('refuses a new upload (429) past the open ones a unit may have; resuming and other units go on', async () => {
    const { units, put, state } = s
    const opener = units['cam-opener'] as Unit
    const quiet = units['cam-quiet'] as Unit
    const e1 = await announce(opener.mqtt, opener.id, clipInfo(clip))
    const e2 = await announce(opener.mqtt, opener.id, clipInfo(clip))
    const e3 = await announce(opener.mqtt, opener.id, clipInfo(clip))
    expect((await put(opener, e1, clip, 0, 1000)).status).toBe(202)
    expect((await put(opener, e2, clip, 0, 1000)).status).toBe(202)
    const refused = await put(opener, e3, clip, 0, 1000)
    expect(refused.status).toBe(429)
    const err = await errorOf(refused)
    expect(err.code).toBe('DOORSTEP_ERR_UNIT_UPLOADS')
    expect(err.details).toEqual({ open: [e1, e2], limit: 2 })
    expect(await state(e3)).toBe('pending')

    // Another unit is not counted against it.
    const q = await announce(quiet.mqtt, quiet.id, clipInfo(clip))
    expect((await put(quiet, q, clip)).status).toBe(201)

    // Finishing one makes room.
    expect((await put(opener, e1, clip, 1000)).status).toBe(201)
    expect((await put(opener, e3, clip, 0, 1000)).status).toBe(202)
    leftOpen.push(e2, e3)
  })

  it('drops an abandoned upload by when it began, not by the time its event claims', async () => {
    const { units, put, state, partial } = s
    const quiet = units['cam-quiet'] as Unit
    // Six days late (a backlog after an outage: within the tolerance), the upload begins now.
    const late = await announce(quiet.mqtt, quiet.id, clipInfo(clip), { ts: Date.now() - 6 * DAY })
    expect((await put(quiet, late, clip, 0, 1000)).status).toBe(202)
    const startedAt = Date.now()

    // Thumbnails of the clips stored so far are made before a sweep may delete the clips.
    await s.t.gateway.clips.idle()
    // 25 days on, the event is 31 days old, the upload 25: kept.
    const day25 = await s.t.gateway.clips.sweep({ now: startedAt + 25 * DAY, disk: null })
    expect(day25.abandoned).not.toContain(late)
    expect(await state(late)).toBe('uploading')
    expect(partial(late)).toBe(true)

    const day31 = await s.t.gateway.clips.sweep({ now: startedAt + 31 * DAY, disk: null })
    // The first test's half uploads began earlier: they go too, oldest first.
    expect(day31.abandoned).toEqual([...leftOpen, late])
    expect(await state(late)).toBe('expired')
    expect(partial(late)).toBe(false)
  })

  it('under disk pressure removes half uploads before any finished clip', async () => {
    const { units, put, state, partial, stored, t } = s
    const quiet = units['cam-quiet'] as Unit
    const done = makeClip(fixtures.dir, 'finished')
    const ready = await announce(quiet.mqtt, quiet.id, clipInfo(done))
    expect((await put(quiet, ready, done)).status).toBe(201)
    await t.gateway.clips.idle()
    const half = await announce(quiet.mqtt, quiet.id, clipInfo(clip))
    expect((await put(quiet, half, clip, 0, 4000)).status).toBe(202)

    // Over the watermark by less than the half upload holds.
    const size = 1_000_000_000
    const used = 0.9 * size + 2000
    const report = await t.gateway.clips.sweep({ disk: { sizeBytes: size, freeBytes: size - used } })
    expect(report.partialsEvicted).toEqual([half])
    expect(report.evicted).toEqual([])
    expect(report.freedBytes).toBe(4000)
    expect(stored(done)).toBe(true)
    expect(await state(ready)).toBe('ready')
    // The unit still has the clip: it may send it again from the start.
    expect(partial(half)).toBe(false)
    expect(await state(half)).toBe('pending')
    expect(await uploadOffset(t.gateway.httpUrl, half, quiet.auth)).toBe(0)
  })
})

describe('event times a unit claims are clamped to the gateway clock', () => {
  let fixtures: { dir: string; cleanup: () => void }
  let s: Awaited<ReturnType<typeof setup>>

  beforeAll(async () => {
    fixtures = tempDir('doorstep-clamp-')
    s = await setup({}, ['cam-time-traveller'])
  })
  afterAll(async () => {
    await s?.close()
    fixtures?.cleanup()
  })

  it('a clip dated a year ahead is placed at most 5 minutes ahead, and retention takes it on time', async () => {
    const { units, put, state, stored, t } = s
    const u = units['cam-time-traveller'] as Unit
    // Its heartbeats tell the truth about its clock, so the skew learned is about 0.
    await publish(u.mqtt, topicFor('heartbeat', u.id), heartbeat({ ts: Date.now() }))
    const ahead = makeClip(fixtures.dir, 'ahead')
    const sent = Date.now()
    const future = await announce(u.mqtt, u.id, clipInfo(ahead), { ts: sent + 365 * DAY })
    expect((await put(u, future, ahead)).status).toBe(201)
    const ev = t.gateway.events.index.get(future)
    expect(ev?.startedAt).toBeLessThanOrEqual(Date.now() + 300_000)
    expect(ev?.endedAt).toBeLessThanOrEqual(Date.now() + 300_000)

    // A year back lands at the 7-day limit instead (a backlog may be late; not that late).
    const past = await announce(u.mqtt, u.id, undefined, { ts: sent - 365 * DAY })
    expect(t.gateway.events.index.get(past)?.startedAt).toBeGreaterThanOrEqual(sent - 7 * DAY - 60_000)

    await t.gateway.clips.idle()
    const report = await t.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
    expect(report.expired).toContain(future)
    expect(await state(future)).toBe('expired')
    expect(stored(ahead)).toBe(false)
  })
})
