import http from 'node:http'
import net from 'node:net'
import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unitOnAll } from '../helpers/cluster.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { startTestHaproxy, type TestHaproxy } from '../helpers/haproxy.js'
import { connectPacket, connectUnit, granted, nextMessage } from '../helpers/mqtt.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'

/** A unit's MQTT connection from `localAddress` through the proxy, open once its CONNACK accepted it. */
function unitFrom(port: number, id: string, secret: string, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress })
    s.once('data', (d) =>
      d[0] === 0x20 && d[3] === 0 ? resolve(s) : reject(new Error(`${id} refused: ${d.toString('hex')}`)),
    )
    s.once('error', reject)
    s.write(connectPacket(id, secret))
  })
}

/** The status of a GET from `localAddress`, with a bearer token. */
function statusFrom(url: string, token: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { localAddress, headers: { authorization: `Bearer ${token}` }, agent: false },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.once('error', reject)
  })
}

/**
 * Two gateways sharing a real Redis behind a real HAProxy running the shipped config: units and the
 * API reach the gateways only through the proxy, and a unit whose gateway stops comes back on the other.
 */
describe('two gateways behind HAProxy', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  let proxy: TestHaproxy
  const stopped = new Set<TestGateway>()
  const clients: MqttClient[] = []

  const node = (id: string) =>
    startTestGateway({
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_NODE_ID: id,
      // The unit comes back on the other gateway at once; the hold has its own tests on one node.
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
      // The proxy's address: its MQTT connections open with a PROXY header (send-proxy-v2).
      DOORSTEP_TRUSTED_PROXIES: '127.0.0.1',
    })
  const portOf = (url: string) => Number(new URL(url).port)
  const stop = async (gw: TestGateway) => {
    stopped.add(gw)
    await gw.stop()
  }

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('node-a')
    b = await node('node-b')
    proxy = await startTestHaproxy(
      [
        ['gw-a', a],
        ['gw-b', b],
      ].map(([name, gw]) => ({
        name: name as string,
        mqttPort: portOf((gw as TestGateway).gateway.mqttUrl),
        httpPort: portOf((gw as TestGateway).gateway.httpUrl),
      })),
    )
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await proxy?.stop()
    for (const gw of [a, b]) if (gw && !stopped.has(gw)) await gw.stop()
    await redis?.stop()
  })

  it('answers the API ping through the proxy', async () => {
    const res = await fetch(`${proxy.httpUrl}/api/v1/ping`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
  })

  it("sends a unit's uploads to the gateway its MQTT connection is on, whatever its address", async () => {
    const port = portOf(proxy.mqttUrl)
    const placed = { a: 0, b: 0 }
    for (let i = 0; i < 12; i++) {
      const from = `127.0.0.${20 + i}`
      const u = await unitOnAll(a, [b], `cam-hap-src-${i}`)
      const socket = await unitFrom(port, u.id, u.secret, from)
      try {
        await expect
          .poll(() => a.gateway.broker.isConnected(u.id) || b.gateway.broker.isConnected(u.id))
          .toBe(true)
        const mqttOn = a.gateway.broker.isConnected(u.id) ? 'a' : 'b'
        // a's admin token is a's alone: a answers 200, b 401. So the status says who took the request.
        const status = await statusFrom(`${proxy.httpUrl}/api/v1/devices?limit=1`, a.adminToken, from)
        expect([200, 401]).toContain(status)
        expect(status === 200 ? 'a' : 'b', `unit from ${from}`).toBe(mqttOn)
        placed[mqttOn]++
      } finally {
        socket.destroy()
      }
    }
    // The addresses spread over both gateways, rather than all landing on one.
    expect(placed.a).toBeGreaterThan(0)
    expect(placed.b).toBeGreaterThan(0)
  })

  it('moves a unit whose gateway stops to the other, and commands reach it on either', async () => {
    const u = await unitOnAll(a, [b], 'cam-hap-move')
    const cmd = topicFor('cmd', u.id)
    // As a unit's firmware does: keep its session, reconnect by itself after a short pause.
    const unit = await connectUnit(proxy.mqttUrl, u.id, u.secret, { clean: false, reconnectPeriod: 200 })
    clients.push(unit)
    expect(await granted(unit, cmd)).toBe(1)
    await expect
      .poll(() => a.gateway.broker.isConnected(u.id) || b.gateway.broker.isConnected(u.id))
      .toBe(true)
    const [holder, other] = a.gateway.broker.isConnected(u.id) ? [a, b] : [b, a]

    // Published on the gateway the unit is not connected to.
    const first = nextMessage(unit, cmd)
    await other.gateway.broker.publish(cmd, '{"v":1,"id":"via-other","cmd":"ping"}', { qos: 1 })
    expect(JSON.parse(await first)).toMatchObject({ id: 'via-other' })

    const back = new Promise<number>((resolve) => unit.once('connect', () => resolve(Date.now())))
    const t0 = Date.now()
    await stop(holder)
    const reconnectedAt = await back
    await expect.poll(() => other.gateway.broker.isConnected(u.id), { timeout: 5_000 }).toBe(true)
    const movedMs = reconnectedAt - t0
    expect(movedMs).toBeLessThan(5_000)

    const second = nextMessage(unit, cmd)
    await other.gateway.broker.publish(cmd, '{"v":1,"id":"after-move","cmd":"ping"}', { qos: 1 })
    expect(JSON.parse(await second)).toMatchObject({ id: 'after-move' })
    // The API still answers, from the gateway left.
    expect((await fetch(`${proxy.httpUrl}/api/v1/ping`)).status).toBe(200)
    // And the proxy's health checks on the ping route took the stopped gateway out (fall 2, every 2 s).
    const name = holder === a ? 'gw-a' : 'gw-b'
    await expect
      .poll(() => proxy.output(), { timeout: 8_000, interval: 200 })
      .toMatch(new RegExp(`mqtt_gateways/${name} is DOWN`))
  })
})
