import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unitOnAll } from '../helpers/cluster.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { connectUnit, refusedCode } from '../helpers/mqtt.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

const HOLD_MS = 2_000

/**
 * The takeover hold across two gateways sharing a real Redis, units on real TCP: a connection that
 * reaches the other gateway while the unit's session is young (a connection the unit gave up on, let
 * in late, or placed elsewhere by a proxy) gets CONNACK 3 instead of closing that session; once the
 * session is older than the hold, the unit may move.
 */
describe('the takeover hold across gateways sharing Redis', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  const clients: MqttClient[] = []

  const node = (id: string) =>
    startTestGateway({
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_NODE_ID: id,
      DOORSTEP_TAKEOVER_HOLD_MS: HOLD_MS,
    })

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('hold-a')
    b = await node('hold-b')
  }, 60_000)
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await a?.stop()
    await b?.stop()
    await redis?.stop()
  })

  it('refuses a second connection on the other gateway while the session is young, then lets the unit move', async () => {
    const creds = await unitOnAll(b, [a], 'cam-hold-1')
    const onB = await connectUnit(b.gateway.mqttUrl, creds.id, creds.secret, { reconnectPeriod: 0 })
    clients.push(onB)
    const since = Date.now()
    await until(
      'a hears the unit is online on b',
      () => a.gateway.presence.share?.get(creds.id)?.state === 'online',
    )
    // Young: a's own broker has no session of the unit, the cluster's presence says b has one.
    expect(await refusedCode(a.gateway.mqttUrl, creds.id, creds.secret)).toBe(3)
    expect(Date.now() - since).toBeLessThan(HOLD_MS)
    expect(onB.connected).toBe(true)
    expect(b.gateway.broker.isConnected(creds.id)).toBe(true)
    const scrape = await (
      await fetch(`${a.gateway.httpUrl}/metrics`, { headers: bearer(a.adminToken) })
    ).text()
    expect(scrape).toMatch(/doorstep_mqtt_disconnects_total\{[^}]*reason="refused-takeover"[^}]*\} [1-9]/)
    // Past the hold the unit moves to a, and b drops its old connection.
    await new Promise((r) => setTimeout(r, HOLD_MS - (Date.now() - since) + 100))
    const closed = new Promise<void>((resolve) => onB.once('close', () => resolve()))
    const onA = await connectUnit(a.gateway.mqttUrl, creds.id, creds.secret, { reconnectPeriod: 0 })
    clients.push(onA)
    await closed
    expect(onA.connected).toBe(true)
    await until('b lets go of the unit', () => !b.gateway.broker.isConnected(creds.id))
  }, 30_000)
})
