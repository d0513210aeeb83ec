import { type ConfigOverview, topicFor, type UnitConfigView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { end, granted, publish } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { configUnit, report } from './helpers.js'

/** Long enough for a queued or retained copy to have arrived, on loopback. */
const SETTLE_MS = 500
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS))

describe('remote configuration over the real broker', () => {
  const data = tempDir('doorstep-unit-config-')
  let t: TestGateway
  let base: string
  const units: Array<{ id: string; secret: string }> = []

  const put = (path: string, body: unknown, token = t.adminToken) => api(base, 'PUT', path, token, body)
  const view = async (id: string) =>
    (await api<UnitConfigView>(base, 'GET', `/api/v1/config/devices/${id}`, t.adminToken)).body

  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    base = t.gateway.httpUrl
    for (let i = 0; i < 5; i++) units.push(await t.gateway.registry.create(deviceRow({ district: 21 })))
  })
  afterAll(async () => {
    await t?.stop()
    data.cleanup()
  })

  it('a unit away during two changes gets only the latest, once, and never the older one', async () => {
    const u = units[0]!
    const first = await configUnit(t.gateway.mqttUrl, u.id, u.secret)
    expect((await put(`/api/v1/config/devices/${u.id}`, { heartbeatIntervalS: 60 })).status).toBe(200)
    await until('v1 live', () => first.received.length === 1)
    expect(first.received[0]?.version).toBe(1)
    await end(first.client)

    await put(`/api/v1/config/devices/${u.id}`, { nightMode: 'on' })
    await put(`/api/v1/config/devices/${u.id}`, { clipLengthS: 20 })
    // The persistent session queued both; the unit does not subscribe again.
    const back = await configUnit(t.gateway.mqttUrl, u.id, u.secret, { subscribe: false })
    await until('the latest', () => back.received.length > 0)
    await settle()
    expect(back.received.map((m) => m.version)).toEqual([3])
    expect(back.received[0]?.config).toMatchObject({
      heartbeatIntervalS: 60,
      nightMode: 'on',
      clipLengthS: 20,
    })
    expect((await view(u.id)).status).toBe('lagging')
    await publish(back.client, topicFor('configReported', u.id), report(3))
    await until('applied', async () => (await view(u.id)).status === 'applied')
    await end(back.client)

    // A unit that subscribes again on its persistent session: queued and retained copies, one delivery.
    await put(`/api/v1/config/devices/${u.id}`, { uploadKbps: 512 })
    await put(`/api/v1/config/devices/${u.id}`, { uploadKbps: 256 })
    const again = await configUnit(t.gateway.mqttUrl, u.id, u.secret)
    await until('the latest', () => again.received.length > 0)
    await settle()
    expect(again.received.map((m) => m.version)).toEqual([5])
    await end(again.client)
  })

  it('a district change reaches each unit with its own version; a refusal is flagged with its reason', async () => {
    const [a, b] = [units[1]!, units[2]!]
    const ua = await configUnit(t.gateway.mqttUrl, a.id, a.secret)
    const ub = await configUnit(t.gateway.mqttUrl, b.id, b.secret)
    const res = await put('/api/v1/config/districts/21', { motion: { sensitivity: 80 } })
    expect(res.status).toBe(200)
    expect((res.body as { changed: number }).changed).toBe(units.length)
    await until('both', () => ua.received.length === 1 && ub.received.length === 1)
    await publish(ua.client, topicFor('configReported', a.id), report(ua.received[0]!.version))
    await publish(ub.client, topicFor('configReported', b.id), report(ub.received[0]!.version, 'no IR lamp'))
    await until('refused', async () => (await view(b.id)).status === 'refused')
    expect((await view(b.id)).reported?.reason).toBe('no IR lamp')
    expect((await view(a.id)).status).toBe('applied')
    const o = (
      await api<ConfigOverview>(base, 'GET', '/api/v1/config?district=21&status=refused', t.adminToken)
    ).body
    expect(o.units.map((v) => v.deviceId)).toEqual([b.id])
    expect(o.districts).toEqual([expect.objectContaining({ district: 21, units: 5, refused: 1 })])
    await end(ua.client)
    await end(ub.client)
  })

  it('bad reports are dropped without harming others; a unit cannot report or listen for another', async () => {
    const [c, d] = [units[3]!, units[4]!]
    const uc = await configUnit(t.gateway.mqttUrl, c.id, c.secret, { clean: true })
    const ud = await configUnit(t.gateway.mqttUrl, d.id, d.secret, { clean: true })
    const before = await view(c.id)
    await publish(uc.client, topicFor('configReported', c.id), 'not json')
    await publish(uc.client, topicFor('configReported', c.id), { v: 1, ts: 1, version: 'x', applied: true })
    await publish(uc.client, topicFor('configReported', c.id), { ...report(1, 'x'), reason: '' })
    expect(uc.client.connected).toBe(true)
    expect(await view(c.id)).toEqual({ ...before, lagMs: expect.any(Number) })
    expect(await granted(uc.client, topicFor('config', d.id))).toBe(128)
    // Another unit's report topic: the connection is closed without PUBACK.
    const closed = new Promise<void>((r) => uc.client.once('close', () => r()))
    uc.client.publish(topicFor('configReported', d.id), JSON.stringify(report(1)), { qos: 1 })
    await closed
    const v = (await view(d.id)).desired?.version ?? 0
    await publish(ud.client, topicFor('configReported', d.id), report(v))
    await until('d applied', async () => (await view(d.id)).status === 'applied')
    uc.client.end(true)
    await end(ud.client)
  })

  it('only admin and ops may see or change configuration; bad changes change nothing', async () => {
    const u = units[1]!
    const ops = (await t.gateway.tokens.issue('cfg-ops', 'ops')).token
    const inv = (await t.gateway.tokens.issue('cfg-inv', 'investigator')).token
    const owner = (await t.gateway.tokens.issue('cfg-owner', 'owner', 'o@example.org')).token
    for (const tok of [inv, owner]) {
      expect((await put('/api/v1/config/fleet', { nightMode: 'off' }, tok)).status).toBe(403)
      expect((await api(base, 'GET', '/api/v1/config', tok)).status).toBe(403)
    }
    const v = (await view(u.id)).desired?.version
    expect((await put(`/api/v1/config/devices/${u.id}`, { heartbeatInterval: 60 }, ops)).status).toBe(400)
    expect((await put(`/api/v1/config/devices/${u.id}`, { clipLengthS: 600 }, ops)).status).toBe(400)
    expect((await put('/api/v1/config/devices/cam-nobody-0001', { clipLengthS: 20 }, ops)).status).toBe(404)
    expect((await view(u.id)).desired?.version).toBe(v)
    expect((await put(`/api/v1/config/devices/${u.id}`, { clipLengthS: 20 }, ops)).status).toBe(200)
    expect((await view(u.id)).desired?.version).toBe((v ?? 0) + 1)
    expect(
      (await t.gateway.audit.list({ after: 0, limit: 100, action: 'config.set' })).entries.length,
    ).toBeGreaterThan(0)
  })

  it('a gateway restart keeps the desired configuration, and a returning unit still gets it', async () => {
    const u = units[0]!
    const want = (await view(u.id)).desired?.version
    await t.stop({ keepData: true })
    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    base = t.gateway.httpUrl
    expect((await view(u.id)).desired?.version).toBe(want)
    // The broker's sessions were lost with it: the unit subscribes anew and finds the retained version.
    const back = await configUnit(t.gateway.mqttUrl, u.id, u.secret)
    await until('the retained latest', () => back.received.length > 0)
    await settle()
    expect(back.received.map((m) => m.version)).toEqual([want])
    await end(back.client)
  })

  it('a unit that joins after fleet and district changes starts from them, across a restart', async () => {
    expect((await put('/api/v1/config/fleet', { uploadKbps: 700, nightMode: 'off' })).status).toBe(200)
    expect((await put('/api/v1/config/districts/22', { motion: { sensitivity: 15 } })).status).toBe(200)
    // A later district change merges with the earlier one rather than replacing it.
    expect((await put('/api/v1/config/districts/22', { nightMode: 'on' })).status).toBe(200)
    await t.stop({ keepData: true })
    t = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    base = t.gateway.httpUrl
    const late = await t.gateway.registry.create(deviceRow({ district: 22 }))
    const other = await t.gateway.registry.create(deviceRow({ district: 23 }))
    expect((await view(late.id)).desired).toBeNull()
    const ul = await configUnit(t.gateway.mqttUrl, late.id, late.secret)
    const uo = await configUnit(t.gateway.mqttUrl, other.id, other.secret)
    await until('both inherited', () => ul.received.length === 1 && uo.received.length === 1)
    expect(ul.received[0]).toMatchObject({
      version: 1,
      config: { uploadKbps: 700, nightMode: 'on', motion: { sensitivity: 15 } },
    })
    // Another district has only the fleet's change.
    expect(uo.received[0]).toMatchObject({
      version: 1,
      config: { uploadKbps: 700, nightMode: 'off', motion: { sensitivity: 50 } },
    })
    expect((await view(late.id)).desired).toMatchObject({ version: 1, scope: 'district:22' })
    await publish(ul.client, topicFor('configReported', late.id), report(1))
    await until('applied', async () => (await view(late.id)).status === 'applied')
    await end(ul.client)
    await end(uo.client)
    // Coming back: nothing new, no second version.
    const again = await configUnit(t.gateway.mqttUrl, late.id, late.secret)
    await settle()
    expect((await view(late.id)).desired?.version).toBe(1)
    await end(again.client)
  })
})
