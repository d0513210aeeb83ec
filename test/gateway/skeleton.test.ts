import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { influxCount, influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, granted, publish, refusedCode } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { openAlerts } from '../helpers/ws.js'

const run = promisify(execFile)

/** The walking skeleton: provision over HTTP, publish over MQTT/TCP, land in InfluxDB, alert on the WebSocket. */
describe('walking skeleton (real aedes over TCP, real influxd, real HTTP and WebSocket)', () => {
  let t: TestGateway
  let creds: { id: string; secret: string }
  const auth = () => ({ ...bearer(t.adminToken), 'content-type': 'application/json' })

  beforeAll(async () => {
    t = await startTestGateway()
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/devices`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify(deviceRow({ id: 'cam-sk-001', district: 12 })),
    })
    expect(res.status).toBe(201)
    creds = (await res.json()) as { id: string; secret: string }
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('a heartbeat lands in InfluxDB with device and district tags', async () => {
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    await publish(unit, topicFor('heartbeat', creds.id), heartbeat({ storageFreeMb: 12_345 }), 0)
    await expect
      .poll(() => influxRows(t.influxUrl, t.db, `SELECT * FROM heartbeat WHERE device = '${creds.id}'`), {
        timeout: 5000,
      })
      .toEqual([
        expect.objectContaining({
          device: creds.id,
          district: '12',
          storage_free_mb: 12_345,
          recording: true,
        }),
      ])
    await end(unit)
  })

  it('an event reaches every client of the alert WebSocket', async () => {
    const a = await openAlerts(t.gateway.httpUrl, t.adminToken)
    const b = await openAlerts(t.gateway.httpUrl, t.adminToken)
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    const ev = event({ kind: 'tamper' })
    await publish(unit, topicFor('event', creds.id), ev, 1)
    for (const sock of [a, b]) {
      await expect
        .poll(() => sock.frames.find((f) => f.type === 'alert' && f.alert.eventId === ev.eventId), {
          timeout: 5000,
        })
        .toMatchObject({ alert: { kind: 'tamper', severity: 'critical', deviceId: creds.id, district: 12 } })
    }
    await expect
      .poll(() =>
        influxCount(
          t.influxUrl,
          t.db,
          `SELECT count(score) FROM "events_1y".event WHERE event_id = '${ev.eventId}'`,
        ),
      )
      .toBe(1)
    a.close()
    b.close()
    await end(unit)
  })

  it('invalid payloads are counted and logged; the unit stays connected and the next reading lands', async () => {
    const received = async (kind: string) => {
      const text = await (await fetch(`${t.gateway.httpUrl}/metrics`, { headers: auth() })).text()
      return Number(
        new RegExp(`^doorstep_messages_in_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
      )
    }
    const heartbeatsBefore = await received('heartbeat')
    const eventsBefore = await received('event')
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    await publish(unit, topicFor('heartbeat', creds.id), 'not json', 0)
    await publish(unit, topicFor('heartbeat', creds.id), { ...heartbeat(), uptimeS: 'soon' }, 0)
    await publish(unit, topicFor('event', creds.id), { ...event(), score: 7 }, 1)
    await publish(unit, topicFor('heartbeat', creds.id), heartbeat({ uptimeS: 777_777 }), 0)
    await expect
      .poll(() =>
        influxCount(t.influxUrl, t.db, `SELECT count(uptime_s) FROM heartbeat WHERE uptime_s = 777777`),
      )
      .toBe(1)
    expect(unit.connected).toBe(true)
    expect(t.gateway.ingest.invalidCounts(creds.id)).toEqual({ 'not-json': 1, schema: 2 })
    const metrics = await (await fetch(`${t.gateway.httpUrl}/metrics`, { headers: auth() })).text()
    expect(metrics).toMatch(/doorstep_messages_invalid_total\{reason="schema"\} 2/)
    // Every message counts as received, valid or not; counts carry over from one scrape to the next.
    expect(await received('heartbeat')).toBe(heartbeatsBefore + 3)
    expect(await received('event')).toBe(eventsBefore + 1)
    await end(unit)
  })

  it('a wrong password, an unknown unit and a disabled unit are refused with the proper CONNACK code', async () => {
    expect(await refusedCode(t.gateway.mqttUrl, creds.id, `${creds.secret}x`)).toBe(4)
    expect(await refusedCode(t.gateway.mqttUrl, 'cam-nobody', creds.secret)).toBe(4)
    const other = await t.gateway.registry.create(deviceRow({ id: 'cam-sk-off' }))
    await t.gateway.registry.setEnabled(other.id, false)
    expect(await refusedCode(t.gateway.mqttUrl, other.id, other.secret)).toBe(5)
    // Client id and username must be the same device id.
    expect(await refusedCode(t.gateway.mqttUrl, creds.id, creds.secret, { clientId: 'cam-sk-999' })).toBe(2)
  })

  it("a unit publishing on another unit's topic is cut off and nothing is stored", async () => {
    const victim = await t.gateway.registry.create(deviceRow({ id: 'cam-sk-victim' }))
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    const closed = new Promise<void>((resolve) => unit.once('close', () => resolve()))
    unit.publish(topicFor('heartbeat', victim.id), JSON.stringify(heartbeat({ uptimeS: 424_242 })), {
      qos: 1,
    })
    await closed
    // The unit's own next reading lands: anything queued before it would have been written with or before it.
    const again = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    await publish(again, topicFor('heartbeat', creds.id), heartbeat({ uptimeS: 434_343 }), 0)
    await expect
      .poll(() =>
        influxCount(t.influxUrl, t.db, `SELECT count(uptime_s) FROM heartbeat WHERE uptime_s = 434343`),
      )
      .toBe(1)
    await end(again)
    expect(
      await influxCount(
        t.influxUrl,
        t.db,
        `SELECT count(uptime_s) FROM heartbeat WHERE device = '${victim.id}'`,
      ),
    ).toBe(0)
    unit.end(true)
  })

  it('a unit may subscribe only to its own command topic', async () => {
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    const grant = (topic: string) => granted(unit, topic)
    expect(await grant(topicFor('cmd', creds.id))).toBe(1)
    expect(await grant('cam/+/event')).toBe(128)
    expect(await grant('#')).toBe(128)
    expect(await grant(topicFor('cmd', 'cam-sk-victim'))).toBe(128)
    await end(unit)
  })

  it('mosquitto_pub with provisioned credentials lands a heartbeat; a wrong password is refused', async () => {
    const port = new URL(t.gateway.mqttUrl).port
    const payload = JSON.stringify(heartbeat({ uptimeS: 515_151 }))
    const args = ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-i', creds.id, '-u', creds.id, '-q', '0']
    await run('mosquitto_pub', [
      ...args,
      '-P',
      creds.secret,
      '-t',
      topicFor('heartbeat', creds.id),
      '-m',
      payload,
    ])
    await expect
      .poll(() =>
        influxCount(t.influxUrl, t.db, 'SELECT count(uptime_s) FROM heartbeat WHERE uptime_s = 515151'),
      )
      .toBe(1)
    const refused = await run('mosquitto_pub', [
      ...args,
      '-P',
      'wrong-secret',
      '-t',
      topicFor('heartbeat', creds.id),
      '-m',
      payload,
    ]).then(
      () => null,
      (err: { stderr: string; code: number }) => err,
    )
    expect(refused?.code).not.toBe(0)
    expect(refused?.stderr).toMatch(/not authori[sz]ed|bad user name or password|Connection Refused/i)
  })

  it('HTTP refuses a missing token, a wrong role, and a bad body with a clear error', async () => {
    const noToken = await fetch(`${t.gateway.httpUrl}/api/v1/devices`)
    expect(noToken.status).toBe(401)
    expect(await noToken.json()).toMatchObject({ error: { code: 'DOORSTEP_ERR_UNAUTHENTICATED' } })
    const { token } = await t.gateway.tokens.issue('a homeowner', 'owner', 'owner@example.org')
    const owner = await fetch(`${t.gateway.httpUrl}/api/v1/devices`, {
      headers: bearer(token),
    })
    expect(owner.status).toBe(403)
    const bad = await fetch(`${t.gateway.httpUrl}/api/v1/devices`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({ ...deviceRow(), district: 62 }),
    })
    expect(bad.status).toBe(400)
    const body = (await bad.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('DOORSTEP_ERR_BAD_REQUEST')
    expect(body.error.message).toMatch(/district/)
  })

  it('imports units from CSV, all or nothing, and lists them by district', async () => {
    const csv = [
      'serial,district,address,ownerContact,lat,lon',
      'CSV-1,33,1 Pine Rd,a@x,29.1,117.1',
      'CSV-2,33,2 Pine Rd,b@x,29.1,117.1',
    ].join('\n')
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/devices/import`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/csv' },
      body: csv,
    })
    expect(res.status).toBe(201)
    expect(((await res.json()) as { created: unknown[] }).created).toHaveLength(2)
    const bad = await fetch(`${t.gateway.httpUrl}/api/v1/devices/import`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/csv' },
      body: `${csv.split('\n')[0]}\nCSV-3,33,3 Pine Rd,c@x,29.1,117.1\nCSV-1,33,dup,d@x,29.1,117.1`,
    })
    expect(bad.status).toBe(422)
    expect(await bad.json()).toMatchObject({ error: { details: { errors: [{ row: 1, field: 'serial' }] } } })
    const list = (await (
      await fetch(`${t.gateway.httpUrl}/api/v1/devices?district=33`, { headers: auth() })
    ).json()) as {
      total: number
    }
    expect(list.total).toBe(2)
  })
})
