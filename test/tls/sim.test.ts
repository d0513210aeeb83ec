import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { influxRows } from '../helpers/influx-query.js'
import { tempDir } from '../helpers/tmp.js'
import { makePki } from './certs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = path.join(ROOT, 'device-sim/src/main.ts')

/** `npm run sim` against a gateway that speaks TLS only, trusting its CA with `--ca`. */
describe('the simulator over mqtts:// and https://', { timeout: 60_000 }, () => {
  const tmp = tempDir('doorstep-tls-sim-')
  let t: TestGateway
  let caFile: string

  beforeAll(async () => {
    const pki = makePki(tmp.dir)
    caFile = pki.caFile
    const server = pki.server('gateway')
    t = await startTestGateway({ DOORSTEP_TLS_CERT: server.cert, DOORSTEP_TLS_KEY: server.key })
  })
  afterAll(async () => {
    await t?.stop()
    tmp.cleanup()
  })

  function sim(extra: string[]): Promise<{ code: number | null; out: string }> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        ...['--devices', '3', '--duration-s', '2', '--heartbeat-s', '0.5', '--event-rate', '0'],
        ...['--gateway', t.gateway.mqttsUrl, '--http', t.gateway.httpsUrl, '--id-prefix', 'tls-'],
        ...['--credentials-dir', path.join(tmp.dir, 'credentials')],
        ...extra,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DOORSTEP_ADMIN_TOKEN: t.adminToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })))
  }

  it('without --ca the self-signed gateway is not trusted, and the run says so', async () => {
    const r = await sim([])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/cannot reach the gateway at https:.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
  })

  it('with --ca it provisions over HTTPS, connects over TLS and its heartbeats land', async () => {
    const r = await sim(['--ca', caFile])
    expect(r.code, r.out).toBe(0)
    expect(r.out).not.toContain(t.adminToken)
    // The alert feed came up over wss:// too.
    expect(r.out).not.toContain('not watching alerts')
    await expect
      .poll(
        async () =>
          (await influxRows(t.influxUrl, t.db, `SELECT count(uptime_s) FROM heartbeat GROUP BY device`))
            .length,
        { timeout: 10_000 },
      )
      .toBe(3)
  })

  it('refuses --ca naming no file', async () => {
    const r = await sim(['--ca', path.join(tmp.dir, 'missing.pem')])
    expect(r.code).toBe(2)
    expect(r.out).toContain('--ca: no such file')
  })
})
