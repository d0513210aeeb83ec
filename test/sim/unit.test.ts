import { randomUUID } from 'node:crypto'
import { CommandAck, DeviceEvent, Heartbeat, Hello, Status, topicFor } from '@doorstep/proto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ClipFile } from '../../device-sim/src/clips.js'
import { DEFAULT_FAULTS } from '../../device-sim/src/faults.js'
import { type PlannedUnit, planFleet } from '../../device-sim/src/fleet-plan.js'
import { Scheduler } from '../../device-sim/src/scheduler.js'
import { newStats } from '../../device-sim/src/stats.js'
import { SimUnit, type UnitEnv } from '../../device-sim/src/unit.js'
import { createLimiter } from '../../device-sim/src/uploader.js'
import { tempDir } from '../helpers/tmp.js'
import { fakeClip, observer, payloadsOn, startBroker, type TestBroker } from './helpers.js'

describe('a simulated unit against a real aedes broker over TCP', () => {
  let broker: TestBroker
  let clip: ClipFile
  const tmp = tempDir('doorstep-sim-')
  const units: SimUnit[] = []
  const schedulers: Scheduler[] = []

  beforeAll(async () => {
    broker = await startBroker()
    clip = await fakeClip(tmp.dir)
  })
  afterEach(async () => {
    await Promise.all(units.splice(0).map((u) => u.stop(500)))
    for (const s of schedulers.splice(0)) s.stop()
  })
  afterAll(async () => {
    await broker.close()
    tmp.cleanup()
  })

  function makeUnit(plan: PlannedUnit, over: Partial<UnitEnv['config']> = {}, mqttUrl = broker.url) {
    const scheduler = new Scheduler()
    scheduler.start()
    schedulers.push(scheduler)
    const stats = newStats(1)
    const env: UnitEnv = {
      scheduler,
      mqttUrls: [mqttUrl],
      stats,
      clips: [clip],
      uploader: null,
      runUpload: createLimiter(2),
      random: Math.random,
      config: {
        heartbeatMs: 150,
        heartbeatJitter: 0.1,
        eventRate: 0,
        backoff: { baseMs: 50, capMs: 200 },
        connectTimeoutMs: 5_000,
        keepaliveS: 30,
        faults: DEFAULT_FAULTS,
        uploadOnEnd: false,
        ...over,
      },
    }
    const unit = new SimUnit(plan, 'not-checked-by-this-broker', env)
    units.push(unit)
    return { unit, stats }
  }

  const plan = planFleet({ count: 40, idPrefix: 'ut-' })

  it('says hello, then retained online with a retained offline will, then heartbeats', async () => {
    const p = plan[0]!
    const wills: unknown[] = []
    broker.aedes.once('client', (c) => wills.push((c as unknown as { will?: unknown }).will))
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => stats.acked.heartbeat, { timeout: 5_000 }).toBeGreaterThanOrEqual(3)
    // QoS 0 counts as acknowledged once written to the socket; the broker has it a moment later.
    await expect
      .poll(() => payloadsOn(broker, topicFor('heartbeat', p.id)).length, { timeout: 5_000 })
      .toBeGreaterThanOrEqual(3)

    const mine = broker.published.filter((m) => m.topic.startsWith(`cam/${p.id}/`))
    expect(mine[0]?.topic).toBe(topicFor('hello', p.id))
    expect(mine[1]?.topic).toBe(topicFor('status', p.id))
    const hello = Hello.parse(JSON.parse(mine[0]!.payload.toString()))
    expect(hello).toMatchObject({ model: p.model, firmware: p.firmware })
    expect(mine[0]?.qos).toBe(1)
    expect(Status.parse(JSON.parse(mine[1]!.payload.toString())).state).toBe('online')
    expect(mine[1]).toMatchObject({ qos: 1, retain: true })

    const will = wills[0] as { topic: string; payload: Buffer; qos: number; retain: boolean }
    expect(will).toMatchObject({ topic: topicFor('status', p.id), qos: 1, retain: true })
    expect(Status.parse(JSON.parse(will.payload.toString())).state).toBe('offline')

    const hbs = payloadsOn(broker, topicFor('heartbeat', p.id))
    expect(hbs.length).toBeGreaterThanOrEqual(3)
    for (const hb of hbs) expect(Heartbeat.safeParse(hb).success).toBe(true)
    expect(
      broker.published.filter((m) => m.topic === topicFor('heartbeat', p.id)).every((m) => m.qos === 0),
    ).toBe(true)
    expect(stats.connected).toBe(1)
  })

  it('a dropped link publishes the will; the unit reconnects by itself and is online again', async () => {
    const p = plan[1]!
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => unit.state, { timeout: 5_000 }).toBe('online')
    expect(unit.dropLink()).toBe(true)
    await expect.poll(() => stats.connects, { timeout: 5_000 }).toBe(2)
    // The unit counts the connect at CONNACK and publishes `online` after it.
    await expect
      .poll(() => payloadsOn(broker, topicFor('status', p.id)).map((s) => Status.parse(s).state), {
        timeout: 5_000,
      })
      .toEqual(['online', 'offline', 'online'])
    expect(stats.disconnects).toBe(1)
    expect(stats.sessionEnds).toEqual({ drop: 1 })
    expect(stats.connected).toBe(1)
  })

  it('counts a heartbeat sent just before a session ended unasked as at risk, not one before a clean stop', async () => {
    const p = plan[9]!
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => stats.acked.heartbeat, { timeout: 5_000 }).toBeGreaterThanOrEqual(1)
    expect(stats.heartbeatsAtRisk).toBe(0)
    // Every 150 ms: the last one went out well inside AT_RISK_MS of the drop.
    expect(unit.dropLink()).toBe(true)
    await expect.poll(() => stats.sessionEnds, { timeout: 5_000 }).toEqual({ drop: 1 })
    expect(stats.heartbeatsAtRisk).toBe(1)
    await expect.poll(() => stats.connects, { timeout: 5_000 }).toBe(2)
    await expect.poll(() => stats.acked.heartbeat, { timeout: 5_000 }).toBeGreaterThanOrEqual(3)
    await unit.stop(500)
    expect(stats.heartbeatsAtRisk).toBe(1)
  })

  it('says why a session ended: the broker closing it, a power cut', async () => {
    const p = plan[7]!
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => unit.state, { timeout: 5_000 }).toBe('online')
    const clients = (broker.aedes as unknown as { clients: Record<string, { close(): void }> }).clients
    clients[p.id]?.close()
    await expect.poll(() => stats.sessionEnds, { timeout: 5_000 }).toEqual({ 'server closed': 1 })
    await expect.poll(() => unit.state, { timeout: 5_000 }).toBe('online')
    expect(unit.powerCut(Date.now() + 60_000)).toBe(true)
    expect(stats.sessionEnds).toEqual({ 'server closed': 1, 'power cut': 1 })
    expect(stats.disconnects).toBe(2)
    expect(stats.connectFailures).toEqual({})
  })

  it('says why connect attempts failed: nothing listening', async () => {
    const { unit, stats } = makeUnit(plan[8]!, {}, 'mqtt://127.0.0.1:1')
    unit.start()
    await expect
      .poll(() => stats.connectFailures.ECONNREFUSED ?? 0, { timeout: 5_000 })
      .toBeGreaterThanOrEqual(2)
    expect(stats.sessionEnds).toEqual({})
    expect(stats.disconnects).toBe(0)
  })

  it('answers a ping with an ack `done`, validated by proto', async () => {
    const p = plan[2]!
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => stats.acked.status, { timeout: 5_000 }).toBe(1)
    const gw = await observer(broker.url)
    const cmdId = randomUUID()
    gw.publish(topicFor('cmd', p.id), JSON.stringify({ v: 1, ts: Date.now(), cmdId, action: 'ping' }), {
      qos: 1,
    })
    await expect.poll(() => payloadsOn(broker, topicFor('cmdAck', p.id)).length, { timeout: 5_000 }).toBe(1)
    const ack = CommandAck.parse(payloadsOn(broker, topicFor('cmdAck', p.id))[0])
    expect(ack).toMatchObject({ cmdId, status: 'done' })
    // A QoS 1 redelivery of the same command is not answered twice.
    gw.publish(topicFor('cmd', p.id), JSON.stringify({ v: 1, ts: Date.now(), cmdId, action: 'ping' }), {
      qos: 1,
    })
    // A later ping is answered only after the unit has handled the repeat (one connection, in order).
    const next = randomUUID()
    gw.publish(topicFor('cmd', p.id), JSON.stringify({ v: 1, ts: Date.now(), cmdId: next, action: 'ping' }), {
      qos: 1,
    })
    await expect.poll(() => payloadsOn(broker, topicFor('cmdAck', p.id)).length, { timeout: 5_000 }).toBe(2)
    const acks = payloadsOn(broker, topicFor('cmdAck', p.id)).map((a) => CommandAck.parse(a).cmdId)
    expect(acks).toEqual([cmdId, next])
    expect(stats.commands.ping).toBe(2)
    gw.end(true)
  })

  it('accepts a pull, refuses one for a `never` unit unless it carries a legal order, refuses an invalid command that has an id, ignores garbage', async () => {
    const ask = plan.find((u) => u.releasePolicy !== 'never')!
    const never = { ...plan.find((u) => u.id !== ask.id)!, releasePolicy: 'never' as const }
    const a = makeUnit(ask)
    const n = makeUnit(never)
    a.unit.start()
    n.unit.start()
    await expect.poll(() => a.stats.acked.status + n.stats.acked.status, { timeout: 5_000 }).toBe(2)
    const gw = await observer(broker.url)
    const pull = (id: string, cmdId: string, legalOrder?: string) =>
      gw.publish(
        topicFor('cmd', id),
        JSON.stringify({
          v: 1,
          ts: Date.now(),
          cmdId,
          action: 'pull',
          from: Date.now() - 60_000,
          to: Date.now(),
          uploadPath: `/api/v1/clips/${cmdId}`,
          ...(legalOrder ? { legalOrder } : {}),
        }),
        { qos: 1 },
      )
    const c1 = randomUUID()
    const c2 = randomUUID()
    const c3 = randomUUID()
    const c4 = randomUUID()
    pull(ask.id, c1)
    pull(never.id, c2)
    gw.publish(
      topicFor('cmd', ask.id),
      JSON.stringify({ v: 1, ts: Date.now(), cmdId: c3, action: 'reboot' }),
      { qos: 1 },
    )
    gw.publish(topicFor('cmd', ask.id), 'not json at all', { qos: 1 })
    await expect.poll(() => payloadsOn(broker, topicFor('cmdAck', ask.id)).length, { timeout: 5_000 }).toBe(2)
    await expect
      .poll(() => payloadsOn(broker, topicFor('cmdAck', never.id)).length, { timeout: 5_000 })
      .toBe(1)
    const acks = payloadsOn(broker, topicFor('cmdAck', ask.id)).map((x) => CommandAck.parse(x))
    expect(acks.find((x) => x.cmdId === c1)?.status).toBe('accepted')
    expect(acks.find((x) => x.cmdId === c3)).toMatchObject({
      status: 'refused',
      reason: expect.stringMatching(/invalid command/),
    })
    expect(CommandAck.parse(payloadsOn(broker, topicFor('cmdAck', never.id))[0])).toMatchObject({
      cmdId: c2,
      status: 'refused',
    })
    // The same unit, asked again under a legal order, accepts.
    pull(never.id, c4, 'ORDER-2026-117')
    await expect
      .poll(() => payloadsOn(broker, topicFor('cmdAck', never.id)).map((x) => CommandAck.parse(x)), {
        timeout: 5_000,
      })
      .toContainEqual(expect.objectContaining({ cmdId: c4, status: 'accepted' }))
    await expect.poll(() => a.stats.commands.invalid).toBe(2)
    gw.end(true)
  })

  it('an event goes start → (update) → end with the clip, every phase valid for proto', async () => {
    const p = plan[5]!
    const { unit, stats } = makeUnit(p)
    unit.start()
    await expect.poll(() => unit.state, { timeout: 5_000 }).toBe('online')
    expect(unit.trigger('person')).toBe(true)
    expect(unit.trigger('person')).toBe(false)
    await expect.poll(() => stats.events, { timeout: 5_000 }).toBe(1)
    // The unit counts the event when it sends `end`; the broker has it a moment later.
    const received = () => payloadsOn(broker, topicFor('event', p.id)).map((e) => DeviceEvent.parse(e))
    await expect.poll(() => received().at(-1)?.phase, { timeout: 5_000 }).toBe('end')
    const phases = received()
    expect(phases[0]?.phase).toBe('start')
    expect(new Set(phases.map((e) => e.eventId)).size).toBe(1)
    expect(phases.every((e) => e.kind === 'person')).toBe(true)
    expect(phases.at(-1)?.clip).toEqual({
      bytes: clip.bytes,
      sha256: clip.sha256,
      durationMs: clip.durationMs,
      codec: 'h264',
    })
    await expect.poll(() => stats.acked.event).toBe(phases.length)
  })

  it('retries with backoff while the broker answers CONNACK 3 (admission limit), then gets in', async () => {
    let refusals = 3
    const gated = await startBroker({
      authenticate: (_client, _user, _pass, done) => {
        if (refusals-- > 0) return done(Object.assign(new Error('busy'), { returnCode: 3 }), false)
        done(null, true)
      },
    })
    try {
      const { unit, stats } = makeUnit(plan[6]!, { backoff: { baseMs: 20, capMs: 100 } }, gated.url)
      unit.start()
      await expect.poll(() => unit.state, { timeout: 5_000 }).toBe('online')
      expect(stats.refusedConnects).toBe(3)
      expect(stats.connectFailures).toEqual({ 'CONNACK 3': 3 })
      expect(stats.connects).toBe(1)
      expect(stats.errors).toBe(0)
    } finally {
      await Promise.all(units.splice(0).map((u) => u.stop(500)))
      await gated.close()
    }
  })
})
