import { execFileSync } from 'node:child_process'
import path from 'node:path'
import type { FirmwareKey } from '@doorstep/proto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type SharedDb } from '../../gateway/src/db/index.js'
import type { BusEvents } from '../../gateway/src/event-bus.js'
import { FirmwareStore, type UnitRow } from '../../gateway/src/firmware/firmware-store.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { capturingLogger } from '../helpers/log.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'
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

// test:postgres: every gateway here is on its own PostgreSQL

/**
 * Firmware campaigns in a real PostgreSQL that gateways share: an offer is made by one gateway only,
 * a district's download budget holds across them, a wave opens once; and a campaign made and started
 * through one gateway updates units connected to another.
 */
let server: TestPostgres
beforeAll(async () => {
  server = await startTestPostgres()
}, 60_000)
afterAll(async () => {
  await server?.stop()
})

describe('firmware tables two gateways share', () => {
  const opened: SharedDb[] = []
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
  })

  const gateway = async (url: string, name: string) => {
    const shared = await openPostgres({ url, nodeId: name, log: capturingLogger().log })
    opened.push(shared)
    const store = new FirmwareStore(shared, name)
    await store.load()
    return store
  }

  /** Two gateways' stores, and a running campaign of `units` units in district 4, budget 2. */
  const running = async (units: number) => {
    const url = await server.database()
    const a = await gateway(url, 'a')
    const b = await gateway(url, 'b')
    const id = '5d0c2a10-0000-4000-8000-000000000001'
    await a.insertImage({
      id: '5d0c2a10-0000-4000-8000-0000000000aa',
      model: 'HC-1',
      version: '2.0.0',
      sha256: 'ab'.repeat(32),
      size: 1000,
      signature: 'sig',
      key_fingerprint: 'fp',
      uploaded_by: 'admin',
      uploaded_at: 1,
    })
    await a.insertCampaign({
      id,
      name: 'shared',
      image_id: '5d0c2a10-0000-4000-8000-0000000000aa',
      from_min: '0',
      from_max: '9',
      districts: '[4]',
      canary_pct: 10,
      waves: '[100]',
      pause_failure_pct: 50,
      pause_min_finished: 5,
      district_concurrency: 2,
      state: 'running',
      reason: null,
      created_by: 'admin',
      created_at: 1,
      started_at: 1,
      finished_at: null,
    })
    await a.insertUnits(
      Array.from({ length: units }, (_, i) => ({
        campaign_id: id,
        device_id: `cam-fw-${i}`,
        district: 4,
        wave: 0,
        ord: i,
        cmd_id: `5d0c2a10-1111-4000-8000-${String(i).padStart(12, '0')}`,
        state: 'pending' as const,
        from_version: '1.0.0',
      })),
    )
    return { a, b, id }
  }

  /** One gateway offering to each of `units` in turn, each in its own transaction, as its rollout does. */
  const offerAll = async (store: FirmwareStore, units: readonly UnitRow[], at: number) => {
    let made = 0
    for (const u of units) {
      const seen = await store.unitByCmd(u.cmd_id)
      if (seen && (await store.transaction((t) => t.claimOffer(seen, at)))) made++
    }
    return made
  }

  it('makes each offer once and keeps to the district budget when both gateways offer at once', async () => {
    const { a, b, id } = await running(12)
    const [first0, ...rest] = await a.units(id)
    if (!first0) throw new Error('no unit')
    // Rounds, since a race may go either way: one place of two taken, then the two gateways, each from
    // its own end of the line at the same moment, race for the last.
    for (let round = 0; round < 8; round++) {
      for (const u of await a.units(id))
        if (u.state !== 'pending') await a.updateUnit(u, { state: 'pending' })
      expect(await offerAll(a, [first0], 5)).toBe(1)
      const [byA, byB] = await Promise.all([offerAll(a, rest, 10), offerAll(b, [...rest].reverse(), 20)])
      expect(byA + byB, `round ${round}`).toBe(1)
      expect(await a.downloadingInDistrict(id, 4)).toBe(2)
    }
    const offered = await b.units(id, 'offered')
    expect(offered).toHaveLength(2)
    expect(offered.map((u) => u.device_id)).toContain(first0.device_id)
    // The same unit, claimed by both from the same read: one offer.
    const [first] = offered
    if (!first) throw new Error('no offer')
    await a.updateUnit(first, { state: 'pending' })
    const again = (await a.unitByCmd(first.cmd_id)) as UnitRow
    const claims = await Promise.all([
      a.transaction((t) => t.claimOffer(again, 30)),
      b.transaction((t) => t.claimOffer(again, 40)),
    ])
    expect(claims.filter(Boolean)).toHaveLength(1)
    expect((await a.unitByCmd(first.cmd_id))?.sends).toBe(first.sends + 1)
  })

  it('opens a wave once when both gateways see it through', async () => {
    const { a, b, id } = await running(3)
    const opened = await Promise.all([
      a.updateCampaign(id, { wave: 1 }, { wave: 0 }),
      b.updateCampaign(id, { wave: 1 }, { wave: 0 }),
    ])
    expect(opened.filter(Boolean)).toHaveLength(1)
    // Nor does a campaign end twice.
    const ended = await Promise.all([
      a.updateCampaign(id, { state: 'done' }, { from: ['running'] }),
      b.updateCampaign(id, { state: 'done' }, { from: ['running'] }),
    ])
    expect(ended.filter(Boolean)).toHaveLength(1)
  })

  it("tells each gateway of the other's changes, and not of its own twice", async () => {
    const { a, b, id } = await running(2)
    const heardByB: string[] = []
    const heardByA: string[] = []
    b.onUnit = (u, elsewhere) => heardByB.push(`${u.device_id}:${u.state}:${elsewhere}`)
    b.onCampaign = (c) => heardByB.push(`campaign:${c.state}`)
    a.onUnit = (u, elsewhere) => heardByA.push(`${u.device_id}:${u.state}:${elsewhere}`)
    const [u] = await a.units(id)
    if (!u) throw new Error('no unit')
    await a.transaction((t) => t.claimOffer(u, 5))
    await a.updateCampaign(id, { state: 'paused', reason: 'by hand' }, { from: ['running'] })
    await until('b heard both', () => heardByB.length === 2)
    expect(heardByB).toEqual(['cam-fw-0:offered:true', 'campaign:paused'])
    await new Promise((r) => setTimeout(r, 200))
    expect(heardByA).toEqual(['cam-fw-0:offered:false'])
    // A change rolled back is told to no one.
    await expect(
      b.transaction(async (t) => {
        await t.updateUnit(u, { state: 'failed' })
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    await new Promise((r) => setTimeout(r, 300))
    expect(heardByA).toEqual(['cam-fw-0:offered:false'])
    expect((await a.unitByCmd(u.cmd_id))?.state).toBe('offered')
  })
})

describe('a campaign made through one gateway, for units connected to another', () => {
  let a: TestGateway
  let b: TestGateway
  const shared = tempDir('doorstep-fw-shared-')
  const keys = tempDir('doorstep-fw-key-')

  beforeAll(async () => {
    const url = await server.database()
    const keyFile = path.join(keys.dir, 'firmware.pem')
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', keyFile])
    const env = {
      ...FIRMWARE_ENV,
      DOORSTEP_DATABASE_URL: url,
      DOORSTEP_SHARED_DIR: shared.dir,
      DOORSTEP_FIRMWARE_KEY_FILE: keyFile,
    }
    a = await startTestGateway({ ...env, DOORSTEP_NODE_ID: 'fw-a' })
    b = await startTestGateway({ ...env, DOORSTEP_NODE_ID: 'fw-b' })
  }, 60_000)
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    shared.cleanup()
    keys.cleanup()
  })

  it('offers each unit once, from the gateway it is connected to, and every gateway follows it to done', async () => {
    const { fleet, cleanup } = await updateFleet(b, 6, {}, 'fwpg-')
    try {
      const heardOnA: Array<BusEvents['campaign.unit']> = []
      const offA = a.gateway.bus.on('campaign.unit', (u) => heardOnA.push(u))
      const model = fleet.plan[0]?.model as string
      const targets = fleet.plan.filter((u) => u.model === model)
      await until('a to know the units b provisioned', () =>
        targets.every((t) => a.gateway.registry.get(t.id) !== undefined),
      )
      // The same key on both: a unit checks every image against the one it carries.
      const keyA = await api<FirmwareKey>(a.gateway.httpUrl, 'GET', '/api/v1/firmware/key', a.adminToken)
      const keyB = await api<FirmwareKey>(b.gateway.httpUrl, 'GET', '/api/v1/firmware/key', b.adminToken)
      expect(keyA.body.fingerprint).toBe(keyB.body.fingerprint)
      const img = await uploadImage(a.gateway.httpUrl, a.adminToken, model, '4.0.0')
      expect(img.status).toBe(201)
      const c = await createCampaign(a, {
        imageId: img.body.id,
        districts: [...new Set(targets.map((u) => u.district))],
        canaryPct: 20,
        waves: [100],
      })
      expect(c.units).toBe(targets.length)
      expect((await campaignAction(a, c.id, 'start')).body.state).toBe('running')
      await until('campaign done', async () => (await campaign(a, c.id)).state === 'done', 40_000)
      expect((await campaignUnits(b, c.id)).map((u) => u.state)).toEqual(targets.map(() => 'done'))
      for (const t of targets) expect(fleet.unit(t.id)?.firmware).toBe('4.0.0')
      // Offered once each, by b (the units' gateway); the campaign ended once.
      const audit = await a.gateway.audit.list({ after: 0, limit: 1000 })
      const offers = audit.entries.filter((e) => e.action === 'campaign.offer')
      expect(offers.map((e) => (e.details as { deviceId: string }).deviceId).sort()).toEqual(
        targets.map((t) => t.id).sort(),
      )
      expect(audit.entries.filter((e) => e.action === 'campaign.done')).toHaveLength(1)
      expect(audit.entries.filter((e) => e.action === 'campaign.wave')).toHaveLength(1)
      // a's dashboards followed units it never had a connection from, to the end.
      await until('a to hear every unit done', () =>
        targets.every((t) => heardOnA.some((u) => u.deviceId === t.id && u.state === 'done')),
      )
      offA()
    } finally {
      await cleanup()
    }
  }, 90_000)
})
