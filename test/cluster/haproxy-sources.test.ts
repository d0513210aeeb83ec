import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { startTestHaproxy, type TestHaproxy } from '../helpers/haproxy.js'
import { connackCode } from '../helpers/mqtt.js'

/** A GET with a token nobody issued, from `localAddress` (any of 127.0.0.0/8 stands for a client). */
function badTokenStatus(
  url: string,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${url}/api/v1/devices`,
      { localAddress, headers: { authorization: 'Bearer not-a-token', ...headers }, agent: false },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.once('error', reject)
  })
}

/**
 * The shipped HAProxy config in front of one gateway that trusts it (DOORSTEP_TRUSTED_PROXIES): units
 * and browsers reach it from several loopback addresses, and the gateway's per-address budgets (one
 * MQTT connection a second, two refused tokens) count each client, not the proxy.
 */
describe('client addresses through HAProxy', () => {
  let gw: TestGateway
  let proxy: TestHaproxy
  const secrets = new Map<string, string>()
  const portOf = (url: string) => Number(new URL(url).port)

  beforeAll(async () => {
    gw = await startTestGateway({
      DOORSTEP_TRUSTED_PROXIES: '127.0.0.1',
      DOORSTEP_CONNECT_RATE_PER_ADDRESS: 1,
      DOORSTEP_AUTH_FAIL_LIMIT: 2,
    })
    for (let i = 1; i <= 3; i++) {
      const { id, secret } = await gw.gateway.registry.create(deviceRow({ id: `cam-src-0${i}` }))
      secrets.set(id, secret)
    }
    proxy = await startTestHaproxy([
      { name: 'gw-1', mqttPort: portOf(gw.gateway.mqttUrl), httpPort: portOf(gw.gateway.httpUrl) },
    ])
  })
  afterAll(async () => {
    await proxy?.stop()
    await gw?.stop()
  })

  it('counts each unit’s own address against the per-address connect budget', async () => {
    const port = portOf(proxy.mqttUrl)
    const code = (id: string, from: string) => connackCode(port, id, secrets.get(id) as string, from)
    expect(await code('cam-src-01', '127.0.0.2')).toBe(0)
    // Through the same proxy within the second, from another address: its own budget.
    expect(await code('cam-src-02', '127.0.0.3')).toBe(0)
    // The first address again: spent.
    expect(await code('cam-src-03', '127.0.0.2')).toBe(3)
  })

  it('throttles refused tokens per browser address, from X-Forwarded-For it believes only from the proxy', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push(await badTokenStatus(proxy.httpUrl, '127.0.0.2'))
    expect(statuses).toEqual([401, 401, 429])
    // Another browser through the same proxy is not held for the first one's failures.
    expect(await badTokenStatus(proxy.httpUrl, '127.0.0.3')).toBe(401)
    // Straight to the gateway from an address it does not trust, claiming to be the throttled one: the
    // claim is ignored (its own address has no failures) ...
    expect(await badTokenStatus(gw.gateway.httpUrl, '127.0.0.4', { 'x-forwarded-for': '127.0.0.2' })).toBe(
      401,
    )
    // ... while the same claim from the proxy's address is believed.
    expect(await badTokenStatus(gw.gateway.httpUrl, '127.0.0.1', { 'x-forwarded-for': '127.0.0.2' })).toBe(
      429,
    )
  })
})
