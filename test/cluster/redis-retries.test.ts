import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRedisPair } from '../../gateway/src/mqtt/index.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit } from '../helpers/mqtt.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'

/**
 * ioredis restores a connection's subscriptions by itself once it is ready after a reconnect, with no
 * handler on those calls: Redis going away again before they are answered left a rejection unhandled,
 * which ends a gateway (and failed this suite once, Redis flapping under the alerts tests).
 */
describe('Redis connections: subscribes ioredis makes by itself', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startTestRedis()
  }, 60_000)
  afterAll(async () => {
    await redis?.stop()
  })

  it('a subscribe with no handler that fails while Redis is away is not an unhandled rejection', async () => {
    const { writer, reader } = await openRedisPair({
      url: redis.url,
      nodeId: 'n1',
      feature: 't',
      what: 'tests',
    })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      await reader.subscribe('before')
      await redis.down()
      // As ioredis's own resubscribe does: called, and nobody waits on it.
      void reader.subscribe('while-down')
      // A caller that waits still hears that it failed (the retries run out within about a second).
      await expect(reader.subscribe('awaited')).rejects.toThrow()
      await new Promise((r) => setTimeout(r, 300))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      reader.disconnect()
      writer.disconnect()
      await redis.up()
    }
  }, 30_000)
})

/**
 * aedes' Redis persistence sends some writes of a unit's will (the list of wills) without waiting for
 * them; one that fails (Redis away, or the gateway's connections closed at its stop) was an unhandled
 * rejection, and the gateway process ended with code 1 (seen at the stop of a loaded gateway).
 */
describe('Redis connections: writes the broker store sends without waiting', () => {
  let redis: TestRedis
  let gw: TestGateway
  beforeAll(async () => {
    redis = await startTestRedis()
    gw = await startTestGateway({ DOORSTEP_REDIS_URL: redis.url, DOORSTEP_NODE_ID: 'node-w' })
  }, 60_000)
  afterAll(async () => {
    await gw?.stop()
    await redis?.stop()
  })

  it('a unit with a will lost while Redis is away leaves no unhandled rejection, and the gateway goes on', async () => {
    const u = await gw.gateway.registry.create(deviceRow({ id: 'cam-will-away' }))
    const status = topicFor('status', u.id)
    const unit = await connectUnit(gw.gateway.mqttUrl, u.id, u.secret, {
      will: { topic: status, payload: Buffer.from('{"v":1,"ts":0,"state":"offline"}'), qos: 1, retain: true },
    })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      await expect.poll(() => gw.gateway.broker.isConnected(u.id)).toBe(true)
      await redis.down()
      // Link loss: no DISCONNECT, so the broker publishes the will and deletes it from the store.
      unit.stream.destroy()
      await expect.poll(() => gw.gateway.broker.isConnected(u.id)).toBe(false)
      // ioredis gives up on a command within about a second of Redis going away (REDIS_RECONNECT).
      await new Promise((r) => setTimeout(r, 2500))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      unit.end(true)
      await redis.up()
    }
    // Back with Redis: the same unit connects again, once the gateway's connections are (refused until then).
    let again: Awaited<ReturnType<typeof connectUnit>> | null = null
    for (let i = 0; i < 40 && !again; i++) {
      again = await connectUnit(gw.gateway.mqttUrl, u.id, u.secret).catch(() => null)
      if (!again) await new Promise((r) => setTimeout(r, 250))
    }
    expect(again).not.toBeNull()
    await expect.poll(() => gw.gateway.broker.isConnected(u.id)).toBe(true)
    again?.end(true)
  }, 30_000)
})
