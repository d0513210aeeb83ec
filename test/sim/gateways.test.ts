import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliError, parseCli } from '../../device-sim/src/cli-options.js'
import type { ClipFile } from '../../device-sim/src/clips.js'
import { type Fleet, startFleet } from '../../device-sim/src/fleet.js'
import { firstGateway, nextGateway, splitGatewayList } from '../../device-sim/src/gateway-list.js'
import { stablePort } from '../helpers/ports.js'
import { tempDir } from '../helpers/tmp.js'
import { fakeClip, startBroker, type TestBroker } from './helpers.js'

describe('--gateway with several URLs', () => {
  it('takes the flag again and comma lists, in order', () => {
    const o = parseCli(['--gateway', 'mqtt://a:1883,mqtt://b:1883', '--gateway', 'mqtt://c:1884'], {})
    expect(o.gateway).toEqual(['mqtt://a:1883', 'mqtt://b:1883', 'mqtt://c:1884'])
    expect(parseCli([], {}).gateway).toEqual(['mqtt://127.0.0.1:1883'])
    expect(splitGatewayList([' mqtt://a:1 ,, mqtt://b:2 '])).toEqual(['mqtt://a:1', 'mqtt://b:2'])
  })

  it('refuses a list with one bad URL, naming the flag', () => {
    expect(() => parseCli(['--gateway', 'mqtt://a:1883,http://b:80'], {})).toThrow(CliError)
    expect(() => parseCli(['--gateway', 'mqtt://a:1883,http://b:80'], {})).toThrow(/^--gateway: /)
    expect(() => parseCli(['--gateway', ','], {})).toThrow(/^--gateway: needs at least one URL/)
  })

  it('spreads unit i to URL i mod n, and moves one place on, wrapping', () => {
    expect([0, 1, 2, 3, 4].map((i) => firstGateway(i, 3))).toEqual([0, 1, 2, 0, 1])
    expect([0, 1, 2].map((at) => nextGateway(at, 3))).toEqual([1, 2, 0])
    expect(nextGateway(0, 1)).toBe(0)
  })
})

/** Client ids connected to a broker now. */
const connectedTo = (b: TestBroker) =>
  Object.keys((b.aedes as unknown as { clients: Record<string, unknown> }).clients).filter((id) =>
    id.startsWith('gw-'),
  )

describe('a fleet spread over two brokers', () => {
  const N = 6
  let a: TestBroker
  let b: TestBroker
  let fleet: Fleet
  let clip: ClipFile
  const tmp = tempDir('doorstep-sim-gw-')
  const secrets = new Map(Array.from({ length: N }, (_, i) => [`gw-${String(i + 1).padStart(5, '0')}`, 'x']))

  beforeAll(async () => {
    clip = await fakeClip(tmp.dir, 10_000)
    a = await startBroker()
    b = await startBroker()
    fleet = await startFleet({
      devices: N,
      mqttUrl: [a.url, b.url],
      secrets,
      clips: [clip],
      idPrefix: 'gw-',
      connectRate: 1_000,
      heartbeatS: 60,
      eventRate: 0,
      backoff: { baseMs: 50, capMs: 300 },
    })
  })
  afterAll(async () => {
    await fleet?.stop()
    await a?.close()
    await b?.close()
    tmp.cleanup()
  })

  it('connects unit i to URL i mod n', async () => {
    expect(await fleet.ready({ timeoutMs: 10_000 })).toBe(true)
    const ids = fleet.plan.map((p) => p.id)
    expect(connectedTo(a).sort()).toEqual(ids.filter((_, i) => i % 2 === 0))
    expect(connectedTo(b).sort()).toEqual(ids.filter((_, i) => i % 2 === 1))
    expect(fleet.unit(ids[1] ?? '')?.gatewayUrl).toBe(b.url)
  })

  it('moves the units of a broker that is gone to the next URL in their list', async () => {
    await a.close()
    await expect.poll(() => connectedTo(b).length, { timeout: 10_000 }).toBe(N)
    await expect.poll(() => fleet.stats().connected, { timeout: 5_000 }).toBe(N)
    for (const p of fleet.plan) expect(fleet.unit(p.id)?.gatewayUrl).toBe(b.url)
  })
})

describe('a fleet whose first URL answers nothing', () => {
  it('starts every unit, those placed on the dead URL on the next one', async () => {
    const tmp = tempDir('doorstep-sim-gw-')
    const live = await startBroker()
    const dead = `mqtt://127.0.0.1:${await stablePort()}`
    const clip = await fakeClip(tmp.dir, 10_000)
    const fleet = await startFleet({
      devices: 4,
      mqttUrl: [dead, live.url],
      secrets: new Map(Array.from({ length: 4 }, (_, i) => [`gw-${String(i + 1).padStart(5, '0')}`, 'x'])),
      clips: [clip],
      idPrefix: 'gw-',
      connectRate: 1_000,
      heartbeatS: 60,
      eventRate: 0,
      backoff: { baseMs: 50, capMs: 300 },
    })
    try {
      expect(await fleet.ready({ timeoutMs: 10_000 })).toBe(true)
      expect(connectedTo(live)).toHaveLength(4)
      // The two placed on the dead URL each failed there once before moving on.
      const failed = Object.values(fleet.stats().connectFailures).reduce((n, v) => n + v, 0)
      expect(failed).toBe(2)
    } finally {
      await fleet.stop()
      await live.close()
      tmp.cleanup()
    }
  })
})
