import type { MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TokenStore } from '../../gateway/src/auth/index.js'
import { openDb, openPostgres, type SharedDb, sqliteSharedDb } from '../../gateway/src/db/index.js'
import { isDoorstepError } from '../../gateway/src/errors.js'
import { runTokensCli } from '../../gateway/src/people/tokens-cli.js'
import { runRegistryCli, StoredDeviceRegistry } from '../../gateway/src/registry/index.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { capturingLogger } from '../helpers/log.js'
import { connectUnit, end } from '../helpers/mqtt.js'
import { stablePort } from '../helpers/ports.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'
import { until, within } from '../helpers/wait.js'

/**
 * The state gateways share in a real PostgreSQL (`DOORSTEP_DATABASE_URL`). The device registry: a unit
 * provisioned through one gateway connects through any, and a unit disabled or rotated through one is
 * refused, and cut off, by all. People's tokens: issued or revoked through one, so on all.
 */
let server: TestPostgres
// One PostgreSQL for the file; each test has a database of its own.
beforeAll(async () => {
  server = await startTestPostgres()
}, 60_000)
afterAll(async () => {
  await server?.stop()
})

describe('the device registry shared in PostgreSQL', () => {
  const opened: SharedDb[] = []
  const revoked: Array<{ node: string; id: string; reason: string }> = []

  /** A registry as one gateway holds it: its own connections to the shared database. */
  const node = async (url: string, name: string) => {
    const shared = await openPostgres({ url, nodeId: name, log: capturingLogger().log })
    opened.push(shared)
    const registry = new StoredDeviceRegistry(shared, {
      node: name,
      onRevoked: (id, reason) => revoked.push({ node: name, id, reason }),
    })
    await registry.load()
    return registry
  }
  const pair = async () => {
    const url = await server.database()
    return { a: await node(url, 'a'), b: await node(url, 'b'), url }
  }

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    revoked.length = 0
  })

  it('lets a unit made through one gateway in through another at once, before it has heard', async () => {
    const { a, b } = await pair()
    const { id, secret } = await a.create(deviceRow({ id: 'cam-pg-1', district: 7 }))
    // No wait for the notification: b looks the unknown unit up when it connects.
    expect(await b.authenticate(id, secret)).toMatchObject({ id, district: 7 })
    expect(await b.authenticate(id, `${secret}x`)).toBeNull()
    expect(b.get(id)?.district).toBe(7)
  })

  it("hears another gateway's import and lists its units", async () => {
    const { a, b } = await pair()
    const made = await a.importMany(Array.from({ length: 300 }, (_, i) => deviceRow({ id: `cam-imp-${i}` })))
    await until('b to hear of 300 units', () => b.count() === 300)
    expect(b.list({}).map((d) => d.id)).toEqual(made.map((m) => m.id).sort())
  })

  it('reads every unit once for a burst of "many units" changes, not once per change, and misses none', async () => {
    const { a, b, url } = await pair()
    await a.importMany(Array.from({ length: 50 }, (_, i) => deviceRow({ id: `cam-burst-${i}` })))
    await until('b to hear of the first 50', () => b.count() === 50)
    const before = b.fullRereads
    // Thirty "many units" notices in one transaction arrive together on commit, as the chunks of
    // imports through several gateways do; the last change lands with them.
    const pg = await import('pg')
    const client = new pg.default.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query('BEGIN')
      // A copy of a unit under a new id and serial, whatever columns the table has by now.
      await client.query("CREATE TEMP TABLE late AS SELECT * FROM devices WHERE id = 'cam-burst-0'")
      await client.query("UPDATE late SET id = 'cam-burst-late', serial = 'SN-BURST-LATE'")
      await client.query('INSERT INTO devices SELECT * FROM late')
      for (let i = 0; i < 30; i++) {
        const notice = JSON.stringify({ id: null, why: 'changed', node: 'x', from: `burst-${i}` })
        await client.query('SELECT pg_notify($1, $2)', ['doorstep_registry', notice])
      }
      await client.query('COMMIT')
    } finally {
      await client.end()
    }
    await until('b to read the late unit', () => b.get('cam-burst-late') !== undefined)
    expect(b.count()).toBe(51)
    expect(b.fullRereads - before).toBeGreaterThanOrEqual(1)
    expect(b.fullRereads - before).toBeLessThanOrEqual(2)
  })

  it('refuses, on every gateway, a unit disabled through one, cached secret or not, and cuts it off there', async () => {
    const { a, b } = await pair()
    const { id, secret } = await a.create(deviceRow({ id: 'cam-pg-off' }))
    expect(await b.authenticate(id, secret)).not.toBeNull()
    // Now cached on b: without the notification b would keep letting it in.
    await a.setEnabled(id, false)
    await until('b to refuse the disabled unit', async () => (await b.authenticate(id, secret)) === null)
    expect(b.get(id)?.enabled).toBe(false)
    expect(revoked).toEqual([{ node: 'b', id, reason: 'disabled' }])
    await a.setEnabled(id, true)
    await until('b to let it back in', async () => (await b.authenticate(id, secret)) !== null)
  })

  it('refuses the old secret of a unit rotated through another gateway, cached or not', async () => {
    const { a, b } = await pair()
    const { id, secret: old } = await a.create(deviceRow({ id: 'cam-pg-rot' }))
    expect(await b.authenticate(id, old)).not.toBeNull()
    const fresh = await a.rotateSecret(id)
    await until('b to refuse the old secret', async () => (await b.authenticate(id, old)) === null)
    expect(await b.authenticate(id, fresh)).toMatchObject({ id })
    await until('b to be told', () => revoked.length > 0)
    expect(revoked).toEqual([{ node: 'b', id, reason: 'rotated' }])
  })

  it('gives one serial to one unit when two gateways import it at once', async () => {
    const { a, b } = await pair()
    const results = await Promise.allSettled([
      a.create(deviceRow({ id: 'cam-race-a', serial: 'SN-RACE' })),
      b.create(deviceRow({ id: 'cam-race-b', serial: 'SN-RACE' })),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(lost && isDoorstepError(lost.reason) && lost.reason.code).toBe('DOORSTEP_ERR_DEVICE_EXISTS')
  })

  it('migrates once when gateways start together on an empty database', async () => {
    const url = await server.database()
    const nodes = await Promise.all(['a', 'b', 'c', 'd'].map((n) => node(url, n)))
    const [first, second] = nodes
    const { id, secret } = await (first as StoredDeviceRegistry).create(deviceRow({ id: 'cam-mig' }))
    expect(await (second as StoredDeviceRegistry).authenticate(id, secret)).not.toBeNull()
    const versions = await opened[0]
      ?.tables<{ schema_versions: { feature: string; version: number } }>()
      .selectFrom('schema_versions')
      .selectAll()
      .execute()
    expect(versions).toEqual([{ feature: 'registry', version: 1 }])
  })

  it('hears again after PostgreSQL restarts, and catches up on what it missed', async () => {
    const { a, b } = await pair()
    const { id, secret } = await a.create(deviceRow({ id: 'cam-pg-restart' }))
    expect(await b.authenticate(id, secret)).not.toBeNull()
    await server.down('immediate')
    await server.up()
    // Made while b's listening connection may still be away: b rereads everything when it is back.
    await until(
      'a to write again',
      async () => {
        await a.setEnabled(id, false)
        return true
      },
      20_000,
    )
    await until('b to refuse the unit', async () => (await b.authenticate(id, secret)) === null, 20_000)
  }, 60_000)

  it('fails the work of a connection the server cuts off, and goes on: the process does not end', async () => {
    const url = await server.database()
    const shared = await openPostgres({ url, nodeId: 'cut', log: capturingLogger().log })
    opened.push(shared)
    const db = shared.tables<Record<never, never>>()
    const { sql } = await import('kysely')
    // A transaction holds its connection between statements: no query is in flight when it is cut.
    let resume = () => {}
    const held = new Promise<void>((r) => {
      resume = r
    })
    let backend = 0
    const work = db.transaction().execute(async (trx) => {
      backend = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]?.pid ?? 0
      await held
      await sql`SELECT 1`.execute(trx)
    })
    await until('the transaction to start', () => backend > 0)
    const pg = await import('pg')
    const admin = new pg.default.Client({ connectionString: url })
    admin.on('error', () => {})
    await admin.connect()
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [backend])
      // The server has closed it: the connection's end has been read (an error event with no listener
      // would have ended the test process here).
      await until('the backend to be gone', async () => {
        const r = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend])
        return r.rowCount === 0
      })
      await new Promise((r) => setTimeout(r, 200))
    } finally {
      await admin.end()
    }
    resume()
    await expect(work).rejects.toThrow()
    // The pool gives a fresh connection to what comes next.
    expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(db)).rows).toEqual([{ one: 1 }])
  })

  it('refuses to start on a PostgreSQL that does not answer, naming it without its password', async () => {
    const port = await stablePort()
    const err = await openPostgres({
      url: `postgres://doorstep:pw-not-to-show@127.0.0.1:${port}/doorstep`,
      nodeId: 'x',
      log: capturingLogger().log,
      connectTimeoutMs: 1000,
    }).catch((e: unknown) => e)
    expect(isDoorstepError(err) && err.code).toBe('DOORSTEP_ERR_DATABASE_UNAVAILABLE')
    expect((err as Error).message).toContain(`127.0.0.1:${port}/doorstep`)
    expect(
      JSON.stringify({ m: (err as Error).message, d: (err as { details?: unknown }).details }),
    ).not.toContain('pw-not-to-show')
  })
})

