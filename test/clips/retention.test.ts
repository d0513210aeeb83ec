import fs from 'node:fs'
import type { ErrorBody, EventList, Hold } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { announce, type ClipFile, clipInfo, makeClip, putClip } from './helpers.js'

const DAY = 86_400_000

/** A gateway with one unit that can record events with clips at chosen times. */
async function setup(prefix: string, env: Record<string, string | number> = {}) {
  const fixtures = tempDir('doorstep-ret-')
  const t = await startTestGateway(env)
  const cam = await t.gateway.registry.create(deviceRow({ id: `cam-${prefix}` }))
  const unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
  const base = t.gateway.httpUrl
  /** Records an event `ageMs` ago (within the 10 min the gateway trusts a unit's clock) and uploads its clip. */
  const record = async (tag: string, ageMs: number): Promise<{ eventId: string; clip: ClipFile }> => {
    const clip = makeClip(fixtures.dir, tag)
    const eventId = await announce(unit, cam.id, clipInfo(clip), { ts: Date.now() - ageMs })
    const res = await putClip(base, eventId, basic(cam.id, cam.secret), clip.buf)
    expect(res.status).toBe(201)
    return { eventId, clip }
  }
  const hold = async (eventId: string, extra: Record<string, unknown> = {}, token = t.adminToken) =>
    fetch(`${base}/api/v1/holds`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ eventId, reason: 'burglary 2025-118', ...extra }),
    })
  // As the clips feature records it: the gateway's own index, or with PostgreSQL the shared table.
  const state = async (eventId: string) => (await t.gateway.events.clipEvents.get(eventId))?.clip.state
  const onDisk = (c: ClipFile) => fs.existsSync(t.gateway.clips.store.clipPath(c.sha256))
  const close = async () => {
    await end(unit)
    await t.stop()
    fixtures.cleanup()
  }
  return { t, cam, base, record, hold, state, onDisk, close }
}

