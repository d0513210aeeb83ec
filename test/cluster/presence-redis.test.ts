import { type HealthResponse, topicFor } from '@doorstep/proto'
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unitOnAll } from '../helpers/cluster.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'

interface Change {
  node: string
  id: string
  to: string
}

/**
 * Presence across two gateways sharing a real Redis, units on real TCP: each node reports the whole
 * fleet, a unit that moves between nodes does not flap, and the units of a node that went silent are
 * marked offline once, by one node.
 */
describe('presence across gateways sharing Redis', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  let spy: Redis
  const clients: MqttClient[] = []
  const changes: Change[] = []

  const node = (id: string) =>
    startTestGateway({
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_NODE_ID: id,
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
      DOORSTEP_PRESENCE_GRACE_MS: 300,
    })
  const connect = async (gw: TestGateway, id: string, secret: string) => {
    const c = await connectUnit(gw.gateway.mqttUrl, id, secret)
    clients.push(c)
    return c
  }
  const stateOn = (gw: TestGateway, id: string) => gw.gateway.presence.stateOf(id).state
  const changesOf = (id: string) => changes.filter((c) => c.id === id)

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('presence-a')
    b = await node('presence-b')
    for (const [name, gw] of [
      ['a', a],
      ['b', b],
    ] as const)
      gw.gateway.bus.on('presence.changed', ({ device, to }) =>
        changes.push({ node: name, id: device.id, to }),
      )
    spy = new Redis(redis.url)
    spy.on('error', () => {})
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    spy?.disconnect()
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  })

  it('shows a unit connected to one node as online on the other, with its last heartbeat, in the fleet health too', async () => {
    const u = await unitOnAll(a, [b], 'cam-pr-seen')
    const unit = await connect(a, u.id, u.secret)
    await publish(unit, topicFor('heartbeat', u.id), heartbeat({ storageFreeMb: 1234 }))
    await expect.poll(() => stateOn(b, u.id), { timeout: 5000 }).toBe('online')
    await expect
      .poll(() => b.gateway.presence.stateOf(u.id).lastHeartbeat?.storageFreeMb, { timeout: 5000 })
      .toBe(1234)
    const health = await api<HealthResponse>(b.gateway.httpUrl, 'GET', '/api/v1/health', b.adminToken)
    expect(health.status).toBe(200)
    expect(health.body.overall.online).toBeGreaterThanOrEqual(1)
    await end(unit)
    await expect.poll(() => stateOn(b, u.id), { timeout: 5000 }).toBe('offline')
    expect(stateOn(a, u.id)).toBe('offline')
    // One online and one offline, both told by the node that held the unit.
    expect(changesOf(u.id)).toEqual([
      { node: 'a', id: u.id, to: 'online' },
      { node: 'a', id: u.id, to: 'offline' },
    ])
  })

  it('does not flap a unit that moves to the other node: no offline, and the new node holds it', async () => {
    const u = await unitOnAll(a, [b], 'cam-pr-move')
    await connect(a, u.id, u.secret)
    await expect.poll(() => stateOn(b, u.id), { timeout: 5000 }).toBe('online')
    await a.gateway.presence.share?.flush()
    await connect(b, u.id, u.secret)
    await expect.poll(() => a.gateway.broker.isConnected(u.id), { timeout: 5000 }).toBe(false)
    // Past the old node's grace: its offline, had it been told, would be out.
    await new Promise((r) => setTimeout(r, 1500))
    expect(stateOn(a, u.id)).toBe('online')
    expect(stateOn(b, u.id)).toBe('online')
    const stored = JSON.parse((await spy.hget('doorstep:presence', u.id)) ?? '{}')
    expect(stored).toMatchObject({ state: 'online', node: 'presence-b' })
    expect(changesOf(u.id)).toEqual([{ node: 'a', id: u.id, to: 'online' }])
  })

  it('marks the units of a node gone silent offline, once, whichever node notices first', async () => {
    const ids = ['cam-pr-gone-1', 'cam-pr-gone-2']
    for (const id of ids) await unitOnAll(a, [b], id)
    // A node that held two units and stopped saying it is alive (as a killed one does).
    const now = Date.now()
    for (const id of ids)
      await spy.hset(
        'doorstep:presence',
        id,
        JSON.stringify({
          id,
          state: 'online',
          node: 'presence-x',
          since: now,
          lastSeen: now,
          lastHeartbeat: null,
          reason: 'connect',
        }),
      )
    await spy.hset('doorstep:presence:nodes', 'presence-x', String(now - 1))
    // Both nodes look every 5 s; one of them takes the units over.
    for (const id of ids) {
      await expect.poll(() => stateOn(a, id), { timeout: 12_000 }).toBe('offline')
      await expect.poll(() => stateOn(b, id), { timeout: 5000 }).toBe('offline')
    }
    await new Promise((r) => setTimeout(r, 5500))
    for (const id of ids) {
      const told = changesOf(id)
      expect(told).toHaveLength(1)
      expect(told[0]?.to).toBe('offline')
    }
    expect(await spy.hexists('doorstep:presence:nodes', 'presence-x')).toBe(0)
  })

  it('skips an announcement that is not presence, and keeps the rest of it', async () => {
    const u = await unitOnAll(a, [b], 'cam-pr-bad')
    const share = b.gateway.presence.share
    const before = share?.invalid ?? 0
    const good = {
      id: u.id,
      state: 'stale',
      node: 'presence-a',
      since: 1,
      lastSeen: 1,
      lastHeartbeat: null,
      reason: 'x',
    }
    await spy.publish('doorstep:presence:changes', JSON.stringify([{ id: u.id, state: 'flying' }, good]))
    await spy.publish('doorstep:presence:changes', 'not json')
    await expect.poll(() => (share?.invalid ?? 0) - before, { timeout: 5000 }).toBe(2)
    await expect.poll(() => stateOn(b, u.id), { timeout: 5000 }).toBe('stale')
  })
})