describe("people's tokens shared in PostgreSQL", () => {
  const opened: SharedDb[] = []
  const store = async (url: string) => {
    const shared = await openPostgres({ url, nodeId: 'n', log: capturingLogger().log })
    opened.push(shared)
    const tokens = new TokenStore(shared)
    await tokens.load()
    return tokens
  }
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
  })

  it('works on every gateway once issued on one, and on none once revoked on another', async () => {
    const url = await server.database()
    const [a, b] = await Promise.all([store(url), store(url)])
    const { id, token } = await (a as TokenStore).issue('Det. Insp. Chen', 'investigator')
    expect(await (b as TokenStore).resolve(token)).toMatchObject({ tokenId: id, role: 'investigator' })
    expect((await (b as TokenStore).list()).map((t) => t.id)).toEqual([id])
    expect(await (b as TokenStore).revoke(id)).toBe(true)
    expect(await (a as TokenStore).resolve(token)).toBeNull()
    expect(await (a as TokenStore).isActive(id)).toBe(false)
    // Ids come from one sequence: no two gateways hand out the same.
    const more = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? (a as TokenStore) : (b as TokenStore)).issue(`p${i}`, 'ops'),
      ),
    )
    expect(new Set(more.map((m) => m.id)).size).toBe(20)
  })

  it('retires the bootstrap token everywhere', async () => {
    const url = await server.database()
    const [a, b] = await Promise.all([store(url), store(url)])
    const boot = 'adm_shared_bootstrap_for_the_test'
    expect(await (a as TokenStore).setBootstrapToken(boot)).toBe(true)
    expect(await (b as TokenStore).setBootstrapToken(boot)).toBe(true)
    await expect((a as TokenStore).retireBootstrap()).rejects.toMatchObject({
      code: 'DOORSTEP_ERR_NO_ADMIN_TOKEN',
    })
    await (b as TokenStore).issue('Chief', 'admin')
    await (a as TokenStore).retireBootstrap()
    expect(await (b as TokenStore).resolve(boot)).toBeNull()
    expect(await (b as TokenStore).isActive(0)).toBe(false)
  })
})

