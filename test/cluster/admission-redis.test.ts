import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../gateway/src/config.js'
import { createLogger } from '../../gateway/src/log.js'
import { ClusterAdmission } from '../../gateway/src/mqtt/cluster-admission.js'
import { copyRegistry } from '../../gateway/src/registry/index.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackCode } from '../helpers/mqtt.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'

const RATE = 5
const UNITS = 30

/**
 * The reconnect-storm admission shared by two gateways through a real Redis: a storm reaching both
 * nodes at once is admitted at the cluster's rate, not at each node's.
 */
describe('cluster-wide connect admission', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  const units: Array<{ id: string; secret: string }> = []

  const node = (id: string) =>
    startTestGateway({
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_NODE_ID: id,
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
      DOORSTEP_CLUSTER_CONNECT_RATE: RATE,
    })

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('admit-a')
    b = await node('admit-b')
    for (let i = 0; i < UNITS; i++) {
      units.push(
        await a.gateway.registry.create(deviceRow({ id: `cam-admit-${String(i).padStart(2, '0')}` })),
      )
    }
    await copyRegistry(a.gateway.shared, b.gateway.shared)
    await b.gateway.registry.load()
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  })

  /** One CONNECT per unit, half to each node, all at once, each from its own address; the codes by node. */
  const storm = (which: typeof units) =>
    Promise.all(
      which.map((u, i) => {
        const gw = i % 2 === 0 ? a : b
        return connackCode(gw.gateway.broker.port, u.id, u.secret, `127.77.0.${i + 1}`)
      }),
    )

  it('admits a storm through both nodes at the cluster rate, refusing the rest with CONNACK 3', async () => {
    const codes = await storm(units)
    const admitted = codes.filter((c) => c === 0).length
    const refused = codes.filter((c) => c === 3).length
    // Each node's own rate (1000/s) would admit all 30; the shared bucket holds RATE, plus what
    // refills while the storm is checked.
    expect(admitted).toBeGreaterThanOrEqual(1)
    expect(admitted).toBeLessThanOrEqual(RATE + 2)
    expect(refused).toBe(UNITS - admitted)
  })

  it('refills at the cluster rate: the refused come in as the budget allows', async () => {
    await new Promise((r) => setTimeout(r, 1200))
    const codes = await storm(units)
    const admitted = codes.filter((c) => c === 0).length
    // A full bucket again (RATE), and no more: the first wave's refusals did not spend it.
    expect(admitted).toBeGreaterThanOrEqual(RATE - 1)
    expect(admitted).toBeLessThanOrEqual(RATE + 2)
  })

  it('keeps one bucket in Redis for the whole cluster and one per address, which go once idle', async () => {
    const spy = new Redis(redis.url)
    try {
      const ttl = await spy.pttl('doorstep:admission:connect')
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60_000)
      const addresses = units.map((_, i) => `doorstep:admission:addr:127.77.0.${i + 1}`)
      expect((await spy.keys('doorstep:admission:*')).sort()).toEqual(
        ['doorstep:admission:connect', ...addresses].sort(),
      )
      expect(await spy.pttl(addresses[0] as string)).toBeGreaterThan(0)
    } finally {
      spy.disconnect()
    }
  })
})

describe("one address's connect budget across the cluster", () => {
  const PER_ADDRESS = 3
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  const units: Array<{ id: string; secret: string }> = []

  const node = (id: string) =>
    startTestGateway({
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_NODE_ID: id,
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
      DOORSTEP_CLUSTER_CONNECT_RATE: 1000,
      DOORSTEP_CONNECT_RATE_PER_ADDRESS: PER_ADDRESS,
    })

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('addr-a')
    b = await node('addr-b')
    for (let i = 0; i < 12; i++) {
      units.push(await a.gateway.registry.create(deviceRow({ id: `cam-addr-${String(i).padStart(2, '0')}` })))
    }
    await copyRegistry(a.gateway.shared, b.gateway.shared)
    await b.gateway.registry.load()
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  })

  it("spends one address's budget once, whichever gateway its units reach", async () => {
    // Twelve units behind one address (a shop's router), half to each gateway, all at once: each
    // gateway's own budget would admit PER_ADDRESS, both together twice that.
    const codes = await Promise.all(
      units.map((u, i) =>
        connackCode((i % 2 === 0 ? a : b).gateway.broker.port, u.id, u.secret, '127.78.0.9'),
      ),
    )
    const admitted = codes.filter((c) => c === 0).length
    expect(admitted).toBeGreaterThanOrEqual(1)
    expect(admitted).toBeLessThanOrEqual(PER_ADDRESS + 1)
    expect(codes.filter((c) => c === 3).length).toBe(units.length - admitted)
    // Another address has its own budget.
    const other = await connackCode(
      b.gateway.broker.port,
      units[0]?.id ?? '',
      units[0]?.secret ?? '',
      '127.78.0.10',
    )
    expect(other).toBe(0)
  })
})

describe('cluster admission without an answer from Redis', () => {
  it('lets a connect through on the node budget alone, and counts it', async () => {
    // Nothing listens on this port and the client never connects: every ask fails.
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    })
    redis.on('error', () => {})
    const gate = new ClusterAdmission({
      redis,
      ratePerSecond: 1,
      up: () => true,
      log: createLogger('silent'),
    })
    expect(await gate.tryAdmit()).toBe(true)
    expect(await gate.tryAdmit()).toBe(true)
    expect(gate.unanswered).toBe(2)
    const down = new ClusterAdmission({
      redis,
      ratePerSecond: 1,
      up: () => false,
      log: createLogger('silent'),
    })
    expect(await down.tryAdmit()).toBe(true)
    expect(down.unanswered).toBe(1)
    redis.disconnect()
  })

  it('lets a connect through on the node budget when a live Redis does not answer in time', async () => {
    const server = await startTestRedis()
    const redis = new Redis(server.url)
    redis.on('error', () => {})
    const pauser = new Redis(server.url)
    try {
      const gate = new ClusterAdmission({
        redis,
        ratePerSecond: 1,
        up: () => true,
        log: createLogger('silent'),
      })
      // Redis takes no command for 2 s: the question waits past its 0.5 s.
      await pauser.call('CLIENT', 'PAUSE', '2000', 'ALL')
      expect(await gate.tryAdmit()).toBe(true)
      expect(gate.unanswered).toBe(1)
      // As at a gateway's stop: the connection closes under the question still waiting, which then
      // fails ("Connection is closed.") with nobody waiting for it any more.
      redis.disconnect()
      await pauser.call('CLIENT', 'UNPAUSE')
      expect(await pauser.ping()).toBe('PONG')
    } finally {
      redis.disconnect()
      pauser.disconnect()
      await server.stop()
    }
  })

  it('is refused as configuration without Redis to share it through', () => {
    expect(() => loadConfig({ DOORSTEP_CLUSTER_CONNECT_RATE: '50' })).toThrow(ConfigError)
    expect(() => loadConfig({ DOORSTEP_CLUSTER_CONNECT_RATE: '50' })).toThrow(/needs DOORSTEP_REDIS_URL/)
  })
})
