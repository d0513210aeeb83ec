import { Heartbeat, Status, topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClipFile } from '../../device-sim/src/clips.js'
import { type Fleet, startFleet } from '../../device-sim/src/fleet.js'
import { tempDir } from '../helpers/tmp.js'
import { fakeClip, startBroker, type TestBroker } from './helpers.js'

/**
 * A gate that turns every unit away once (CONNACK 3, as the gateway's admission limit does) and
 * admits it on its retry: deterministic, whatever the machine's speed.
 */
/** The fleet mixes in firmware-bug payloads (cut-off JSON among them): those parse to null. */
function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

function onceRefused() {
  const seen = new Set<string>()
  return (id: string) => {
    if (seen.has(id)) return true
    seen.add(id)
    return false
  }
}

describe('a fleet of 200 units against aedes that refuses first connects (CONNACK 3)', () => {
  const N = 200
  let broker: TestBroker
  let fleet: Fleet
  let clip: ClipFile
  const tmp = tempDir('doorstep-sim-')

  beforeAll(async () => {
    clip = await fakeClip(tmp.dir)
    const admit = onceRefused()
    broker = await startBroker({
      authenticate: (client, _u, _p, done) =>
        admit(client.id)
          ? done(null, true)
          : done(Object.assign(new Error('busy'), { returnCode: 3 }), false),
    })
    const secrets = new Map(
      Array.from({ length: N }, (_, i) => [`fl-${String(i + 1).padStart(5, '0')}`, 'unused']),
    )
    fleet = await startFleet({
      devices: N,
      mqttUrl: broker.url,
      secrets,
      clips: [clip],
      idPrefix: 'fl-',
      connectRate: 2_000,
      heartbeatS: 0.4,
      eventRate: 0,
      backoff: { baseMs: 100, capMs: 1_000 },
      faults: { badRate: 0.2 },
    })
  })
  afterAll(async () => {
    await fleet?.stop()
    await broker?.close()
    tmp.cleanup()
  })

  it('ramps every unit in, retrying CONNACK 3 with backoff', async () => {
    expect(await fleet.ready({ timeoutMs: 15_000 })).toBe(true)
    const s = fleet.stats()
    expect(s.connected).toBe(N)
    expect(s.connects).toBe(N)
    // Every unit was turned away once and came back after its backoff.
    expect(s.refusedConnects).toBe(N)
    expect(s.errors).toBe(0)
  })

  it('power-cut storm: half drop at once (wills fire), all come back together with uptime reset', async () => {
    await expect.poll(() => fleet.stats().acked.heartbeat, { timeout: 5_000 }).toBeGreaterThan(N)
    const before = fleet.stats()
    const mark = broker.published.length
    const cut = fleet.powerCut(0.5, { outageMs: 500 })
    expect(cut).toBe(N / 2)
    expect(fleet.stats().connected).toBe(N / 2)
    await expect.poll(() => fleet.stats().connected, { timeout: 15_000 }).toBe(N)
    const after = fleet.stats()
    expect(after.connects - before.connects).toBe(N / 2)
    expect(after.powerCuts).toBe(1)
    /** Units whose status went to `state` since the cut, each counted once. */
    const unitsTurned = (state: string) =>
      new Set(
        broker.published
          .slice(mark)
          .filter((p) => p.topic.endsWith('/status'))
          .filter((p) => Status.safeParse(jsonOrNull(p.payload.toString())).data?.state === state)
          .map((p) => p.topic),
      )
    // Wills are the broker's to publish once it notices each dropped socket, which can lag on a busy machine.
    await expect.poll(() => unitsTurned('offline').size, { timeout: 5_000 }).toBe(N / 2)
    // Every unit that was cut says it is back. A unit that was not cut may also be counted here: on a
    // busy machine its first "online" from the ramp can reach the broker after the mark, which is fine.
    const cutUnits = unitsTurned('offline')
    await expect
      .poll(() => [...cutUnits].filter((t) => !unitsTurned('online').has(t)).length, { timeout: 5_000 })
      .toBe(0)

    // A unit that was cut reports an uptime counted from its new boot.
    const cutUnit = fleet.plan.find((u) =>
      broker.published.slice(mark).some((p) => p.topic === topicFor('hello', u.id)),
    )!
    await expect
      .poll(
        () =>
          broker.published
            .slice(mark)
            .filter((p) => p.topic === topicFor('heartbeat', cutUnit.id))
            .map((p) => Heartbeat.safeParse(jsonOrNull(p.payload.toString())))
            .find((r) => r.success)?.data?.uptimeS,
        { timeout: 5_000 },
      )
      .toBeLessThanOrEqual(3)
  })

  it('counts exactly the heartbeats proto accepts, with bad payloads mixed in', async () => {
    const stats = fleet.stats()
    expect(stats.badPayloads.reject).toBeGreaterThan(0)
    expect(stats.badPayloads.accept).toBeGreaterThan(0)
    await fleet.stop()
    // The broker reads each unit's DISCONNECT after everything it published before it.
    await expect.poll(() => broker.aedes.connectedClients, { timeout: 5_000 }).toBe(0)
    const valid = broker.published
      .filter((p) => p.topic.endsWith('/heartbeat'))
      .filter((p) => Heartbeat.safeParse(jsonOrNull(p.payload.toString())).success).length
    expect(fleet.stats().heartbeatsValid).toBe(valid)
    expect(fleet.stats().connected).toBe(0)
  })

  it('after stop every unit’s last status is a retained offline', () => {
    const last = new Map<string, string>()
    for (const p of broker.published) {
      if (p.topic.endsWith('/status')) last.set(p.topic, Status.parse(JSON.parse(p.payload.toString())).state)
    }
    expect(last.size).toBe(N)
    expect([...last.values()].every((s) => s === 'offline')).toBe(true)
  })
})