describe('gateways sharing a PostgreSQL registry', () => {
  let a: TestGateway
  let b: TestGateway
  const clients: MqttClient[] = []

  let url: string

  beforeAll(async () => {
    url = await server.database()
    a = await startTestGateway({ DOORSTEP_DATABASE_URL: url, DOORSTEP_NODE_ID: 'gw-a' })
    b = await startTestGateway({ DOORSTEP_DATABASE_URL: url, DOORSTEP_NODE_ID: 'gw-b' })
  }, 90_000)
  afterAll(async () => {
    for (const c of clients) await end(c)
    await a?.stop()
    await b?.stop()
  })

  it('a unit provisioned through one gateway connects to another; disabled through the first, the other cuts it off', async () => {
    const made = await api<{ id: string; secret: string }>(
      a.gateway.httpUrl,
      'POST',
      '/api/v1/devices',
      a.adminToken,
      deviceRow({ id: 'cam-gw-pg' }),
    )
    expect(made.status).toBe(201)
    const { id, secret } = made.body
    // The broker refuses ids it has not heard of without asking the database: b hears of it first.
    await until('b to hear of the new unit', () => b.gateway.registry.get(id) !== undefined)
    const unit = await connectUnit(b.gateway.mqttUrl, id, secret)
    clients.push(unit)
    const closed = new Promise<void>((resolve) => unit.once('close', () => resolve()))
    // Each gateway's API lists it: the registry is one.
    const listed = await api<{ total: number }>(b.gateway.httpUrl, 'GET', '/api/v1/devices', b.adminToken)
    expect(listed.body.total).toBe(1)
    const off = await api(a.gateway.httpUrl, 'POST', `/api/v1/devices/${id}/disable`, a.adminToken)
    expect(off.status).toBe(200)
    await within('b to close the disabled unit', closed, 10_000)
    await expect(connectUnit(b.gateway.mqttUrl, id, secret)).rejects.toThrow()
  }, 30_000)

  it("a token issued through one gateway's API, or by `doorstep tokens` beside another, works on both", async () => {
    const issued = await api<{ id: number; token: string }>(
      a.gateway.httpUrl,
      'POST',
      '/api/v1/tokens',
      a.adminToken,
      {
        name: 'Ops Desk',
        role: 'ops',
      },
    )
    expect(issued.status).toBe(201)
    expect((await api(b.gateway.httpUrl, 'GET', '/api/v1/me', issued.body.token)).body).toMatchObject({
      name: 'Ops Desk',
      role: 'ops',
    })
    let out = ''
    const code = await runTokensCli(
      ['issue', '--name', 'Night Desk', '--role', 'ops', '--data-dir', b.dataDir],
      { DOORSTEP_DATABASE_URL: url },
      {
        out: (s) => {
          out += s
        },
        err: () => {},
      },
    )
    expect(code).toBe(0)
    const cliToken = /token \(shown once, store it now\): (\S+)/.exec(out)?.[1] ?? ''
    expect((await api(a.gateway.httpUrl, 'GET', '/api/v1/me', cliToken)).status).toBe(200)
    const revoked = await api(b.gateway.httpUrl, 'DELETE', `/api/v1/tokens/${issued.body.id}`, b.adminToken)
    expect(revoked.status).toBe(200)
    expect((await api(a.gateway.httpUrl, 'GET', '/api/v1/me', issued.body.token)).status).toBe(401)
  }, 30_000)

  it('answers 503 DOORSTEP_ERR_DATABASE_UNAVAILABLE while PostgreSQL is away, and recovers by itself', async () => {
    const issued = await api<{ token: string }>(a.gateway.httpUrl, 'POST', '/api/v1/tokens', a.adminToken, {
      name: 'Day Desk',
      role: 'ops',
    })
    const me = () =>
      api<{ error?: { code: string } }>(a.gateway.httpUrl, 'GET', '/api/v1/me', issued.body.token)
    await server.down('fast')
    try {
      const away = await me()
      expect(away.status).toBe(503)
      expect(away.body.error?.code).toBe('DOORSTEP_ERR_DATABASE_UNAVAILABLE')
    } finally {
      await server.up()
    }
    await until('the API to answer again', async () => (await me()).status === 200, 20_000)
  }, 60_000)
})

