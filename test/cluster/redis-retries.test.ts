import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRedisPair } from '../../gateway/src/mqtt/index.js'
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
