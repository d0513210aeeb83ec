import type { Alert, ServerFrame } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AlertHub } from '../../gateway/src/alerts/alert-hub.js'
import { RedisAlertRelay } from '../../gateway/src/alerts/redis-alert-relay.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { capturingLogger } from '../helpers/log.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'

const alertsIn = (frames: readonly ServerFrame[]): Alert[] =>
  frames.flatMap((f) => (f.type === 'alert' ? [f.alert] : []))

/** An alert as the rules raise one, told apart by its message. */
const draft = (message: string, district = 7) => ({
  kind: 'tamper' as const,
  severity: 'critical' as const,
  deviceId: 'cam-cl-alerts',
  district,
  message,
})

/**
 * Alerts across gateways sharing a real Redis: every dashboard sees every alert whichever node raised
 * it, ids are unique and in order across the cluster, a browser resumes on another node, and alerts
 * raised while Redis is down arrive, in order, once it is back.
 */
describe('alerts across gateways sharing Redis', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  const sockets: Array<{ close(): void }> = []

  const node = (id: string) => startTestGateway({ DOORSTEP_REDIS_URL: redis.url, DOORSTEP_NODE_ID: id })
  const watch = async (gw: TestGateway) => {
    const s = await openAlerts(gw.gateway.httpUrl, gw.adminToken)
    sockets.push(s)
    await until('the ready frame', () => s.frames.find((f) => f.type === 'ready'))
    return s
  }
  const messages = (frames: readonly ServerFrame[]) => alertsIn(frames).map((x) => x.message)

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('alerts-a')
    b = await node('alerts-b')
  })
  afterAll(async () => {
    for (const s of sockets) s.close()
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  })

  it('delivers an alert raised on one node to dashboards on every node, with one id everywhere', async () => {
    const onA = await watch(a)
    const onB = await watch(b)
    a.gateway.hub.raise(draft('raised on a'))
    b.gateway.hub.raise(draft('raised on b'))
    for (const s of [onA, onB]) {
      await until('both alerts', () => messages(s.frames).length >= 2 || undefined)
      expect(messages(s.frames).sort()).toEqual(['raised on a', 'raised on b'])
    }
    // The same alert has the same id on both nodes, and the two ids differ.
    expect(alertsIn(onA.frames).map((x) => x.id)).toEqual(alertsIn(onB.frames).map((x) => x.id))
    const ids = alertsIn(onA.frames).map((x) => x.id)
    expect(new Set(ids).size).toBe(2)
    // Both nodes hold the cluster's boot id, so a browser moving between them keeps its place.
    const bootOf = (s: typeof onA) => {
      const f = s.frames.find((x) => x.type === 'ready')
      return f?.type === 'ready' ? f.bootId : undefined
    }
    expect(bootOf(onA)).toBeTruthy()
    expect(bootOf(onA)).toBe(bootOf(onB))
  })

  it('numbers alerts raised on both nodes at once uniquely and in one order, seen alike everywhere', async () => {
    const onA = await watch(a)
    const onB = await watch(b)
    for (let i = 0; i < 50; i++) {
      a.gateway.hub.raise(draft(`a-${i}`))
      b.gateway.hub.raise(draft(`b-${i}`))
    }
    for (const s of [onA, onB]) await until('all 100', () => alertsIn(s.frames).length >= 100 || undefined)
    const ids = alertsIn(onA.frames).map((x) => x.id)
    expect(new Set(ids).size).toBe(100)
    expect([...ids].sort((x, y) => x - y)).toEqual(ids)
    expect(alertsIn(onB.frames)).toEqual(alertsIn(onA.frames))
    // Each node's own alerts keep the order they were raised in.
    const fromA = messages(onB.frames).filter((m) => m.startsWith('a-'))
    expect(fromA).toEqual(Array.from({ length: 50 }, (_, i) => `a-${i}`))
  })

  it('resumes a browser on another node from the last id it saw on the first', async () => {
    const onA = await watch(a)
    a.gateway.hub.raise(draft('before the move 1'))
    await until('the first', () => alertsIn(onA.frames).length >= 1 || undefined)
    const lastSeen = (alertsIn(onA.frames)[0] as Alert).id
    onA.close()
    // Raised while the browser was between nodes, on either.
    a.gateway.hub.raise(draft('missed on a'))
    b.gateway.hub.raise(draft('missed on b'))
    await until('b to hold both', () => (b.gateway.hub.lastId >= lastSeen + 2 ? true : undefined))
    const onB = await watch(b)
    onB.ws.send(JSON.stringify({ type: 'subscribe', lastId: lastSeen }))
    await until('the two missed', () => alertsIn(onB.frames).length >= 2 || undefined)
    expect(messages(onB.frames)).toEqual(['missed on a', 'missed on b'])
    expect(onB.frames.some((f) => f.type === 'gap')).toBe(false)
  })

  it('keeps alerts raised while Redis is down and delivers them, in order, once it is back', async () => {
    const onB = await watch(b)
    await redis.down()
    for (let i = 0; i < 3; i++) a.gateway.hub.raise(draft(`while down ${i}`))
    await new Promise((r) => setTimeout(r, 300))
    expect(messages(onB.frames)).toEqual([])
    await redis.up()
    await until('the three', () => messages(onB.frames).length >= 3 || undefined, 20_000)
    expect(messages(onB.frames)).toEqual(['while down 0', 'while down 1', 'while down 2'])
    // Redis came back empty (nothing is saved in the test): the count starts again above the old ids.
    const ids = alertsIn(onB.frames).map((x) => x.id)
    expect(Math.min(...ids)).toBeGreaterThan(0)
    expect([...ids].sort((x, y) => x - y)).toEqual(ids)
  }, 40_000)

  it('holds at most 10,000 alerts while Redis is away, dropping the oldest and saying so', async () => {
    const hub = new AlertHub(createMetrics())
    const logged = capturingLogger()
    const relay = new RedisAlertRelay({
      url: redis.url,
      nodeId: 'alerts-bound',
      hub,
      log: logged.log,
      capacity: 10_000,
    })
    await relay.start()
    try {
      await redis.down()
      for (let i = 0; i < 10_050; i++) hub.raise(draft(`bound ${i}`))
      expect(relay.waiting).toBe(10_000)
      const got: string[] = []
      hub.subscribe((x) => got.push(x.message))
      await redis.up()
      await until('the 10,000 kept', () => (got.length >= 10_000 ? true : undefined), 60_000)
      // The first alert was already on its way when Redis went down: it arrives, or is the 50th dropped.
      expect(got.filter((m) => m !== 'bound 0')).toEqual(
        Array.from({ length: 10_000 }, (_, i) => `bound ${i + 50}`),
      )
      expect(relay.waiting).toBe(0)
      await until(
        'the drop logged',
        () => logged.text().includes('alerts dropped while Redis was away') || undefined,
      )
    } finally {
      await relay.stop()
    }
  }, 90_000)

  it('stops within moments while Redis is down, whatever its stream read is doing', async () => {
    // The read loop is in turn blocked on a dead socket, pausing, or queued behind ioredis' reconnects;
    // stops at several moments of that cycle meet each. A queued read is never answered after a
    // disconnect, so a stop that waited for it would never end.
    for (const ms of [200, 500, 800, 1100, 1400, 1700, 2000]) {
      const hub = new AlertHub(createMetrics())
      const relay = new RedisAlertRelay({
        url: redis.url,
        nodeId: 'alerts-stop',
        hub,
        log: capturingLogger().log,
        capacity: 100,
      })
      await relay.start()
      await redis.down()
      try {
        await new Promise((r) => setTimeout(r, ms))
        hub.raise(draft('raised while down'))
        const t0 = Date.now()
        await Promise.race([relay.stop(), new Promise((r) => setTimeout(r, 5000))])
        expect(Date.now() - t0, `stopped ${ms} ms into the outage`).toBeLessThan(2000)
      } finally {
        await redis.up()
      }
    }
  }, 60_000)
})
