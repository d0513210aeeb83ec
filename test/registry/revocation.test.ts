import { createHash, randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AuditEntry, DeviceCredentials, DeviceSecretRotated, DeviceView } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, basic } from '../helpers/http.js'
import { connectUnit, end, refusedCode } from '../helpers/mqtt.js'
import { until, within } from '../helpers/wait.js'

/**
 * Revocation that takes effect now: disabling a unit or rotating its secret ends its live MQTT
 * connection at once and refuses its HTTP uploads from then on. Real gateway, MQTT over TCP, HTTP.
 */
describe('disabling a unit and rotating its secret', () => {
  let t: TestGateway
  let base: string
  let ops: string
  let investigator: string

  /** The status a unit's HTTP Basic gets on an upload route (an unknown event: 404 once authenticated). */
  const uploadStatus = async (id: string, secret: string): Promise<number> => {
    const res = await fetch(`${base}/api/v1/clips/${randomUUID()}`, {
      method: 'HEAD',
      headers: { authorization: basic(id, secret) },
    })
    return res.status
  }
  /** Resolves once the broker has closed the unit's connection. */
  const closed = (client: MqttClient) =>
    new Promise<void>((resolve) => {
      if (!client.connected) resolve()
      client.once('close', () => resolve())
    })
  const revokedCount = async (): Promise<number> =>
    (await t.gateway.metrics.disconnects.get()).values
      .filter((v) => v.labels.reason === 'revoked')
      .reduce((n, v) => n + v.value, 0)

  beforeAll(async () => {
    t = await startTestGateway()
    base = t.gateway.httpUrl
    ops = (await t.gateway.tokens.issue('Ops Desk', 'ops')).token
    investigator = (await t.gateway.tokens.issue('Det. Lam', 'investigator')).token
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('disable closes the live connection at once and refuses MQTT and HTTP; enable lets it back', async () => {
    const created = await api<DeviceCredentials>(
      base,
      'POST',
      '/api/v1/devices',
      ops,
      deviceRow({ id: 'cam-rev-1' }),
    )
    expect(created.status).toBe(201)
    const { id, secret } = created.body
    const unit = await connectUnit(t.gateway.mqttUrl, id, secret)
    const gone = closed(unit)
    expect(await uploadStatus(id, secret)).not.toBe(401)

    // Investigators may look at units but not switch them off.
    expect((await api(base, 'POST', `/api/v1/devices/${id}/disable`, investigator)).status).toBe(403)
    expect(unit.connected).toBe(true)

    const disabled = await api<DeviceView>(base, 'POST', `/api/v1/devices/${id}/disable`, ops)
    expect(disabled.status).toBe(200)
    expect(disabled.body.enabled).toBe(false)
    // "At once": the broker closes it on the bus event, not at the unit's next reconnect or keepalive.
    await within('the disabled unit’s connection to close', gone, 3000)
    await until('the close to be counted as revoked', async () => (await revokedCount()) >= 1)
    expect(t.gateway.broker.isConnected(id)).toBe(false)
    expect(await refusedCode(t.gateway.mqttUrl, id, secret)).toBe(5)
    expect(await uploadStatus(id, secret)).toBe(401)

    const enabled = await api<DeviceView>(base, 'POST', `/api/v1/devices/${id}/enable`, ops)
    expect(enabled.body.enabled).toBe(true)
    const back = await connectUnit(t.gateway.mqttUrl, id, secret)
    expect(await uploadStatus(id, secret)).not.toBe(401)
    await end(back)

    expect((await api(base, 'POST', '/api/v1/devices/cam-nobody-1/disable', ops)).status).toBe(404)
    const audit = await api<{ entries: AuditEntry[] }>(
      base,
      'GET',
      `/api/v1/audit?subject=device:${id}`,
      t.adminToken,
    )
    expect(audit.body.entries.map((e) => [e.action, e.actor])).toEqual([
      ['device.disable', expect.stringContaining('Ops Desk')],
      ['device.enable', expect.stringContaining('Ops Desk')],
    ])
  })

  it('rotate-secret answers the new secret once, closes the live connection, and the old secret stops working', async () => {
    const { id, secret: old } = await t.gateway.registry.create(deviceRow({ id: 'cam-rev-2' }))
    const unit = await connectUnit(t.gateway.mqttUrl, id, old)
    const gone = closed(unit)
    // The old secret is in the auth cache now (MQTT and HTTP share it): rotation must clear it.
    expect(await uploadStatus(id, old)).not.toBe(401)

    expect((await api(base, 'POST', `/api/v1/devices/${id}/rotate-secret`, investigator)).status).toBe(403)
    const before = await revokedCount()
    const res = await fetch(`${base}/api/v1/devices/${id}/rotate-secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const rotated = (await res.json()) as DeviceSecretRotated
    expect(rotated.id).toBe(id)
    expect(rotated.secret).not.toBe(old)
    expect(rotated.secret.length).toBeGreaterThanOrEqual(43)

    await within('the rotated unit’s connection to close', gone, 3000)
    await until('the close to be counted as revoked', async () => (await revokedCount()) > before)
    expect(await refusedCode(t.gateway.mqttUrl, id, old)).toBe(4)
    expect(await uploadStatus(id, old)).toBe(401)
    const again = await connectUnit(t.gateway.mqttUrl, id, rotated.secret)
    expect(await uploadStatus(id, rotated.secret)).not.toBe(401)
    await end(again)

    // On record, but never the secret.
    const audit = await api<{ entries: AuditEntry[] }>(
      base,
      'GET',
      `/api/v1/audit?subject=device:${id}`,
      t.adminToken,
    )
    expect(audit.body.entries.map((e) => e.action)).toEqual(['device.rotate-secret'])
    expect(JSON.stringify(audit.body)).not.toContain(rotated.secret)
    expect((await api(base, 'POST', '/api/v1/devices/cam-nobody-2/rotate-secret', ops)).status).toBe(404)
  })

  it('an upload in flight when the unit is disabled is cut at once, and its retry refused', async () => {
    const { id, secret } = await t.gateway.registry.create(deviceRow({ id: 'cam-rev-3' }))
    const unit = await connectUnit(t.gateway.mqttUrl, id, secret)
    const bytes = randomBytes(512 * 1024)
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const eventId = await announce(unit, id, clipInfo({ bytes: bytes.length, sha256 }))
    const { port } = t.gateway.http.server.address() as import('node:net').AddressInfo

    // The unit sends the first 64 KiB of its clip and keeps the request open, as on a slow uplink.
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: `/api/v1/clips/${eventId}`,
      headers: {
        authorization: basic(id, secret),
        'content-type': 'video/mp4',
        'content-length': String(bytes.length),
      },
      agent: false,
    })
    const ended = new Promise<string>((resolve) => {
      req.once('response', (res) => resolve(`answered ${res.statusCode}`))
      req.once('error', (err) => resolve(`cut: ${err.message}`))
    })
    req.write(bytes.subarray(0, 64 * 1024))
    await until('the upload to be in flight', () => t.gateway.http.deviceRequests.inFlight(id) > 0)

    expect((await api(base, 'POST', `/api/v1/devices/${id}/disable`, ops)).status).toBe(200)
    expect(await within('the upload to be cut', ended, 3000)).toMatch(/^cut: /)
    expect(t.gateway.http.deviceRequests.inFlight(id)).toBe(0)
    const retry = await fetch(`${base}/api/v1/clips/${eventId}`, {
      method: 'PUT',
      headers: { authorization: basic(id, secret), 'content-type': 'video/mp4' },
      body: new Uint8Array(bytes),
    })
    expect(retry.status).toBe(401)
    unit.end(true)
  })
})
