import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { announce, clipInfo, makeClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { openAlerts } from '../helpers/ws.js'
import { makePki } from './certs.js'
import { handshake, plainExchange, runTool } from './probe.js'

/** MQTT over TLS and HTTPS/WSS with an openssl-made certificate, checked with Debian's own clients. */
describe('TLS listeners (mosquitto_pub, curl, mqtt.js, ws against a real gateway)', {
  timeout: 60_000,
}, () => {
  const tmp = tempDir('doorstep-tls-')
  let t: TestGateway
  let caFile: string
  let ca: Buffer
  let unit: { id: string; secret: string }
  const mqttsPort = () => t.gateway.broker.tlsPort
  const httpsPort = () => Number(new URL(t.gateway.httpsUrl).port)

  beforeAll(async () => {
    const pki = makePki(tmp.dir)
    caFile = pki.caFile
    ca = fs.readFileSync(caFile)
    const server = pki.server('gateway')
    t = await startTestGateway({ DOORSTEP_TLS_CERT: server.cert, DOORSTEP_TLS_KEY: server.key })
  })
  afterAll(async () => {
    await t?.stop()
    tmp.cleanup()
  })

  it('curl --cacert provisions a unit over HTTPS', async () => {
    const r = await runTool('curl', [
      '-sS',
      '--cacert',
      caFile,
      '-X',
      'POST',
      `${t.gateway.httpsUrl}/api/v1/devices`,
      '-H',
      `Authorization: Bearer ${t.adminToken}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify(deviceRow({ id: 'cam-tls-001', district: 4 })),
      '-w',
      '\n%{http_code} %{ssl_verify_result}',
    ])
    expect(r.stderr).toBe('')
    const [body, status] = r.stdout.split('\n')
    expect(status).toBe('201 0')
    unit = JSON.parse(body ?? '') as { id: string; secret: string }
    expect(unit.id).toBe('cam-tls-001')
  })

  it('mosquitto_pub --cafile publishes a heartbeat over TLS that lands in InfluxDB', async () => {
    const r = await runTool('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(mqttsPort()),
      '--cafile',
      caFile,
      '-V',
      'mqttv311',
      '-i',
      unit.id,
      '-u',
      unit.id,
      '-P',
      unit.secret,
      '-q',
      '0',
      '-t',
      topicFor('heartbeat', unit.id),
      '-m',
      JSON.stringify(heartbeat({ storageFreeMb: 4321 })),
    ])
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
    await expect
      .poll(() => influxRows(t.influxUrl, t.db, `SELECT * FROM heartbeat WHERE device = '${unit.id}'`), {
        timeout: 10_000,
      })
      .toEqual([expect.objectContaining({ device: unit.id, district: '4', storage_free_mb: 4321 })])
  })

  it('a unit on mqtts:// raises an alert that reaches a dashboard on wss://', async () => {
    const alerts = await openAlerts(t.gateway.httpsUrl, t.adminToken, { ca })
    const client = await connectUnit(t.gateway.mqttsUrl, unit.id, unit.secret, { ca })
    const ev = event({ kind: 'tamper' })
    await publish(client, topicFor('event', unit.id), ev, 1)
    await expect
      .poll(() => alerts.frames.some((f) => JSON.stringify(f).includes(ev.eventId)), { timeout: 10_000 })
      .toBe(true)
    await end(client)
    alerts.close()
  })

  it('a unit uploads a clip over HTTPS (curl -T) and staff download the same bytes', async () => {
    const clip = makeClip(tmp.dir, 'tls-clip')
    const client = await connectUnit(t.gateway.mqttsUrl, unit.id, unit.secret, { ca })
    const eventId = await announce(client, unit.id, clipInfo(clip))
    await end(client)
    const put = await runTool('curl', [
      '-sS',
      '--cacert',
      caFile,
      '-u',
      `${unit.id}:${unit.secret}`,
      '-T',
      clip.path,
      '-H',
      'Content-Type: video/mp4',
      `${t.gateway.httpsUrl}/api/v1/clips/${eventId}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
    ])
    expect(put.stderr).toBe('')
    expect(put.stdout).toMatch(/^20[01]$/)
    const copy = path.join(tmp.dir, 'downloaded.mp4')
    const get = await runTool('curl', [
      '-sS',
      '--cacert',
      caFile,
      '-H',
      `Authorization: Bearer ${t.adminToken}`,
      '-o',
      copy,
      '-w',
      '%{http_code}',
      `${t.gateway.httpsUrl}/api/v1/clips/${eventId}`,
    ])
    expect(get.stdout).toBe('200')
    expect(createHash('sha256').update(fs.readFileSync(copy)).digest('hex')).toBe(clip.sha256)
  })

  it('the HTTPS port keeps the app’s timeouts (no 300 s cut of a long upload)', () => {
    const https = t.gateway.httpsServer
    expect(https?.requestTimeout).toBe(t.gateway.http.server.requestTimeout)
    expect(https?.keepAliveTimeout).toBe(t.gateway.http.server.keepAliveTimeout)
  })

  it('with TLS on and DOORSTEP_PLAIN_LISTENERS unset, the plain ports are not open', () => {
    expect(t.gateway.broker.port).toBe(0)
    expect(t.gateway.http.server.listening).toBe(false)
    expect(t.gateway.mqttUrl).toBe(t.gateway.mqttsUrl)
  })

  it('a plain MQTT CONNECT or HTTP request to a TLS port gets no protocol answer and is closed', async () => {
    // MQTT 3.1.1 CONNECT, client id "x", clean session, keep-alive 60 (section 3.1).
    const connect = Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x78])
    const mqttAnswer = await plainExchange(mqttsPort(), connect)
    expect(mqttAnswer.includes(Buffer.from([0x20, 0x02]))).toBe(false) // no CONNACK
    const httpAnswer = await plainExchange(
      httpsPort(),
      Buffer.from('GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n'),
    )
    expect(httpAnswer.toString('latin1')).not.toContain('HTTP/1.1 200')
    const curl = await runTool('curl', ['-sS', `http://127.0.0.1:${httpsPort()}/api/v1/ping`])
    expect(curl.code).not.toBe(0)
  })

  it('refuses TLS 1.0 and 1.1 handshakes on both ports, and agrees on 1.2 and 1.3', async () => {
    for (const port of [mqttsPort(), httpsPort()]) {
      for (const v of ['TLSv1', 'TLSv1.1'] as const) {
        // SECLEVEL=0 so the client's own OpenSSL offers the old version: the refusal is the server's.
        const r = await handshake(port, { ca, minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' })
        expect(r.ok).toBe(false)
        // Alert 70 comes from the server; a client that could not offer the version fails otherwise.
        if (!r.ok) expect(r.error).toMatch(/tlsv1 alert protocol version/)
      }
      for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
        const r = await handshake(port, { ca, minVersion: v, maxVersion: v })
        expect(r).toMatchObject({ ok: true, protocol: v })
      }
    }
    // The same with OpenSSL's command-line client.
    const old = await runTool('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${mqttsPort()}`,
      '-tls1_1',
      '-cipher',
      'DEFAULT@SECLEVEL=0',
      '-CAfile',
      caFile,
    ])
    expect(old.code).not.toBe(0)
    expect(old.stdout + old.stderr).toMatch(/tlsv1 alert protocol version/)
    const curlOld = await runTool('curl', [
      '-sS',
      '--cacert',
      caFile,
      '--tlsv1.0',
      '--tls-max',
      '1.1',
      '--ciphers',
      'DEFAULT@SECLEVEL=0',
      `${t.gateway.httpsUrl}/api/v1/ping`,
    ])
    expect(curlOld.code).toBe(35)
    expect(curlOld.stderr).toMatch(/tlsv1 alert protocol version/)
  })

  it('offers only forward-secret AEAD ciphers on TLS 1.2 (a CBC-only client is refused)', async () => {
    // CBC suites for the gateway's EC key, which Node's default server would accept.
    const cbcOnly = 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA'
    for (const port of [mqttsPort(), httpsPort()]) {
      const cbc = await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: cbcOnly })
      expect(cbc).toMatchObject({ ok: false, error: expect.stringMatching(/alert handshake failure/) })
      const gcm = await handshake(port, {
        ca,
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      })
      expect(gcm.ok).toBe(true)
    }
  })
})
