import {
  createDecipheriv,
  createECDH,
  createPublicKey,
  type ECDH,
  hkdfSync,
  randomBytes,
  verify,
} from 'node:crypto'
import { type NotificationPayload, topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { notifyApi, type Received, startReceiver } from './helpers.js'

const b64u = (b: Buffer) => b.toString('base64url')

/** A browser's side of a push subscription: its ECDH key pair (P-256) and auth secret (RFC 8291 §2). */
function browserKeys(): { ecdh: ECDH; p256dh: string; auth: Buffer } {
  const ecdh = createECDH('prime256v1')
  ecdh.generateKeys()
  return { ecdh, p256dh: b64u(ecdh.getPublicKey()), auth: randomBytes(16) }
}

/**
 * What the browser does with a push: the aes128gcm record (RFC 8188 §2) keyed as RFC 8291 §3.3-3.4
 * says, from its private key, the sender's public key in the header's key id, and the auth secret.
 */
function decryptPush(body: Buffer, ua: { ecdh: ECDH; auth: Buffer }): string {
  const salt = body.subarray(0, 16)
  const idLen = body[20] ?? 0
  const asPublic = body.subarray(21, 21 + idLen)
  const record = body.subarray(21 + idLen)
  const secret = ua.ecdh.computeSecret(asPublic)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.ecdh.getPublicKey(), asPublic])
  const ikm = Buffer.from(hkdfSync('sha256', secret, ua.auth, keyInfo, 32))
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16))
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12))
  const d = createDecipheriv('aes-128-gcm', cek, nonce)
  d.setAuthTag(record.subarray(record.length - 16))
  const plain = Buffer.concat([d.update(record.subarray(0, record.length - 16)), d.final()])
  // The last record ends with the delimiter 0x02 and zero padding (RFC 8188 §2).
  let end = plain.length - 1
  while (end >= 0 && plain[end] === 0) end--
  expect(plain[end]).toBe(2)
  return plain.subarray(0, end).toString()
}

/** The VAPID token (RFC 8292 §2): an ES256 JWT signed by the key in `k`, for the endpoint's origin. */
function checkVapid(r: Received, endpoint: string, publicKey: string): Record<string, unknown> {
  const m = /^vapid t=([^,]+), k=(.+)$/.exec(String(r.headers.authorization))
  if (!m?.[1] || !m[2]) throw new Error(`no VAPID authorization: ${r.headers.authorization}`)
  expect(m[2]).toBe(publicKey)
  const [h, p, s] = m[1].split('.')
  const raw = Buffer.from(publicKey, 'base64url')
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65)) },
    format: 'jwk',
  })
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s ?? '', 'base64url'),
  )
  expect(ok).toBe(true)
  expect(JSON.parse(Buffer.from(h ?? '', 'base64url').toString())).toMatchObject({ alg: 'ES256' })
  const claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>
  expect(claims.aud).toBe(new URL(endpoint).origin)
  expect(claims.exp).toBeGreaterThan(Date.now() / 1000)
  return claims
}

describe('notifications by Web Push (a local push-service stand-in)', () => {
  let t: TestGateway
  let service: Awaited<ReturnType<typeof startReceiver>>

  beforeAll(async () => {
    service = await startReceiver([201])
    t = await startTestGateway({ DOORSTEP_PUSH_SUBJECT: 'mailto:ops@police.test' })
  })
  afterAll(async () => {
    await t?.stop()
    await service?.close()
  })

  it('a subscribed browser gets the push, encrypted for it and signed with the VAPID key', async () => {
    const base = t.gateway.httpUrl
    const ops = (await t.gateway.tokens.issue('ops-push', 'ops')).token
    const investigator = (await t.gateway.tokens.issue('inv-push', 'investigator')).token
    const key = await api<{ publicKey: string }>(base, 'GET', '/api/v1/notify/push/key', ops)
    expect(key.status).toBe(200)
    expect(Buffer.from(key.body.publicKey, 'base64url')).toHaveLength(65)

    const browser = browserKeys()
    const endpoint = `${service.url}/push/browser-1`
    const keys = { p256dh: browser.p256dh, auth: b64u(browser.auth) }
    const refused = await api<{ error: { code: string } }>(
      base,
      'POST',
      '/api/v1/notify/push/subscriptions',
      ops,
      {
        endpoint: 'http://push.example.org/x',
        keys,
      },
    )
    expect(refused.body.error.code).toBe('DOORSTEP_ERR_PUSH_ENDPOINT')
    const sub = await api<{ id: string }>(base, 'POST', '/api/v1/notify/push/subscriptions', ops, {
      endpoint,
      keys,
    })
    expect(sub.status).toBe(201)

    const n = notifyApi(base, t.adminToken)
    const push = await n.channel({ type: 'push', name: 'dashboards' })
    const rule = await n.rule({ name: 'storage 52', kind: 'low-storage', district: 52, channels: [push.id] })
    const c = await t.gateway.registry.create(deviceRow({ id: 'cam-nt-push', district: 52 }))
    const unit = await connectUnit(t.gateway.mqttUrl, c.id, c.secret)
    await publish(
      unit,
      topicFor('heartbeat', c.id),
      heartbeat({ storageFreeMb: 100, storageTotalMb: 65_536 }),
    )
    await expect.poll(() => service.received.length, { timeout: 10_000 }).toBe(1)
    const [got] = service.received
    if (!got) throw new Error('no push')
    expect(got.headers['content-encoding']).toBe('aes128gcm')
    expect(Number(got.headers.ttl)).toBeGreaterThan(0)
    expect(checkVapid(got, endpoint, key.body.publicKey).sub).toBe('mailto:ops@police.test')
    const payload = JSON.parse(decryptPush(got.body, browser)) as NotificationPayload
    expect(payload).toMatchObject({ kind: 'low-storage', deviceId: 'cam-nt-push', ruleId: rule.id })
    await expect.poll(async () => (await n.notifications(rule.id)).map((x) => x.status)).toEqual(['sent'])

    // Only its own browser: another staff member cannot remove it; its owner can.
    const path = `/api/v1/notify/push/subscriptions/${sub.body.id}`
    expect((await api(base, 'DELETE', path, investigator)).status).toBe(404)
    expect((await api(base, 'DELETE', path, ops)).status).toBe(200)
    // With no browser subscribed, a push is sent to nobody: the delivery ends and the stand-in hears nothing.
    const tamper = await n.rule({ name: 'tamper 52', kind: 'tamper', district: 52, channels: [push.id] })
    await publish(unit, topicFor('event', c.id), event({ kind: 'tamper' }))
    await expect.poll(async () => (await n.notifications(tamper.id)).map((x) => x.status)).toEqual(['sent'])
    expect(service.received).toHaveLength(1)
    await end(unit)
  })
})