describe('retention by age, with and without holds', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    s = await setup('ret-age')
  })
  afterAll(async () => {
    await s?.close()
  })

  it('deletes clips past the retention period, keeps held ones, and the events stay marked expired', async () => {
    const { t, base } = s
    const a = await s.record('age-a', 0)
    const b = await s.record('age-b', 0)
    const c = await s.record('age-c', 0)
    await t.gateway.clips.idle()

    const hb = await s.hold(b.eventId)
    expect(hb.status).toBe(201)
    const holdB = (await hb.json()) as Hold
    expect(holdB).toMatchObject({
      eventId: b.eventId,
      reason: 'burglary 2025-118',
      active: true,
      until: null,
    })
    expect(holdB.who).toContain('(admin)')
    const hc = await s.hold(c.eventId, { until: new Date(Date.now() + 40 * DAY).toISOString() })
    expect(hc.status).toBe(201)

    // Nothing is old enough yet.
    expect((await t.gateway.clips.sweep({ disk: null })).expired).toEqual([])

    const day31 = await t.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
    expect(day31.expired).toEqual([a.eventId])
    expect(day31.keptByHold).toBe(2)
    expect(s.onDisk(a.clip)).toBe(false)
    expect(fs.existsSync(t.gateway.clips.store.thumbPath(a.clip.sha256))).toBe(false)
    expect(await s.state(a.eventId)).toBe('expired')
    const gone = await fetch(`${base}/api/v1/clips/${a.eventId}`, { headers: bearer(t.adminToken) })
    expect(gone.status).toBe(410)
    expect(((await gone.json()) as ErrorBody).error.code).toBe('DOORSTEP_ERR_CLIP_EXPIRED')
    const list = (await (
      await fetch(`${base}/api/v1/events?device=${s.cam.id}`, { headers: bearer(t.adminToken) })
    ).json()) as EventList
    expect(list.events.find((e) => e.id === a.eventId)?.clip).toMatchObject({ state: 'expired', url: null })
    expect(s.onDisk(b.clip) && s.onDisk(c.clip)).toBe(true)
    expect((await fetch(`${base}/api/v1/clips/${b.eventId}`, { headers: bearer(t.adminToken) })).status).toBe(
      200,
    )

    // C's hold lapses at day 40; B's has no end.
    const day41 = await t.gateway.clips.sweep({ now: Date.now() + 41 * DAY, disk: null })
    expect(day41.expired).toEqual([c.eventId])
    expect(s.onDisk(c.clip)).toBe(false)
    expect(s.onDisk(b.clip)).toBe(true)

    // Released through the API: the next sweep takes it.
    const del = await fetch(`${base}/api/v1/holds/${holdB.id}`, {
      method: 'DELETE',
      headers: bearer(t.adminToken),
    })
    expect(del.status).toBe(200)
    expect(await del.json()).toMatchObject({
      id: holdB.id,
      active: false,
      releasedBy: expect.stringContaining('admin'),
    })
    const after = await t.gateway.clips.sweep({ now: Date.now() + 41 * DAY, disk: null })
    expect(after.expired).toEqual([b.eventId])
    expect(s.onDisk(b.clip)).toBe(false)
    // Nothing to hold any more.
    expect((await s.hold(b.eventId)).status).toBe(410)
  })

  it('drops uploads never finished within the retention period, unless held', async () => {
    const { t, base } = s
    const dir = tempDir()
    const clip = makeClip(dir.dir, 'unfinished')
    dir.cleanup()
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-ret-age-2' }))
    const unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    const dropped = await announce(unit, cam.id, clipInfo(clip))
    const kept = await announce(unit, cam.id, clipInfo(clip))
    for (const id of [dropped, kept]) {
      const res = await putClip(base, id, basic(cam.id, cam.secret), clip.buf.subarray(0, 1000), {
        'content-range': `bytes 0-999/${clip.bytes}`,
      })
      expect(res.status).toBe(202)
    }
    expect((await s.hold(kept)).status).toBe(201)
    const report = await t.gateway.clips.sweep({ now: Date.now() + 31 * DAY, disk: null })
    expect(report.abandoned).toEqual([dropped])
    expect(await s.state(dropped)).toBe('expired')
    expect(fs.existsSync(t.gateway.clips.store.partialPath(dropped))).toBe(false)
    expect(await s.state(kept)).toBe('uploading')
    expect(fs.existsSync(t.gateway.clips.store.partialPath(kept))).toBe(true)
    await end(unit)
  })

  it('holds are listed and managed by admin and investigators only', async () => {
    const { t, base } = s
    const ev = await s.record('holds-api', 0)
    const ops = (await t.gateway.tokens.issue('ops-on-duty', 'ops')).token
    const inv = (await t.gateway.tokens.issue('det-ramirez', 'investigator')).token
    expect((await s.hold(ev.eventId, {}, ops)).status).toBe(403)
    const placed = await s.hold(ev.eventId, { reason: 'case 77' }, inv)
    expect(placed.status).toBe(201)
    const h = (await placed.json()) as Hold
    expect(h.who).toBe('det-ramirez (investigator)')

    const bad = await s.hold(ev.eventId, { until: Date.now() - 1000 }, inv)
    expect(bad.status).toBe(400)

    const listed = (await (
      await fetch(`${base}/api/v1/holds?eventId=${ev.eventId}`, { headers: bearer(inv) })
    ).json()) as {
      holds: Hold[]
    }
    expect(listed.holds.map((x) => x.id)).toEqual([h.id])
    expect((await fetch(`${base}/api/v1/holds`, { headers: bearer(ops) })).status).toBe(403)

    expect(
      (await fetch(`${base}/api/v1/holds/${h.id}`, { method: 'DELETE', headers: bearer(inv) })).status,
    ).toBe(200)
    const active = (await (
      await fetch(`${base}/api/v1/holds?eventId=${ev.eventId}`, { headers: bearer(inv) })
    ).json()) as {
      holds: Hold[]
    }
    expect(active.holds).toEqual([])
    const all = (await (
      await fetch(`${base}/api/v1/holds?eventId=${ev.eventId}&state=all`, { headers: bearer(inv) })
    ).json()) as {
      holds: Hold[]
    }
    expect(all.holds[0]).toMatchObject({ id: h.id, active: false, releasedBy: 'det-ramirez (investigator)' })
    expect(
      (await fetch(`${base}/api/v1/holds/999999`, { method: 'DELETE', headers: bearer(inv) })).status,
    ).toBe(404)

    // The internal API the cases feature will call.
    const internal = await t.gateway.clips.hold(ev.eventId, 'case 78', 'cases', null)
    expect(internal).toMatchObject({ who: 'cases', active: true })
    const detail = (await (
      await fetch(`${base}/api/v1/events/${ev.eventId}`, { headers: bearer(inv) })
    ).json()) as {
      holds: Hold[]
    }
    expect(detail.holds.map((x) => x.reason).sort()).toEqual(['case 77', 'case 78'])
  })
})