describe('doorstep registry copy', () => {
  const run = async (argv: string[]) => {
    let out = ''
    let err = ''
    const code = await runRegistryCli(
      argv,
      {},
      {
        out: (s) => {
          out += s
        },
        err: (s) => {
          err += s
        },
      },
    )
    return { code, out, err }
  }

  it("moves a gateway's units into PostgreSQL with their secrets, once, and names what it cannot", async () => {
    const tmp = tempDir()
    const url = await server.database()
    try {
      const db = openDb(`${tmp.dir}/doorstep.db`)
      const local = new StoredDeviceRegistry(sqliteSharedDb(db))
      await local.load()
      const made = await local.importMany(
        Array.from({ length: 30 }, (_, i) => deviceRow({ id: `cam-cp-${i}` })),
      )
      await local.setEnabled('cam-cp-3', false)
      db.close()
      // Another unit already holds one of these serials in the shared registry.
      const there = await node(url)
      await there.create(
        deviceRow({ id: 'cam-elsewhere', serial: (local.get('cam-cp-7') as { serial: string }).serial }),
      )

      const first = await run(['copy', '--to', url, '--data-dir', tmp.dir])
      expect(first.code).toBe(1)
      expect(first.out).toContain('copied 29 of 30 units')
      expect(first.err).toContain('cam-cp-7')

      const shared = await node(url)
      for (const m of made.filter((c) => c.id !== 'cam-cp-7' && c.id !== 'cam-cp-3')) {
        expect(await shared.authenticate(m.id, m.secret)).toMatchObject({ id: m.id })
      }
      const off = made.find((c) => c.id === 'cam-cp-3') as { id: string; secret: string }
      expect(await shared.authenticate(off.id, off.secret)).toBeNull()
      expect(shared.get('cam-cp-3')?.enabled).toBe(false)
      // A gateway already running on it heard of the copy.
      await until('the running registry to hear of the copy', () => there.count() === 30)

      const again = await run(['copy', '--to', url, '--data-dir', tmp.dir])
      expect(again.out).toContain('copied 0 of 30 units')
      expect(again.out).toContain('29 were there already')
      expect((await run(['copy', '--data-dir', tmp.dir])).code).toBe(2)
    } finally {
      for (const s of opened.splice(0)) await s.close()
      tmp.cleanup()
    }
  }, 60_000)

  const opened: SharedDb[] = []
  const node = async (url: string) => {
    const shared = await openPostgres({ url, nodeId: 'n', log: capturingLogger().log })
    opened.push(shared)
    const r = new StoredDeviceRegistry(shared)
    await r.load()
    return r
  }
})
