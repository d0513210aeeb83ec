import type { AuditEntry, ServerFrame } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Fleet } from '../../device-sim/src/fleet.js'
import type { BusEvents } from '../../gateway/src/event-bus.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'
import {
  campaign,
  campaignAction,
  campaignUnits,
  createCampaign,
  FIRMWARE_ENV,
  updateFleet,
  uploadImage,
} from './helpers.js'

type CampaignFrame = Extract<ServerFrame, { type: 'campaign' }>

/**
 * The pause rule for real: simulated units whose new firmware never boots roll back, the canary's
 * failure rate crosses the threshold, and the campaign pauses itself before any later wave is offered.
 */
describe('a canary whose units fail to boot', () => {
  let gw: TestGateway
  let fleet: Fleet
  let cleanup: () => Promise<void>
  const changes: Array<BusEvents['campaign.changed']> = []

  beforeAll(async () => {
    gw = await startTestGateway(FIRMWARE_ENV)
    gw.gateway.bus.on('campaign.changed', (c) => changes.push(c))
    ;({ fleet, cleanup } = await updateFleet(gw, 30, { bootFailRate: 1 }, 'fwbad-'))
  })
  afterAll(async () => {
    await cleanup?.()
    await gw?.stop()
  })

  it('pauses itself with the reason, resumes, pauses again, and is cancelled; all on the record', async () => {
    const model = fleet.plan[0]?.model as string
    const targets = fleet.plan.filter((u) => u.model === model)
    expect(targets.length).toBeGreaterThanOrEqual(8)
    const ops = (await gw.gateway.tokens.issue('ops-watch', 'ops')).token
    const inv = (await gw.gateway.tokens.issue('inv-watch', 'investigator')).token
    const opsSocket = await openAlerts(gw.gateway.httpUrl, ops)
    const invSocket = await openAlerts(gw.gateway.httpUrl, inv)
    try {
      const img = await uploadImage(gw.gateway.httpUrl, gw.adminToken, model, '9.0.0')
      const c = await createCampaign(gw, {
        imageId: img.body.id,
        districts: [...new Set(targets.map((u) => u.district))],
        canaryPct: 25,
        waves: [100],
        pauseFailurePct: 50,
        pauseMinFinished: 2,
      })
      const canary = (await campaignUnits(gw, c.id)).filter((u) => u.wave === 0)
      expect(canary.length).toBe(Math.ceil(targets.length / 4))
      await campaignAction(gw, c.id, 'start')

      await until('paused by itself', async () => (await campaign(gw, c.id)).state === 'paused', 30_000)
      const paused = await campaign(gw, c.id)
      expect(paused.reason).toMatch(/^failure rate 100% \(\d+ of \d+ finished\) is over 50%$/)
      expect(paused.wave).toBe(0)
      // The later wave was never offered.
      const rows = await campaignUnits(gw, c.id)
      expect(
        rows.filter((u) => u.wave === 1).every((u) => u.state === 'pending' && u.offeredAt === null),
      ).toBe(true)
      // Canary units that finished rolled back to their old firmware, and said so in hello.
      await until('canary over', async () =>
        (await campaignUnits(gw, c.id)).filter((u) => u.wave === 0).every((u) => u.state === 'rolled-back'),
      )
      for (const u of canary) {
        expect(fleet.unit(u.deviceId)?.firmware).toBe(u.fromVersion)
        expect(gw.gateway.registry.get(u.deviceId)?.firmware).toBe(u.fromVersion)
      }
      expect((await campaignUnits(gw, c.id)).find((u) => u.wave === 0)?.reason).toBe('9.0.0 did not boot')

      // The bus and the sockets said why; ops see campaigns, investigators do not.
      expect(changes.find((e) => e.campaignId === c.id && e.state === 'paused')?.reason).toBe(paused.reason)
      await until('ops frame', () =>
        opsSocket.frames.some((f) => f.type === 'campaign' && f.unit === null && f.state === 'paused'),
      )
      const unitFrames = opsSocket.frames.filter(
        (f): f is CampaignFrame => f.type === 'campaign' && f.unit !== null,
      )
      expect(unitFrames.some((f) => f.unit?.state === 'rolled-back')).toBe(true)
      expect(unitFrames.some((f) => f.unit?.state === 'installing')).toBe(true)
      expect(invSocket.frames.some((f) => f.type === 'campaign')).toBe(false)

      // Resuming counts afresh: the next wave is offered, fails as well, and pauses it again.
      expect((await campaignAction(gw, c.id, 'resume')).body.state).toBe('running')
      expect((await campaignAction(gw, c.id, 'resume')).status).toBe(409)
      await until('paused again', async () => (await campaign(gw, c.id)).state === 'paused', 30_000)
      expect((await campaign(gw, c.id)).wave).toBe(1)

      const cancelled = await campaignAction(gw, c.id, 'cancel', { reason: 'image withdrawn' })
      expect(cancelled.body.state).toBe('cancelled')
      expect(cancelled.body.reason).toBe('image withdrawn')
      expect((await campaignAction(gw, c.id, 'resume')).status).toBe(409)

      const audit = await api<{ entries: AuditEntry[] }>(
        gw.gateway.httpUrl,
        'GET',
        `/api/v1/audit?subject=campaign:${c.id}&limit=1000`,
        gw.adminToken,
      )
      const actions = audit.body.entries.map((e) => e.action)
      for (const a of [
        'campaign.create',
        'campaign.start',
        'campaign.offer',
        'campaign.unit-rolled-back',
        'campaign.auto-pause',
        'campaign.resume',
        'campaign.wave',
        'campaign.cancel',
      ])
        expect(actions, a).toContain(a)
      expect(actions.filter((a) => a === 'campaign.auto-pause')).toHaveLength(2)
      const auto = audit.body.entries.find((e) => e.action === 'campaign.auto-pause')
      expect(auto?.actor).toBe('gateway')
      expect(audit.body.entries.find((e) => e.action === 'campaign.start')?.actor).toMatch(/admin/)
    } finally {
      opsSocket.close()
      invSocket.close()
    }
  })
})
