import type { AuditEntry, Hold } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo, makeClip, putClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

describe('uses of a clip on the clip and hold routes go on the audit log', () => {
  let t: TestGateway
  let fixtures: { dir: string; cleanup: () => void }
  let unit: MqttClient
  let eventId: string
  let ops: string

  const entries = async (q: string) => {
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/audit?${q}`, {
      headers: bearer(t.adminToken),
    })
    expect(res.status).toBe(200)
    return ((await res.json()) as { entries: AuditEntry[] }).entries
  }
  const get = (path: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${t.gateway.httpUrl}${path}`, { headers: { ...bearer(token), ...headers } })

  beforeAll(async () => {
    fixtures = tempDir('doorstep-audit-')
    const clip = makeClip(fixtures.dir, 'audited')
    t = await startTestGateway()
    ops = (await t.gateway.tokens.issue('Olga (night shift)', 'ops')).token
    const cam = await t.gateway.registry.create(deviceRow({ id: 'cam-audit-1' }))
    unit = await connectUnit(t.gateway.mqttUrl, cam.id, cam.secret)
    eventId = await announce(unit, cam.id, clipInfo(clip))
    await until(
      'the event is indexed with its clip pending',
      () => t.gateway.events.index.get(eventId)?.clip.state === 'pending',
    )
    expect((await putClip(t.gateway.httpUrl, eventId, basic(cam.id, cam.secret), clip.buf)).status).toBe(201)
    await t.gateway.clips.idle()
  })
  afterAll(async () => {
    if (unit) await end(unit)
    await t?.stop()
    fixtures?.cleanup()
  })

  it('a playback is one entry (its first range), with who and what', async () => {
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=0-' })).status).toBe(206)
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=500-999' })).status).toBe(206)
    expect((await get(`/api/v1/clips/${eventId}/thumb`, ops)).status).toBe(200)
    const log = await entries(`subject=clip:${eventId}`)
    expect(log.map((e) => e.action)).toEqual(['clip.download', 'clip.view'])
    expect(log[0]).toMatchObject({
      actor: expect.stringMatching(/^Olga \(night shift\) \(ops #\d+\)$/),
      details: { status: 206 },
    })
    // A refused request is not a use of the clip.
    const owner = (await t.gateway.tokens.issue('owner', 'owner', 'x@example.org')).token
    expect((await get(`/api/v1/clips/${eventId}`, owner)).status).toBe(403)
    expect(await entries(`subject=clip:${eventId}`)).toHaveLength(2)
  })

  it('a download is audited however its Range carries the first byte; later ranges are not', async () => {
    const before = (await entries(`subject=clip:${eventId}&action=clip.download`)).length
    const size = Number((await get(`/api/v1/clips/${eventId}`, ops)).headers.get('content-length'))
    expect(size).toBeGreaterThan(0)
    // A suffix range as long as the clip, a zero written with two digits, and an If-Range that no
    // longer matches (the whole clip is sent): each carries byte 0.
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: `bytes=-${size}` })).status).toBe(206)
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=00-99' })).status).toBe(206)
    const stale = await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=500-', 'if-range': '"old"' })
    expect(stale.status).toBe(200)
    // A short suffix and a middle range do not.
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=-10' })).status).toBe(206)
    expect((await get(`/api/v1/clips/${eventId}`, ops, { range: 'bytes=500-999' })).status).toBe(206)
    const after = await entries(`subject=clip:${eventId}&action=clip.download`)
    expect(after.length - before).toBe(4)
    expect(after.slice(-3).map((e) => (e.details as { range: string | null }).range)).toEqual([
      `bytes=-${size}`,
      'bytes=00-99',
      'bytes=500-',
    ])
  })

  it('placing and releasing a hold, with the hold id', async () => {
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/holds`, {
      method: 'POST',
      headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
      body: JSON.stringify({ eventId, reason: 'insurance claim' }),
    })
    expect(res.status).toBe(201)
    const hold = (await res.json()) as Hold
    const del = await fetch(`${t.gateway.httpUrl}/api/v1/holds/${hold.id}`, {
      method: 'DELETE',
      headers: bearer(t.adminToken),
    })
    expect(del.status).toBe(200)
    const log = await entries(`subject=clip:${eventId}`)
    expect(log.slice(-2)).toMatchObject([
      { action: 'hold.place', details: { holdId: hold.id, reason: 'insurance claim' } },
      { action: 'hold.release', details: { holdId: hold.id } },
    ])
    const verify = await get('/api/v1/audit/verify', t.adminToken)
    expect(await verify.json()).toMatchObject({ ok: true, problems: [] })
  })
})
