import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Fleet } from '../../device-sim/src/fleet.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { until } from '../helpers/wait.js'
import {
  campaign,
  campaignAction,
  campaignUnits,
  createCampaign,
  FIRMWARE_ENV,
  updateFleet,
  uploadImage,
} from './helpers.js'

/**
 * A whole rollout over real MQTT and HTTP with simulated units: canary first, then the waves; each
 * unit downloads, checks, installs, reboots and says its new firmware in `hello`.
 */
describe('a firmware campaign with healthy units', () => {
  let gw: TestGateway
  let fleet: Fleet
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    gw = await startTestGateway(FIRMWARE_ENV)
    ;({ fleet, cleanup } = await updateFleet(gw, 12, {}, 'fwok-'))
  })
  afterAll(async () => {
    await cleanup?.()
    await gw?.stop()
  })

  it('updates every matching unit, canary first, and ends done', async () => {
    const model = fleet.plan[0]?.model as string
    const targets = fleet.plan.filter((u) => u.model === model)
    const img = await uploadImage(gw.gateway.httpUrl, gw.adminToken, model, '3.0.0')
    expect(img.status).toBe(201)
    const c = await createCampaign(gw, {
      imageId: img.body.id,
      districts: [...new Set(targets.map((u) => u.district))],
      canaryPct: 10,
      waves: [50, 100],
    })
    expect(c.state).toBe('draft')
    expect(c.units).toBe(targets.length)
    expect((await campaignAction(gw, c.id, 'start')).body.state).toBe('running')
    await until('campaign done', async () => (await campaign(gw, c.id)).state === 'done', 30_000)
    const units = await campaignUnits(gw, c.id)
    expect(units.map((u) => u.state)).toEqual(targets.map(() => 'done'))
    for (const t of targets) {
      expect(fleet.unit(t.id)?.firmware).toBe('3.0.0')
      expect(gw.gateway.registry.get(t.id)?.firmware).toBe('3.0.0')
    }
    const done = await campaign(gw, c.id)
    expect(done.wave).toBe(2)
    expect(done.counts.done).toBe(targets.length)
  })
})
