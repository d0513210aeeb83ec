import type { IncomingMessage } from 'node:http'
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

/** What each injected fault of the simulator looks like from the gateway. */
describe.each([
  { fault: 'cutRate', expect: 'done', reason: null },
  { fault: 'checksumRate', expect: 'failed', reason: 'sha256 mismatch' },
  { fault: 'badDownloadRate', expect: 'failed', reason: 'download failed: connection reset' },
] as const)('simulated units with $fault 1', ({ fault, expect: outcome, reason }) => {
  let gw: TestGateway
  let fleet: Fleet
  let cleanup: () => Promise<void>
  const ranges: string[] = []

  beforeAll(async () => {
    gw = await startTestGateway(FIRMWARE_ENV)
    gw.gateway.http.server.on('request', (req: IncomingMessage) => {
      if (req.url?.includes('/download') && req.headers.range) ranges.push(req.headers.range)
    })
    ;({ fleet, cleanup } = await updateFleet(gw, 8, { [fault]: 1 }, `fw${fault.slice(0, 3)}-`))
  })
  afterAll(async () => {
    await cleanup?.()
    await gw?.stop()
  })

  it(`ends ${outcome}${reason ? ` (${reason})` : ''} for every unit`, async () => {
    const model = fleet.plan[0]?.model as string
    const targets = fleet.plan.filter((u) => u.model === model)
    const img = await uploadImage(gw.gateway.httpUrl, gw.adminToken, model, '4.0.0')
    const c = await createCampaign(gw, {
      imageId: img.body.id,
      districts: [...new Set(targets.map((u) => u.district))],
      canaryPct: 100,
      waves: [100],
      // Nothing pauses: each unit's own outcome is the point here.
      pauseFailurePct: 100,
    })
    await campaignAction(gw, c.id, 'start')
    await until('campaign done', async () => (await campaign(gw, c.id)).state === 'done', 30_000)
    const units = await campaignUnits(gw, c.id)
    expect(units.map((u) => [u.state, u.reason])).toEqual(targets.map(() => [outcome, reason]))
    for (const t of targets)
      expect(fleet.unit(t.id)?.firmware).toBe(outcome === 'done' ? '4.0.0' : t.firmware)
    // A cut download is resumed where it stopped, with a Range request, not started again.
    if (fault === 'cutRate') {
      expect(ranges.length).toBeGreaterThanOrEqual(targets.length)
      for (const r of ranges) expect(r).toMatch(/^bytes=[1-9]\d*-$/)
    } else expect(ranges).toEqual([])
  })
})
