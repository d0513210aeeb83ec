import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { ALERT_SOCKET_CLOSE, type AuditEntry, type TokenIssued } from '@doorstep/proto'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { ADMIN_TOKEN_FILE, Gateway } from '../../gateway/src/gateway.js'
import { hostEnv, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'
import { until, within } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

describe('the bootstrap admin token (DOORSTEP_ADMIN_TOKEN) can be retired', () => {
  let t: TestGateway
  let base: string
  let restarted: TestGateway | null = null

  beforeAll(async () => {
    t = await startTestGateway()
    base = t.gateway.httpUrl
  })
  afterAll(async () => {
    await restarted?.stop()
    await t?.stop()
  })

  it('only once a stored admin token exists; then it stops working at once, sockets included', async () => {
    const early = await api<{ error: { code: string } }>(
      base,
      'POST',
      '/api/v1/tokens/retire-bootstrap',
      t.adminToken,
    )
    expect(early.status).toBe(409)
    expect(early.body.error.code).toBe('DOORSTEP_ERR_NO_ADMIN_TOKEN')
    expect((await api(base, 'GET', '/api/v1/me', t.adminToken)).status).toBe(200)

    const admin = await api<TokenIssued>(base, 'POST', '/api/v1/tokens', t.adminToken, {
      name: 'Chief Admin',
      role: 'admin',
    })
    const socket = await openAlerts(base, t.adminToken)
    await until('the bootstrap token’s socket ready', () => socket.frames.length > 0)
    const closed = new Promise<number>((resolve) => socket.ws.once('close', (code) => resolve(code)))

    const retired = await api<{ retiredAt: number }>(
      base,
      'POST',
      '/api/v1/tokens/retire-bootstrap',
      admin.body.token,
    )
    expect(retired.status).toBe(200)
    expect(retired.body.retiredAt).toEqual(expect.any(Number))
    expect((await api(base, 'GET', '/api/v1/me', t.adminToken)).status).toBe(401)
    expect(await within('the bootstrap token’s socket to close', closed, 5000)).toBe(
      ALERT_SOCKET_CLOSE.tokenRevoked,
    )
    // Asking again changes nothing and says since when.
    const again = await api<{ retiredAt: number }>(
      base,
      'POST',
      '/api/v1/tokens/retire-bootstrap',
      admin.body.token,
    )
    expect(again.body.retiredAt).toBe(retired.body.retiredAt)

    const audit = await api<{ entries: AuditEntry[] }>(
      base,
      'GET',
      '/api/v1/audit?action=token.retire-bootstrap',
      admin.body.token,
    )
    expect(audit.body.entries).toHaveLength(1)
    expect(audit.body.entries[0]?.actor).toContain('Chief Admin')
    expect(JSON.stringify(audit.body)).not.toContain(t.adminToken)

    // A restart with the same environment does not bring it back.
    await t.gateway.stop()
    restarted = await startTestGateway({ DOORSTEP_DATA_DIR: t.dataDir, DOORSTEP_ADMIN_TOKEN: t.adminToken })
    const after = restarted.gateway.httpUrl
    expect((await api(after, 'GET', '/api/v1/me', t.adminToken)).status).toBe(401)
    expect((await api(after, 'GET', '/api/v1/me', admin.body.token)).status).toBe(200)
    // A retired bootstrap token with an admin in the database generates nothing.
    expect(fs.existsSync(path.join(t.dataDir, ADMIN_TOKEN_FILE))).toBe(false)
  })
})

describe('`doorstep tokens retire-bootstrap` on the host', () => {
  it('retires it from another process; the running gateway refuses it from then on', async () => {
    const t = await startTestGateway()
    try {
      const cli = (args: string[]) =>
        run(process.execPath, [CLI, 'tokens', ...args, '--data-dir', t.dataDir], {
          cwd: ROOT,
          env: hostEnv(t),
        }).then(
          (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
          (e: { code?: number; stdout?: string; stderr?: string }) => ({
            code: e.code ?? -1,
            out: e.stdout ?? '',
            err: e.stderr ?? '',
          }),
        )
      const early = await cli(['retire-bootstrap'])
      expect(early.code).toBe(1)
      expect(early.err).toContain('DOORSTEP_ERR_NO_ADMIN_TOKEN')
      await t.gateway.tokens.issue('Chief Admin', 'admin')
      expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/me', t.adminToken)).status).toBe(200)
      const done = await cli(['retire-bootstrap'])
      expect(done.code).toBe(0)
      expect(done.out).toContain('bootstrap admin token retired')
      expect((await api(t.gateway.httpUrl, 'GET', '/api/v1/me', t.adminToken)).status).toBe(401)
    } finally {
      await t.stop()
    }
  })
})

describe('a generated admin token', () => {
  it('is written to <data dir>/admin-token with mode 0600; the log names the file, never the token', async () => {
    const tmp = tempDir('doorstep-gen-')
    const lines: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const stdout = vi.spyOn(process.stdout, 'write')
    const gateway = new Gateway(
      configFrom({
        DOORSTEP_DATA_DIR: tmp.dir,
        DOORSTEP_HTTP_PORT: 0,
        DOORSTEP_MQTT_PORT: 0,
        DOORSTEP_INFLUX_URL: inject('influxUrl'),
        DOORSTEP_INFLUX_DB: `t_gen_${process.pid}_${Date.now()}`,
      }),
      { log: pino({ level: 'info' }, sink) },
    )
    try {
      await gateway.start()
      const file = path.join(tmp.dir, ADMIN_TOKEN_FILE)
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      const token = fs.readFileSync(file, 'utf8').trim()
      expect(token).toMatch(/^dst_/)
      const me = await api<{ role: string }>(gateway.httpUrl, 'GET', '/api/v1/me', token)
      expect(me).toMatchObject({ status: 200, body: { role: 'admin' } })

      const log = lines.join('')
      expect(log).toContain(file)
      expect(log).not.toContain(token)
      const printed = stdout.mock.calls.map((c) => String(c[0])).join('')
      expect(printed).not.toContain(token)
    } finally {
      stdout.mockRestore()
      await gateway.stop()
      tmp.cleanup()
    }
  })
})