describe('disk high watermark', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    s = await setup('ret-disk')
  })
  afterAll(async () => {
    await s?.close()
  })

  it('evicts the oldest unheld clips first, just enough to get under the watermark, and never a held one', async () => {
    const { t } = s
    // Recorded oldest → newest.
    const a = await s.record('disk-a', 8 * 60_000)
    const b = await s.record('disk-b', 6 * 60_000)
    const c = await s.record('disk-c', 4 * 60_000)
    const d = await s.record('disk-d', 2 * 60_000)
    await t.gateway.clips.idle()
    expect((await s.hold(b.eventId)).status).toBe(201)

    const store = t.gateway.clips.store
    /** What evicting a clip frees: the clip file and its thumbnail. */
    const footprint = (x: { clip: ClipFile }) =>
      fs.statSync(store.clipPath(x.clip.sha256)).size + fs.statSync(store.thumbPath(x.clip.sha256)).size
    // The disk is 90% full plus just under what A and C take: freeing A alone is not enough, A and C is.
    const sizes = { a: footprint(a), c: footprint(c) }
    const size = 10_000_000
    const used = 0.9 * size + sizes.a + sizes.c - 1
    const report = await t.gateway.clips.sweep({ disk: { sizeBytes: size, freeBytes: size - used } })
    expect(report.usedPct).toBeGreaterThan(90)
    expect(report.expired).toEqual([])
    expect(report.evicted).toEqual([a.eventId, c.eventId])
    expect(report.freedBytes).toBe(sizes.a + sizes.c)
    expect([a, b, c, d].map((x) => s.onDisk(x.clip))).toEqual([false, true, false, true])
    expect(await Promise.all([a, b, c, d].map((x) => s.state(x.eventId)))).toEqual([
      'expired',
      'ready',
      'expired',
      'ready',
    ])

    // A full disk takes every unheld clip, and still not the held one.
    const full = await t.gateway.clips.sweep({ disk: { sizeBytes: size, freeBytes: 0 } })
    expect(full.evicted).toEqual([d.eventId])
    expect(s.onDisk(b.clip)).toBe(true)
    expect(await s.state(b.eventId)).toBe('ready')

    // Below the watermark nothing moves; the real statfs reading is used by default.
    const calm = await t.gateway.clips.sweep()
    expect(calm.evicted).toEqual([])
    expect(calm.usedPct).toEqual(expect.any(Number))
  })
})

describe('the room given to clips (DOORSTEP_CLIP_DISK_BYTES) and the sweep interval', () => {
  let s: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    // A room smaller than any clip: every sweep finds the clips over the watermark.
    s = await setup('ret-room', { DOORSTEP_CLIP_DISK_BYTES: 1, DOORSTEP_CLIP_SWEEP_INTERVAL_S: 1 })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('evicts a fresh clip (30 days from its age limit) within seconds: the room is full, the timer sweeps every second', async () => {
    const a = await s.record('room-a', 0)
    const t0 = Date.now()
    while (((await s.state(a.eventId)) !== 'expired' || s.onDisk(a.clip)) && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 100))
    expect(await s.state(a.eventId)).toBe('expired')
    expect(s.onDisk(a.clip)).toBe(false)
    // The sweep counts its removals once it is through.
    const evictedCount = async () => {
      const res = await fetch(`${s.base}/metrics`, { headers: bearer(s.t.adminToken) })
      return Number(/^doorstep_clips_removed_total\{reason="disk"\} (\d+)/m.exec(await res.text())?.[1])
    }
    const t1 = Date.now()
    while ((await evictedCount()) < 1 && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 100))
    expect(await evictedCount()).toBeGreaterThanOrEqual(1)
  })
})
