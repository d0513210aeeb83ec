import fs from 'node:fs'
import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish, refusedCode } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from './certs.js'
import { handshake } from './probe.js'

/** DOORSTEP_TLS_CLIENT_CA: a unit's certificate must name it (CN = device id), on top of its secret. */
describe('unit certificates on MQTT over TLS', { timeout: 60_000 }, () => {
  const tmp = tempDir('doorstep-tls-cn-')
  let t: TestGateway
  let ca: Buffer
  const units = ['cam-cn-001', 'cam-cn-002']
  const secrets = new Map<string, string>()
  const certOf = new Map<string, { cert: Buffer; key: Buffer }>()
  let stranger: { cert: Buffer; key: Buffer }

  beforeAll(async () => {
    const serverPki = makePki(tmp.dir, 'server-ca')
    const unitPki = makePki(tmp.dir, 'unit-ca')
    const otherPki = makePki(tmp.dir, 'other-ca')
    ca = fs.readFileSync(serverPki.caFile)
    const server = serverPki.server('gateway')
    for (const id of units) {
      const c = unitPki.client(id)
      certOf.set(id, { cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) })
    }
    // The right name, from a CA the gateway does not trust.
    const s = otherPki.client(units[0] as string)
    stranger = { cert: fs.readFileSync(s.cert), key: fs.readFileSync(s.key) }
    t = await startTestGateway({
      DOORSTEP_TLS_CERT: server.cert,
      DOORSTEP_TLS_KEY: server.key,
      DOORSTEP_TLS_CLIENT_CA: unitPki.caFile,
    })
    for (const id of units) {
      const { secret } = await t.gateway.registry.create(deviceRow({ id }))
      secrets.set(id, secret)
    }
  })
  afterAll(async () => {
    await t?.stop()
    tmp.cleanup()
  })

  const secretOf = (id: string) => secrets.get(id) as string

  it('a unit with its own certificate and secret connects and its heartbeat lands', async () => {
    const id = units[0] as string
    const client = await connectUnit(t.gateway.mqttsUrl, id, secretOf(id), { ca, ...certOf.get(id) })
    await publish(client, topicFor('heartbeat', id), heartbeat({ storageFreeMb: 777 }), 0)
    await expect
      .poll(() => influxRows(t.influxUrl, t.db, `SELECT * FROM heartbeat WHERE device = '${id}'`), {
        timeout: 10_000,
      })
      .toEqual([expect.objectContaining({ device: id, storage_free_mb: 777 })])
    await end(client)
  })

  it('a certificate naming another unit is refused with CONNACK 5, even with the right secret', async () => {
    const [a, b] = units as [string, string]
    // Unit b's certificate, presented by unit a with a's own secret.
    expect(await refusedCode(t.gateway.mqttsUrl, a, secretOf(a), { ca, ...certOf.get(b) })).toBe(5)
    // And the other way round: a's certificate does not open b's session.
    expect(await refusedCode(t.gateway.mqttsUrl, b, secretOf(b), { ca, ...certOf.get(a) })).toBe(5)
  })

  it('its own certificate does not make up for a wrong secret', async () => {
    const id = units[1] as string
    expect(await refusedCode(t.gateway.mqttsUrl, id, 'wrong-secret', { ca, ...certOf.get(id) })).toBe(4)
  })

  it('no certificate, or one from another CA, fails the handshake', async () => {
    const [a] = units as [string]
    // TLS 1.3 gives the server's verdict on the client's certificate after the client has finished its
    // side of the handshake: the unit sees it as an alert in place of CONNACK.
    await expect(connectUnit(t.gateway.mqttsUrl, a, secretOf(a), { ca })).rejects.toThrow(
      /certificate required/,
    )
    await expect(connectUnit(t.gateway.mqttsUrl, a, secretOf(a), { ca, ...stranger })).rejects.toThrow(
      /unknown ca|closed before CONNACK/,
    )
    // On TLS 1.2 the verdict is part of the handshake: OpenSSL alerts a missing certificate; Node checks
    // the chain when the handshake is done and resets the connection before it counts as established.
    const port = t.gateway.broker.tlsPort
    const none = await handshake(port, { ca, maxVersion: 'TLSv1.2' })
    const foreign = await handshake(port, { ca, maxVersion: 'TLSv1.2', ...stranger })
    expect(none).toMatchObject({ ok: false, error: expect.stringMatching(/alert handshake failure/) })
    expect(foreign).toMatchObject({ ok: false, error: expect.stringMatching(/ECONNRESET/) })
    // The unit's own certificate passes the same handshake: the refusals above are about the certificate.
    expect(await handshake(port, { ca, maxVersion: 'TLSv1.2', ...certOf.get(a) })).toMatchObject({ ok: true })
  })

  it('people on HTTPS need no certificate', async () => {
    const r = await handshake(Number(new URL(t.gateway.httpsUrl).port), { ca })
    expect(r.ok).toBe(true)
  })
})
