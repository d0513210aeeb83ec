import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackCode, connectPacket } from '../helpers/mqtt.js'
import { v1Line, v2Ipv4 } from '../helpers/proxy-protocol.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from '../tls/certs.js'

/**
 * A gateway behind a load balancer at 127.0.0.1 (DOORSTEP_TRUSTED_PROXIES), with a budget of one new
 * connection a second per source address: the PROXY header decides whose budget a connection spends.
 * Plain MQTT on loopback and MQTT over TLS, both reached with hand-written headers.
 */
describe('MQTT connections from a trusted proxy (PROXY protocol)', { timeout: 60_000 }, () => {
  const tmp = tempDir('doorstep-proxied-')
  let t: TestGateway
  let ca: Buffer
  const secrets = new Map<string, string>()

  const refusedHeaders = async (): Promise<number> => {
    const res = await fetch(`${t.gateway.httpUrl}/metrics`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    })
    const m = /^doorstep_mqtt_proxy_headers_refused_total (\d+)/m.exec(await res.text())
    return Number(m?.[1] ?? Number.NaN)
  }
  const code = (id: string, local: string, header?: Buffer) =>
    connackCode(t.gateway.broker.port, id, secrets.get(id) as string, local, header)

  /** One CONNECT over TLS to the gateway's MQTTS port, the PROXY header sent in the clear before the handshake. */
  const tlsCode = (id: string, header: Buffer) =>
    new Promise<number | 'closed'>((resolve) => {
      const raw = net.connect({ host: '127.0.0.1', port: t.gateway.broker.tlsPort })
      raw.once('error', () => resolve('closed'))
      raw.once('connect', () => {
        raw.write(header)
        const s = tls.connect({ socket: raw, ca, servername: 'localhost' })
        const done = (c: number | 'closed') => {
          s.destroy()
          resolve(c)
        }
        s.once('secureConnect', () => s.write(connectPacket(id, secrets.get(id) as string)))
        s.once('data', (d) => done(d[0] === 0x20 && d.length >= 4 ? (d[3] ?? 'closed') : 'closed'))
        s.once('error', () => done('closed'))
        s.once('close', () => done('closed'))
      })
    })

  beforeAll(async () => {
    const pki = makePki(tmp.dir)
    ca = fs.readFileSync(pki.caFile)
    const server = pki.server('gateway')
    t = await startTestGateway({
      DOORSTEP_HOST: '127.0.0.1',
      DOORSTEP_TLS_CERT: server.cert,
      DOORSTEP_TLS_KEY: server.key,
      DOORSTEP_PLAIN_LISTENERS: 'loopback',
      DOORSTEP_TRUSTED_PROXIES: '127.0.0.1',
      DOORSTEP_CONNECT_RATE_PER_ADDRESS: 1,
    })
    for (let i = 1; i <= 8; i++) {
      const { id, secret } = await t.gateway.registry.create(deviceRow({ id: `cam-pp-0${i}` }))
      secrets.set(id, secret)
    }
  })
  afterAll(async () => {
    await t?.stop()
    tmp.cleanup()
  })

  it('goes by the address the header names: one unit spends its own budget, not the proxy’s', async () => {
    expect(await code('cam-pp-01', '127.0.0.1', v1Line('10.1.1.1'))).toBe(0)
    // Within the second, from the same unit address (v2 this time): its budget is spent.
    expect(await code('cam-pp-02', '127.0.0.1', v2Ipv4('10.1.1.1'))).toBe(3)
    // The same proxy, another unit's address: admitted.
    expect(await code('cam-pp-03', '127.0.0.1', v2Ipv4('10.1.1.2'))).toBe(0)
    expect(await refusedHeaders()).toBe(0)
  })

  it('closes a connection from the proxy that does not open with a header, and counts it', async () => {
    expect(await code('cam-pp-04', '127.0.0.1')).toBe('closed')
    await expect.poll(refusedHeaders).toBe(1)
  })

  it('believes no header from anyone else: other peers are units, with their own address', async () => {
    expect(await code('cam-pp-05', '127.0.0.7')).toBe(0)
    // A unit claiming another address is refused as the malformed MQTT it is.
    expect(await code('cam-pp-06', '127.0.0.8', v2Ipv4('10.9.9.9'))).toBe('closed')
    expect(await refusedHeaders()).toBe(1)
  })

  it('reads the header before the TLS handshake on the MQTTS port', async () => {
    expect(await tlsCode('cam-pp-07', v2Ipv4('10.3.3.3', '127.0.0.1', 40001, 8883))).toBe(0)
    expect(await tlsCode('cam-pp-08', v1Line('10.3.3.3'))).toBe(3)
  })
})
