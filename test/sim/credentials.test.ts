import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { DeviceCreate } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  credentialsFile,
  ensureCredentials,
  loadOrProvision,
  ProvisionError,
  probeCredentials,
} from '../../device-sim/src/credentials.js'
import { planFleet } from '../../device-sim/src/fleet-plan.js'
import { tempDir } from '../helpers/tmp.js'
import { startBroker, type TestBroker } from './helpers.js'

const TOKEN = `adm_${randomBytes(12).toString('hex')}`

/** The gateway's import API in miniature: all-or-nothing, 422 row errors, secrets shown once. */
function importServer() {
  const registry = new Map<string, string>()
  const requests: number[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(json))
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return send(401, { error: { code: 'DOORSTEP_ERR_UNAUTHENTICATED', message: 'no' } })
      }
      const rows = JSON.parse(body) as unknown[]
      requests.push(rows.length)
      const errors: Array<{ row: number; field: string; message: string }> = []
      const parsed = rows.map((r, row) => {
        const d = DeviceCreate.safeParse(r)
        if (!d.success) errors.push({ row, field: String(d.error.issues[0]?.path[0]), message: 'invalid' })
        else if (registry.has(d.data.id!)) errors.push({ row, field: 'id', message: 'id already exists' })
        return d.data
      })
      if (errors.length > 0) {
        return send(422, {
          error: { code: 'DOORSTEP_ERR_IMPORT_INVALID', message: 'rows', details: { errors } },
        })
      }
      const created = parsed.map((d) => ({ id: d!.id!, secret: randomBytes(24).toString('hex') }))
      for (const c of created) registry.set(c.id, c.secret)
      send(201, { created })
    })
  })
  return { server, registry, requests }
}

describe('credentials: provision through the import API, reuse the saved file', () => {
  const tmp = tempDir('doorstep-sim-')
  const api = importServer()
  let httpUrl = ''
  let broker: TestBroker

  beforeAll(async () => {
    await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r))
    httpUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`
    // A broker that knows exactly the units the import API created.
    broker = await startBroker({
      authenticate: (client, user, pass, done) => {
        const ok = user === client.id && api.registry.get(client.id) === pass?.toString()
        done(ok ? null : Object.assign(new Error('bad'), { returnCode: 4 }), ok)
      },
    })
  })
  afterAll(async () => {
    await broker.close()
    api.server.close()
    tmp.cleanup()
  })

  it('names the file after the gateway host and port', () => {
    expect(credentialsFile('http://127.0.0.1:8080', '/x')).toBe(
      path.resolve('/x/credentials-127.0.0.1-8080.json'),
    )
    expect(credentialsFile('http://localhost', '/x')).toBe(path.resolve('/x/credentials-localhost-80.json'))
  })

  it('imports in chunks, saves a 0600 file without printing secrets, and reuses it next time', async () => {
    const plan = planFleet({ count: 100, idPrefix: 'cr-' })
    const lines: string[] = []
    const dir = path.join(tmp.dir, 'a')
    const first = await loadOrProvision(plan, {
      httpUrl,
      adminToken: TOKEN,
      dir,
      chunkSize: 40,
      log: (l) => lines.push(l),
    })
    expect(api.requests).toEqual([40, 40, 20])
    expect(first.provisioned).toBe(100)
    expect(first.secrets.size).toBe(100)
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600)
    for (const [id, secret] of first.secrets) {
      expect(api.registry.get(id)).toBe(secret)
      expect(lines.join('\n')).not.toContain(secret)
    }

    api.requests.length = 0
    const again = await loadOrProvision(plan, { httpUrl, dir })
    expect(api.requests).toEqual([])
    expect(again.reused).toBe(100)
    expect(again.secrets).toEqual(first.secrets)

    // Growing the fleet provisions only the new units.
    const bigger = await loadOrProvision(planFleet({ count: 110, idPrefix: 'cr-' }), {
      httpUrl,
      adminToken: TOKEN,
      dir,
    })
    expect(api.requests).toEqual([10])
    expect(bigger).toMatchObject({ reused: 100, provisioned: 10 })
  })

  it('says clearly when units exist on the gateway but their secrets are not saved', async () => {
    const plan = planFleet({ count: 5, idPrefix: 'cr-' })
    const err = await loadOrProvision(plan, {
      httpUrl,
      adminToken: TOKEN,
      dir: path.join(tmp.dir, 'empty'),
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProvisionError)
    expect((err as Error).message).toMatch(/already has 5 of these units \(e\.g\. cr-00001\).*--id-prefix/)
  })

  it('needs a token only when something must be provisioned, and reports a refused one', async () => {
    const plan = planFleet({ count: 2, idPrefix: 'tok-' })
    const dir = path.join(tmp.dir, 'b')
    await expect(loadOrProvision(plan, { httpUrl, dir })).rejects.toThrow(/admin token/)
    await expect(
      loadOrProvision(plan, { httpUrl, dir, adminToken: 'wrong-token-wrong-token' }),
    ).rejects.toThrow(/HTTP 401/)
  })

  it('notices a reset gateway before provisioning anything, even when the fleet grew (CONNACK 4)', async () => {
    const plan = planFleet({ count: 3, idPrefix: 'rs-' })
    const dir = path.join(tmp.dir, 'c')
    const lines: string[] = []
    const mqttUrl = broker.url
    const first = await ensureCredentials(plan, {
      httpUrl,
      mqttUrl,
      adminToken: TOKEN,
      dir,
      log: (l) => lines.push(l),
    })
    expect(await probeCredentials(mqttUrl, 'rs-00001', first.secrets.get('rs-00001')!)).toBe(0)

    // The gateway's data is reset: it knows none of them any more. The next run asks for more units:
    // provisioning the two new ones first would make the fresh import of all five collide with them.
    for (const u of plan) api.registry.delete(u.id)
    api.requests.length = 0
    const bigger = planFleet({ count: 5, idPrefix: 'rs-' })
    const second = await ensureCredentials(bigger, {
      httpUrl,
      mqttUrl,
      adminToken: TOKEN,
      dir,
      log: (l) => lines.push(l),
    })
    expect(api.requests).toEqual([5])
    expect(
      lines.some((l) => /CONNACK 4: bad user name or password.*no longer knows.*all 5 units again/.test(l)),
    ).toBe(true)
    expect(second).toMatchObject({ provisioned: 5, reused: 0 })
    expect(second.secrets.get('rs-00001')).not.toBe(first.secrets.get('rs-00001'))
    for (const u of bigger) expect(await probeCredentials(mqttUrl, u.id, second.secrets.get(u.id)!)).toBe(0)
    // The stale file is set aside, not lost, and keeps its mode.
    expect(fs.statSync(`${second.file}.stale`).mode & 0o777).toBe(0o600)
    expect(lines.join('\n')).not.toContain(first.secrets.get('rs-00001'))
  })

  it('does not take one deleted unit for a reset gateway', async () => {
    const plan = planFleet({ count: 3, idPrefix: 'dl-' })
    const dir = path.join(tmp.dir, 'd')
    const opts = { httpUrl, mqttUrl: broker.url, adminToken: TOKEN, dir }
    const first = await ensureCredentials(plan, opts)
    api.registry.delete('dl-00001')
    api.requests.length = 0
    const second = await ensureCredentials(plan, opts)
    expect(api.requests).toEqual([])
    expect(second.reused).toBe(3)
    expect(second.secrets).toEqual(first.secrets)
    expect(fs.existsSync(`${second.file}.stale`)).toBe(false)
  })
})