describe('a small fleet with random link drops and skewed clocks', () => {
  const tmp = tempDir('doorstep-sim-')
  let broker: TestBroker
  let fleet: Fleet

  afterAll(async () => {
    await fleet?.stop()
    await broker?.close()
    tmp.cleanup()
  })

  it('drops links at random (wills fire) and units reconnect; skewed units stamp their own time', async () => {
    broker = await startBroker()
    const N = 20
    fleet = await startFleet({
      devices: N,
      mqttUrl: broker.url,
      secrets: new Map(
        Array.from({ length: N }, (_, i) => [`rd-${String(i + 1).padStart(5, '0')}`, 'unused']),
      ),
      clips: [await fakeClip(tmp.dir)],
      idPrefix: 'rd-',
      eventRate: 0,
      backoff: { baseMs: 50, capMs: 200 },
      // 0.5 drops per unit per second: about 10 a second across the fleet.
      faults: { disconnectsPerHour: 1800, clockSkewShare: 1, clockSkewMaxMs: 3_600_000 },
    })
    expect(await fleet.ready({ timeoutMs: 10_000 })).toBe(true)
    await expect.poll(() => fleet.stats().disconnects, { timeout: 10_000 }).toBeGreaterThanOrEqual(5)
    const offline = broker.published.filter(
      (p) =>
        p.topic.endsWith('/status') && Status.parse(JSON.parse(p.payload.toString())).state === 'offline',
    )
    expect(offline.length).toBeGreaterThanOrEqual(1)
    await expect.poll(() => fleet.stats().connects, { timeout: 10_000 }).toBeGreaterThanOrEqual(N + 5)
    expect(fleet.stats().errors).toBe(fleet.stats().errorKinds.ECONNRESET ?? 0)

    // Skew: every unit's hello is stamped with its own clock, not ours.
    const unit = fleet.unit('rd-00001')!
    expect(unit.skewMs).not.toBe(0)
    const hello = broker.published.find((p) => p.topic === topicFor('hello', unit.id))!
    const ts = (JSON.parse(hello.payload.toString()) as { ts: number }).ts
    expect(Math.abs(ts - (Date.now() + unit.skewMs))).toBeLessThan(15_000)
  })
})
