import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { openAlerts } from '../helpers/ws.js'

describe('presence (real aedes over TCP, real influxd)', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_PRESENCE_GRACE_MS: 300 })
  })
  afterAll(async () => {
    await t?.stop()
  })

  const provision = (id: string) => t.gateway.registry.create(deviceRow({ id, district: 21 }))
  const stateOf = (id: string) => t.gateway.presence.stateOf(id).state
  const presenceRows = (id: string) =>
    influxRows(t.influxUrl, t.db, `SELECT state, reason FROM presence WHERE device = '${id}'`).then((rows) =>
      rows.map((r) => `${r.state}:${r.reason}`),
    )

  it('online on connect, offline after a clean disconnect, each change in InfluxDB and on the alert feed', async () => {
    const c = await provision('cam-pr-clean')
    const alerts = await openAlerts(t.gateway.httpUrl, t.adminToken)
    const unit = await connectUnit(t.gateway.mqttUrl, c.id, c.secret)
    expect(stateOf(c.id)).toBe('online')
    await end(unit)
    await expect.poll(() => stateOf(c.id), { timeout: 3000 }).toBe('offline')
    await expect
      .poll(() => presenceRows(c.id), { timeout: 3000 })
      .toEqual(['online:connect', 'offline:clean'])
    await expect
      .poll(() =>
        alerts.frames
          .filter((f) => f.type === 'alert' && f.alert.deviceId === c.id)
          .map((f) => f.type === 'alert' && f.alert.kind),
      )
      .toEqual(['online', 'offline'])
    alerts.close()
  })

  it('a dropped socket goes offline through the last will, after the grace period', async () => {
    const c = await provision('cam-pr-drop')
    const unit = await connectUnit(t.gateway.mqttUrl, c.id, c.secret, {
      will: {
        topic: topicFor('status', c.id),
        payload: Buffer.from(JSON.stringify({ v: 1, ts: Date.now(), state: 'offline' })),
        qos: 1,
        retain: true,
      },
    })
    unit.stream.destroy()
    // How long it waits is checked on a fake clock in grace-and-stale.test.ts; here, the real path.
    await expect.poll(() => stateOf(c.id), { timeout: 3000 }).toBe('offline')
    await expect.poll(() => presenceRows(c.id)).toEqual(['online:connect', 'offline:will'])
    unit.end(true)
  })

  it('health summarises the fleet per district, with low storage and not recording', async () => {
    const c = await provision('cam-pr-health')
    const unit = await connectUnit(t.gateway.mqttUrl, c.id, c.secret)
    await publish(unit, topicFor('heartbeat', c.id), heartbeat({ storageFreeMb: 100, recording: false }), 0)
    const get = async () =>
      (await (
        await fetch(`${t.gateway.httpUrl}/api/v1/health`, {
          headers: bearer(t.adminToken),
        })
      ).json()) as {
        districts: Array<{ district: number; lowStorage: number; notRecording: number; online: number }>
      }
    await expect
      .poll(async () => (await get()).districts.find((d) => d.district === 21))
      .toMatchObject({ lowStorage: 1, notRecording: 1 })
    const devices = (await (
      await fetch(`${t.gateway.httpUrl}/api/v1/devices?district=21&state=online`, {
        headers: bearer(t.adminToken),
      })
    ).json()) as { devices: Array<{ id: string; lastHeartbeat: { storageFreeMb: number } | null }> }
    expect(devices.devices.find((d) => d.id === c.id)?.lastHeartbeat?.storageFreeMb).toBe(100)
    await end(unit)
  })
})
