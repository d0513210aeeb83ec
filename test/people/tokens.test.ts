import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { AuditEntry, TokenIssued, TokenView } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { hostEnv, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, '../..')
const CLI = path.join(ROOT, 'gateway/bin/doorstep.js')

async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: ROOT, env })
    return { code: 0, out: stdout, err: stderr }
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string }
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' }
  }
}

describe('people: tokens through the API and the CLI, owners scoped to their units', () => {
  let t: TestGateway
  let base: string
  const call = async <T>(method: string, p: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { ...bearer(token), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    const json = res.headers.get('content-type')?.startsWith('application/json')
    return { status: res.status, body: (json && text ? JSON.parse(text) : text) as T }
  }

  beforeAll(async () => {
    t = await startTestGateway()
    base = t.gateway.httpUrl
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('an admin issues a token (shown once), lists it without the secret, revokes it', async () => {
    const issued = await call<TokenIssued>('POST', '/api/v1/tokens', t.adminToken, {
      name: 'Det. Sgt. Ho',
      role: 'investigator',
    })
    expect(issued.status).toBe(201)
    expect(issued.body.token).toMatch(/^dst_/)
    const me = await call<{ name: string; role: string }>('GET', '/api/v1/me', issued.body.token)
    expect(me.body).toMatchObject({ name: 'Det. Sgt. Ho', role: 'investigator' })

    const list = await call<{ tokens: TokenView[] }>('GET', '/api/v1/tokens', t.adminToken)
    const listed = list.body.tokens.find((x) => x.id === issued.body.id)
    expect(listed).toMatchObject({ name: 'Det. Sgt. Ho', role: 'investigator', revokedAt: null })
    expect(JSON.stringify(list.body)).not.toContain(issued.body.token)

    const del = await call<TokenView>('DELETE', `/api/v1/tokens/${issued.body.id}`, t.adminToken)
    expect(del.body.revokedAt).toEqual(expect.any(Number))
    expect((await call('GET', '/api/v1/me', issued.body.token)).status).toBe(401)
    expect((await call('DELETE', '/api/v1/tokens/99999', t.adminToken)).status).toBe(404)

    // The token is nowhere at rest: not in the database file, not on the audit log.
    const db = fs.readFileSync(path.join(t.dataDir, 'doorstep.db'))
    const wal = path.join(t.dataDir, 'doorstep.db-wal')
    const walBuf = fs.existsSync(wal) ? fs.readFileSync(wal) : Buffer.alloc(0)
    expect(db.includes(issued.body.token)).toBe(false)
    expect(walBuf.includes(issued.body.token)).toBe(false)
    const audit = await call<{ entries: AuditEntry[] }>(
      'GET',
      `/api/v1/audit?subject=token:${issued.body.id}`,
      t.adminToken,
    )
    expect(audit.body.entries.map((e) => e.action)).toEqual(['token.issue', 'token.revoke'])
    expect(JSON.stringify(audit.body)).not.toContain(issued.body.token)
  })

  it('an owner token needs the contact its units are registered under', async () => {
    const bad = await call<{ error: { code: string; message: string } }>(
      'POST',
      '/api/v1/tokens',
      t.adminToken,
      {
        name: 'Mr Gao',
        role: 'owner',
      },
    )
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toContain('ownerContact')
  })

  it('owners see their own units and events only', async () => {
    await t.gateway.registry.create(deviceRow({ id: 'cam-gao-1', ownerContact: 'gao@example.org' }))
    await t.gateway.registry.create(deviceRow({ id: 'cam-gao-2', ownerContact: 'gao@example.org' }))
    await t.gateway.registry.create(deviceRow({ id: 'cam-lin-1', ownerContact: 'lin@example.org' }))
    const gao = await call<TokenIssued>('POST', '/api/v1/tokens', t.adminToken, {
      name: 'Mr Gao',
      role: 'owner',
      ownerContact: 'gao@example.org',
    })
    const token = gao.body.token
    const mine = await call<{ devices: Array<{ id: string }> }>('GET', '/api/v1/my/devices', token)
    expect(mine.body.devices.map((d) => d.id).sort()).toEqual(['cam-gao-1', 'cam-gao-2'])
    expect((await call('GET', '/api/v1/my/devices/cam-gao-1/events', token)).status).toBe(200)
    expect((await call('GET', '/api/v1/my/devices/cam-lin-1/events', token)).status).toBe(404)
    // The fleet routes are not theirs.
    expect((await call('GET', '/api/v1/devices', token)).status).toBe(403)
    expect((await call('GET', '/api/v1/devices/cam-gao-1', token)).status).toBe(403)
  })

  it('`doorstep tokens` issues, lists and revokes on the gateway’s database, while it runs', async () => {
    const dir = ['--data-dir', t.dataDir]
    const issued = await cli(['tokens', 'issue', '--name', 'prometheus', '--role', 'ops', ...dir], hostEnv(t))
    expect(issued.code).toBe(0)
    const token = /token \(shown once, store it now\): (dst_\S+)/.exec(issued.out)?.[1] as string
    expect(token).toBeDefined()
    const id = Number(/issued token (\d+)/.exec(issued.out)?.[1])
    expect((await call('GET', '/metrics', token)).status).toBe(200)

    const list = await cli(['tokens', 'list', ...dir], hostEnv(t))
    expect(list.out).toMatch(new RegExp(`^${id}\\tactive\\tops\\tprometheus`, 'm'))
    expect(list.out).not.toContain(token)

    const revoked = await cli(['tokens', 'revoke', String(id), ...dir], hostEnv(t))
    expect(revoked.code).toBe(0)
    expect((await call('GET', '/metrics', token)).status).toBe(401)

    const audit = await call<{ entries: AuditEntry[] }>(
      'GET',
      `/api/v1/audit?subject=token:${id}`,
      t.adminToken,
    )
    expect(audit.body.entries.map((e) => [e.action, e.actor.startsWith('cli:')])).toEqual([
      ['token.issue', true],
      ['token.revoke', true],
    ])

    const wrong = await cli(['tokens', 'issue', '--name', 'x', '--role', 'wizard', ...dir], hostEnv(t))
    expect(wrong.code).toBe(2)
    expect(wrong.err).toContain('--role')
    const noDb = await cli(['tokens', 'list', '--data-dir', path.join(t.dataDir, 'nope')])
    expect(noDb.code).toBe(2)
    expect(noDb.err).toContain('no gateway database')
    // Not a usage error but a damaged database: one line, exit 1, no stack trace.
    const damaged = path.join(t.dataDir, 'damaged')
    fs.mkdirSync(damaged)
    fs.writeFileSync(path.join(damaged, 'doorstep.db'), 'this is not SQLite\n'.repeat(10))
    const bad = await cli(['tokens', 'list', '--data-dir', damaged])
    expect(bad.code).toBe(1)
    expect(bad.err).toBe('doorstep: file is not a database\n')
  })
})
