import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from './certs.js'

function refusedAt(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (err) => resolve((err as NodeJS.ErrnoException).code === 'ECONNREFUSED'))
  })
}

/**
 * DOORSTEP_PLAIN_LISTENERS=loopback: TLS on DOORSTEP_HOST, the plain ports on 127.0.0.1 only. The
 * gateway's host here is 127.0.0.2 (loopback too, so nothing leaves the machine) to tell the two apart.
 */
describe('plain listeners kept on loopback beside TLS', { timeout: 60_000 }, () => {
  const tmp = tempDir('doorstep-tls-loop-')
  let t: TestGateway

  beforeAll(async () => {
    const pki = makePki(tmp.dir)
    const server = pki.server('gateway')
    t = await startTestGateway({
      DOORSTEP_HOST: '127.0.0.2',
      DOORSTEP_TLS_CERT: server.cert,
      DOORSTEP_TLS_KEY: server.key,
      DOORSTEP_PLAIN_LISTENERS: 'loopback',
    })
  })
  afterAll(async () => {
    await t?.stop()
    tmp.cleanup()
  })

  it('binds the plain ports to 127.0.0.1 and the TLS ports to DOORSTEP_HOST', async () => {
    const g = t.gateway
    expect(g.mqttUrl).toBe(`mqtt://127.0.0.1:${g.broker.port}`)
    expect(new URL(g.httpUrl).hostname).toBe('127.0.0.1')
    expect(new URL(g.mqttsUrl).hostname).toBe('127.0.0.2')
    expect(new URL(g.httpsUrl).hostname).toBe('127.0.0.2')
    // Nothing in the clear on the gateway's own address.
    expect(await refusedAt('127.0.0.2', g.broker.port)).toBe(true)
    expect(await refusedAt('127.0.0.2', Number(new URL(g.httpUrl).port))).toBe(true)
  })

  it('a local proxy reaches the API and the broker in the clear on 127.0.0.1', async () => {
    const res = await fetch(`${t.gateway.httpUrl}/api/v1/ping`)
    expect(res.status).toBe(200)
    const { id, secret } = await t.gateway.registry.create(deviceRow({ id: 'cam-loop-01' }))
    const unit = await connectUnit(t.gateway.mqttUrl, id, secret)
    expect(unit.connected).toBe(true)
    await end(unit)
  })
})
