import { execFile } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { ALERT_SOCKET_CLOSE, type TokenIssued } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AlertHub, alertsRoute } from '../../gateway/src/alerts/index.js'
import { TokenStore } from '../../gateway/src/auth/index.js'
import { openDb, sqliteSharedDb } from '../../gateway/src/db/index.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { buildHttp } from '../../gateway/src/http/server.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { hostEnv, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'
import { until, within } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

type AlertSocket = Awaited<ReturnType<typeof openAlerts>>

/** How the socket closed, once it has. */
function closing(s: AlertSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    s.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  )
}

/**
 * A person's token checked when the alert socket opened must not keep streaming after it is
 * revoked: real HTTP and WebSocket, revocations through the API and the CLI.
 */
describe('a revoked token on an open alert socket', () => {
  let t: TestGateway
  let base: string
  const issue = async (name: string): Promise<TokenIssued> =>
    (await api<TokenIssued>(base, 'POST', '/api/v1/tokens', t.adminToken, { name, role: 'ops' })).body

  beforeAll(async () => {
    t = await startTestGateway()
    base = t.gateway.httpUrl
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('is closed at once with close code 4401 when revoked through the API; other sockets stream on', async () => {
    const revoked = await issue('Night Desk')
    const kept = await issue('Day Desk')
    const doomed = await openAlerts(base, revoked.token)
    const other = await openAlerts(base, kept.token)
    await until('both sockets ready', () => doomed.frames.length > 0 && other.frames.length > 0)
    const closed = closing(doomed)

    const told: number[] = []
    const off = t.gateway.bus.on('token.revoked', (e) => told.push(e.tokenId))
    expect((await api(base, 'DELETE', `/api/v1/tokens/${revoked.id}`, t.adminToken)).status).toBe(200)
    off()
    // The revocation is announced on the bus as it happens (the socket's listener is tested alone below).
    expect(told).toEqual([revoked.id])
    const c = await within('the revoked token’s socket to close', closed, 5000)
    expect(c.code).toBe(ALERT_SOCKET_CLOSE.tokenRevoked)
    expect(c.reason).toBe('token revoked')
    expect(doomed.frames.at(-1)).toEqual({
      type: 'error',
      code: 'DOORSTEP_ERR_UNAUTHENTICATED',
      message: 'The token was revoked',
    })

    // The other token's socket still gets alerts.
    t.gateway.hub.raise({
      kind: 'tamper',
      severity: 'critical',
      deviceId: 'cam-ws-1',
      district: 3,
      message: 'after the revocation',
    })
    await until('the kept socket to get the alert', () =>
      other.frames.some((f) => f.type === 'alert' && f.alert.message === 'after the revocation'),
    )
    expect(other.ws.readyState).toBe(other.ws.OPEN)
    other.close()
  })

  it('is closed within seconds when revoked with the CLI from another process', async () => {
    const revoked = await issue('Relief Desk')
    const s = await openAlerts(base, revoked.token)
    await until('the socket ready', () => s.frames.length > 0)
    const closed = closing(s)
    await run(process.execPath, [CLI, 'tokens', 'revoke', String(revoked.id), '--data-dir', t.dataDir], {
      cwd: ROOT,
      env: hostEnv(t),
    })
    const c = await within('the socket of the token the CLI revoked to close', closed, 6000)
    expect(c.code).toBe(ALERT_SOCKET_CLOSE.tokenRevoked)
  })

  it('the bus event alone closes it: with the periodic re-check an hour away', async () => {
    const tmp = tempDir()
    const log = createLogger('silent')
    const db = openDb(`${tmp.dir}/t.db`)
    const tokens = new TokenStore(sqliteSharedDb(db))
    await tokens.load()
    const bus = new EventBus(log)
    const hub = new AlertHub(createMetrics())
    const app = await buildHttp({ log, tokens })
    await app.register(alertsRoute, { hub, tokens, bus, recheckMs: 3_600_000 })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    try {
      const { id, token } = await tokens.issue('Night Desk', 'ops')
      const s = await openAlerts(`http://127.0.0.1:${port}`, token)
      await until('the socket ready', () => s.frames.length > 0)
      const closed = closing(s)
      await tokens.revoke(id)
      bus.emit('token.revoked', { tokenId: id, at: Date.now() })
      expect((await within('the socket to close', closed, 5000)).code).toBe(ALERT_SOCKET_CLOSE.tokenRevoked)
    } finally {
      await app.close()
      db.close()
      tmp.cleanup()
    }
  })
})
