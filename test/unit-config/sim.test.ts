import type { UnitConfigView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_FAULTS } from '../../device-sim/src/faults.js'
import { planFleet, toDeviceCreate } from '../../device-sim/src/fleet-plan.js'
import { Scheduler } from '../../device-sim/src/scheduler.js'
import { newStats } from '../../device-sim/src/stats.js'
import { SimUnit } from '../../device-sim/src/unit.js'
import { createLimiter } from '../../device-sim/src/uploader.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { until } from '../helpers/wait.js'

/** Simulated units against the real gateway: a district change applied, heartbeats slowed, refusals. */
describe('simulated units take their remote configuration', () => {
  let t: TestGateway
  const scheduler = new Scheduler()
  const units: SimUnit[] = []
  const beats = new Map<string, number>()

  const view = async (id: string) =>
    (await api<UnitConfigView>(t.gateway.httpUrl, 'GET', `/api/v1/config/devices/${id}`, t.adminToken)).body

  beforeAll(async () => {
    t = await startTestGateway()
    scheduler.start()
    const plan = planFleet({ count: 4, idPrefix: 'cfg-' }).map((p, i) => ({
      ...p,
      district: i < 3 ? 33 : 34,
    }))
    for (const [i, p] of plan.entries()) {
      const { secret } = await t.gateway.registry.create(toDeviceCreate(p))
      const unit = new SimUnit(p, secret, {
        scheduler,
        mqttUrls: [t.gateway.mqttUrl],
        stats: newStats(1),
        clips: [],
        uploader: null,
        runUpload: createLimiter(1),
        random: Math.random,
        config: {
          heartbeatMs: 200,
          heartbeatJitter: 0.1,
          eventRate: 0,
          backoff: { baseMs: 50, capMs: 200 },
          connectTimeoutMs: 5_000,
          keepaliveS: 30,
          // The unit outside the district refuses every configuration.
          faults: { ...DEFAULT_FAULTS, configRefuseShare: i === 3 ? 1 : 0 },
          uploadOnEnd: false,
        },
      })
      units.push(unit)
      unit.start()
    }
    t.gateway.bus.on('device.heartbeat', ({ device }) =>
      beats.set(device.id, (beats.get(device.id) ?? 0) + 1),
    )
    await until('online', () => units.every((u) => u.state === 'online' && (beats.get(u.id) ?? 0) > 0))
  })
  afterAll(async () => {
    await Promise.all(units.map((u) => u.stop(500)))
    scheduler.stop()
    await t?.stop()
  })

  it('a district change is applied and reported by its online units, and their heartbeats slow down', async () => {
    const res = await api(t.gateway.httpUrl, 'PUT', '/api/v1/config/districts/33', t.adminToken, {
      heartbeatIntervalS: 10,
    })
    expect(res.status).toBe(200)
    const inDistrict = units.slice(0, 3)
    await until('applied', async () =>
      (await Promise.all(inDistrict.map((u) => view(u.id)))).every((v) => v.status === 'applied'),
    )
    for (const u of inDistrict) {
      const v = await view(u.id)
      expect(v.reported?.version).toBe(v.desired?.version)
      expect(v.reported?.running.heartbeatIntervalS).toBe(10)
    }
    expect((await view(units[3]!.id)).status).toBe('unset')
    beats.clear()
    await new Promise((r) => setTimeout(r, 2_000))
    // 200 ms before: about ten heartbeats in 2 s; now the next is 10 s away.
    for (const u of inDistrict) expect(beats.get(u.id) ?? 0).toBe(0)
    expect(beats.get(units[3]!.id) ?? 0).toBeGreaterThan(4)
  })

  it('too many motion zones, and a unit that refuses all, are flagged with the units’ reasons', async () => {
    const zones = Array.from({ length: 6 }, () => ({ x: 0, y: 0, w: 0.1, h: 0.1 }))
    const a = units[0]!
    const b = units[3]!
    await api(t.gateway.httpUrl, 'PUT', `/api/v1/config/devices/${a.id}`, t.adminToken, { motion: { zones } })
    await api(t.gateway.httpUrl, 'PUT', `/api/v1/config/devices/${b.id}`, t.adminToken, { nightMode: 'off' })
    await until(
      'refused',
      async () => (await view(a.id)).status === 'refused' && (await view(b.id)).status === 'refused',
    )
    const va = await view(a.id)
    expect(va.reported?.reason).toMatch(/unsupported motion zone count: 6/)
    expect(va.reported?.runningVersion).toBe(1)
    expect(a.remoteConfig.running.heartbeatIntervalS).toBe(10)
    expect((await view(b.id)).reported?.reason).toMatch(/locked/)
  })
})
