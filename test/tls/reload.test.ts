import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { topicFor } from '@doorstep/proto'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { stablePort } from '../helpers/ports.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { fingerprintOf, makePki, type Pki } from './certs.js'
import { handshake } from './probe.js'

/** Puts a certificate and key where the gateway reads them, as a renewal tool would. */
function install(issued: { cert: string; key: string }, live: { cert: string; key: string }): void {
  fs.copyFileSync(issued.key, live.key)
  fs.copyFileSync(issued.cert, live.cert)
}

async function servedFingerprint(port: number, ca: Buffer): Promise<string> {
  const r = await handshake(port, { ca })
  if (!r.ok) throw new Error(`handshake failed: ${r.error}`)
  return r.fingerprint
}

describe('certificate renewal without dropping connections', { timeout: 90_000 }, () => {
  const tmp = tempDir('doorstep-tls-reload-')
  let pki: Pki
  let ca: Buffer
  let live: { cert: string; key: string }

  beforeAll(() => {
    pki = makePki(tmp.dir)
    ca = fs.readFileSync(pki.caFile)
  })
  afterAll(() => tmp.cleanup())

  describe('in process: Gateway.reloadTls()', () => {
    let t: TestGateway
    beforeAll(async () => {
      live = { cert: path.join(tmp.dir, 'live.pem'), key: path.join(tmp.dir, 'live.key') }
      install(pki.server('first'), live)
      t = await startTestGateway({ DOORSTEP_TLS_CERT: live.cert, DOORSTEP_TLS_KEY: live.key })
    })
    afterAll(async () => {
      await t?.stop()
    })

    it('serves the renewed certificate to new connections; an open MQTT connection keeps publishing', async () => {
      const mqttsPort = t.gateway.broker.tlsPort
      const httpsPort = Number(new URL(t.gateway.httpsUrl).port)
      const first = fingerprintOf(live.cert)
      expect(await servedFingerprint(mqttsPort, ca)).toBe(first)
      const { id, secret } = await t.gateway.registry.create(deviceRow({ id: 'cam-renew-01' }))
      const unit = await connectUnit(t.gateway.mqttsUrl, id, secret, { ca })
      let closed = false
      unit.on('close', () => (closed = true))

      const renewed = pki.server('second')
      install(renewed, live)
      const second = fingerprintOf(renewed.cert)
      expect(second).not.toBe(first)
      expect(t.gateway.reloadTls().fingerprint).toBe(second)

      expect(await servedFingerprint(mqttsPort, ca)).toBe(second)
      expect(await servedFingerprint(httpsPort, ca)).toBe(second)
      // The connection made under the old certificate is the same one, and still carries data both ways.
      await publish(unit, topicFor('event', id), event({ kind: 'person' }), 1) // PUBACK came back
      await publish(unit, topicFor('heartbeat', id), heartbeat({ storageFreeMb: 2468 }), 0)
      await expect
        .poll(() => influxRows(t.influxUrl, t.db, `SELECT * FROM heartbeat WHERE device = '${id}'`), {
          timeout: 10_000,
        })
        .toEqual([expect.objectContaining({ storage_free_mb: 2468 })])
      expect(closed).toBe(false)
      expect((unit.stream as tls.TLSSocket).getPeerCertificate().fingerprint256).toBe(first)
      await end(unit)
    })

    it('a renewal that cannot be used (a key that is not the certificate’s) keeps the current one', async () => {
      const served = await servedFingerprint(t.gateway.broker.tlsPort, ca)
      const stray = pki.server('stray')
      fs.copyFileSync(stray.key, live.key) // the certificate is not replaced: they do not match
      expect(() => t.gateway.reloadTls()).toThrow(/cannot be used together/)
      expect(await servedFingerprint(t.gateway.broker.tlsPort, ca)).toBe(served)
    })
  })

  describe('npm start as a process: SIGHUP', () => {
    const MAIN = fileURLToPath(new URL('../../gateway/src/main.ts', import.meta.url))
    let child: ChildProcess | null = null
    afterEach(() => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })

    it('reloads the certificate; a connection opened before it is still served', async () => {
      const files = { cert: path.join(tmp.dir, 'proc.pem'), key: path.join(tmp.dir, 'proc.key') }
      install(pki.server('proc-first'), files)
      const mqttsPort = await stablePort()
      const env = {
        ...process.env,
        DOORSTEP_DATA_DIR: path.join(tmp.dir, 'proc-data'),
        DOORSTEP_INFLUX_URL: inject('influxUrl'),
        DOORSTEP_INFLUX_DB: `t_tls_proc_${process.pid}`,
        DOORSTEP_HTTP_PORT: String(await stablePort()),
        DOORSTEP_MQTT_PORT: String(await stablePort()),
        DOORSTEP_HTTPS_PORT: String(await stablePort()),
        DOORSTEP_MQTTS_PORT: String(mqttsPort),
        DOORSTEP_TLS_CERT: files.cert,
        DOORSTEP_TLS_KEY: files.key,
        DOORSTEP_ADMIN_TOKEN: 'adm_tls_reload_process_test_01',
        DOORSTEP_LOG_LEVEL: 'info',
      }
      const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child = proc
      let out = ''
      proc.stdout?.on('data', (c: Buffer) => (out += c.toString()))
      proc.stderr?.on('data', (c: Buffer) => (out += c.toString()))
      const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)))
      await until(
        'gateway ready',
        () => /"msg":"gateway ready"/.test(out) || (proc.exitCode !== null && 'exited'),
        40_000,
      )
      expect(proc.exitCode).toBeNull()
      const first = fingerprintOf(files.cert)
      expect(await servedFingerprint(mqttsPort, ca)).toBe(first)

      // Opened under the first certificate, kept open across the reload.
      const before = tls.connect({ host: '127.0.0.1', port: mqttsPort, ca, servername: 'localhost' })
      await new Promise<void>((resolve, reject) => {
        before.once('secureConnect', () => resolve())
        before.once('error', reject)
      })

      const renewed = pki.server('proc-second')
      install(renewed, files)
      proc.kill('SIGHUP')
      const second = fingerprintOf(renewed.cert)
      await until(
        'the renewed certificate to be served',
        async () => (await servedFingerprint(mqttsPort, ca)) === second,
      )
      // The log line may come through the pipe after the new certificate is already served.
      await until('the reload to be logged', () => out.includes('TLS certificate reloaded'))

      // The old connection still reaches the broker: a CONNECT with a client id that is no device id
      // (MQTT 3.1.1 section 3.1) gets its CONNACK, return code 2.
      const answer = new Promise<Buffer>((resolve) => before.once('data', (d: Buffer) => resolve(d)))
      before.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x78]))
      expect([...(await answer)]).toEqual([0x20, 2, 0, 2])
      expect(before.getPeerCertificate().fingerprint256).toBe(first)
      before.destroy()

      proc.kill('SIGINT')
      expect(await exited).toBe(0)
    })
  })
})
