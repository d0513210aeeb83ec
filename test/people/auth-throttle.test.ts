import { randomUUID } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthThrottle } from '../../gateway/src/auth/throttle.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { basic, bearer } from '../helpers/http.js'

describe('AuthThrottle (a clock of our own)', () => {
  it('refuses an address after `limit` failures until its window ends; others are not affected', () => {
    let now = 1_000_000
    const th = new AuthThrottle({ limit: 3, windowMs: 10_000, now: () => now })
    th.fail('10.0.0.1')
    th.fail('10.0.0.1')
    expect(th.retryAfterS('10.0.0.1')).toBe(0)
    th.fail('10.0.0.1')
    expect(th.retryAfterS('10.0.0.1')).toBe(10)
    expect(th.retryAfterS('10.0.0.2')).toBe(0)
    now += 4_000
    expect(th.retryAfterS('10.0.0.1')).toBe(6)
    now += 6_000
    expect(th.retryAfterS('10.0.0.1')).toBe(0)
    // A new window starts from nothing.
    th.fail('10.0.0.1')
    expect(th.retryAfterS('10.0.0.1')).toBe(0)
  })

  it('keeps memory bounded when failures come from many addresses', () => {
    let now = 0
    const th = new AuthThrottle({ limit: 3, windowMs: 10_000, now: () => now, sweepAt: 50 })
    for (let i = 0; i < 500; i++) {
      th.fail(`10.1.${i >> 8}.${i & 255}`)
      now += 1
    }
    expect(th.tracked).toBeLessThanOrEqual(50)
  })
})

/**
 * Failed bearer and HTTP Basic authentications are throttled per address on the real gateway:
 * `inject()` gives each request the source address we choose; one check goes over real HTTP from
 * 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback).
 */
describe('failed authentications are throttled per address', () => {
  const LIMIT = 5
  let t: TestGateway
  let unit: { id: string; secret: string }

  const call = async (remoteAddress: string, headers: Record<string, string>, url = '/api/v1/me') => {
    const res = await t.gateway.http.inject({ method: 'GET', url, headers, remoteAddress })
    const code = res.body ? (res.json() as { error?: { code?: string } }).error?.code : undefined
    return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] }
  }
  /** A unit's HEAD on an upload route; an unknown event answers 404 once the unit is authenticated. */
  const upload = async (remoteAddress: string, secret: string) => {
    const res = await t.gateway.http.inject({
      method: 'HEAD',
      url: `/api/v1/clips/${randomUUID()}`,
      headers: { authorization: basic(unit.id, secret) },
      remoteAddress,
    })
    return { status: res.statusCode, retryAfter: res.headers['retry-after'] }
  }

  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_AUTH_FAIL_LIMIT: LIMIT, DOORSTEP_AUTH_FAIL_WINDOW_S: 600 })
    unit = await t.gateway.registry.create(deviceRow({ id: 'cam-throttle-1' }))
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('bearer: after the limit, 429 with Retry-After for that address, right token included', async () => {
    for (let i = 0; i < LIMIT; i++) {
      expect(await call('10.9.0.1', bearer(`dst_wrong_${i}`))).toMatchObject({ status: 401 })
    }
    const refused = await call('10.9.0.1', bearer(t.adminToken))
    expect(refused).toMatchObject({ status: 429, code: 'DOORSTEP_ERR_AUTH_THROTTLED' })
    expect(Number(refused.retryAfter)).toBeGreaterThan(0)
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(600)
    // Also a token in the query (a browser's WebSocket or media request) from that address.
    expect((await call('10.9.0.1', {}, `/api/v1/clips/${randomUUID()}?token=${t.adminToken}`)).status).toBe(
      429,
    )
    // Another address is not affected.
    expect(await call('10.9.0.2', bearer(t.adminToken))).toMatchObject({ status: 200 })
  })

  it('a request without credentials is no guess and is not counted', async () => {
    for (let i = 0; i < LIMIT * 3; i++) expect((await call('10.9.0.3', {})).status).toBe(401)
    expect((await call('10.9.0.3', bearer(t.adminToken))).status).toBe(200)
  })

  it('HTTP Basic: a unit’s wrong secrets count the same way', async () => {
    expect((await upload('10.9.0.4', unit.secret)).status).toBe(404)
    for (let i = 0; i < LIMIT; i++) expect((await upload('10.9.0.4', `wrong-${i}`)).status).toBe(401)
    const refused = await upload('10.9.0.4', unit.secret)
    expect(refused.status).toBe(429)
    expect(Number(refused.retryAfter)).toBeGreaterThan(0)
    // The unit from its own address, and people from theirs, carry on.
    expect((await upload('10.9.0.5', unit.secret)).status).toBe(404)
    expect((await call('10.9.0.5', bearer(t.adminToken))).status).toBe(200)
  })

  it('over real HTTP: a client on 127.0.0.2 is throttled, one on 127.0.0.1 is not', async () => {
    const { port } = t.gateway.http.server.address() as import('node:net').AddressInfo
    const get = (localAddress: string, token: string) =>
      new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/api/v1/me', localAddress, headers: bearer(token), agent: false },
          (res) => {
            let body = ''
            res.on('data', (c: Buffer) => (body += c.toString()))
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }),
            )
          },
        )
        req.on('error', reject)
        req.end()
      })
    for (let i = 0; i < LIMIT; i++) expect((await get('127.0.0.2', `dst_guess_${i}`)).status).toBe(401)
    const refused = await get('127.0.0.2', t.adminToken)
    expect(refused.status).toBe(429)
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'DOORSTEP_ERR_AUTH_THROTTLED' } })
    expect(Number(refused.retryAfter)).toBeGreaterThan(0)
    expect((await get('127.0.0.1', t.adminToken)).status).toBe(200)
  })
})
