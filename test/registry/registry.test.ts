import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { openPostgres, type SharedDb, sqliteSharedDb } from '../../gateway/src/db/index.js'
import { openDb } from '../../gateway/src/db/sqlite.js'
import { DoorstepError } from '../../gateway/src/errors.js'
import { StoredDeviceRegistry } from '../../gateway/src/registry/index.js'
import { deviceRow } from '../helpers/devices.js'
import { capturingLogger } from '../helpers/log.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'

/** The same registry, the same tests, on the gateway's own SQLite and on a real shared PostgreSQL. */
describe.each(['sqlite', 'postgres'] as const)('StoredDeviceRegistry on %s', (engine) => {
  let server: TestPostgres | null = null
  let tmp: ReturnType<typeof tempDir>
  let db: ReturnType<typeof openDb>
  let url: string | null = null
  let registry: StoredDeviceRegistry
  const opened: SharedDb[] = []

  /** One more connection to the same database, as a restarted (or another) gateway would open. */
  const connect = async (): Promise<SharedDb> => {
    const shared =
      url === null
        ? sqliteSharedDb(db)
        : await openPostgres({ url, nodeId: 'test', log: capturingLogger().log })
    opened.push(shared)
    return shared
  }
  const secretHashOf = async (id: string) => {
    const row = await opened[0]
      ?.tables<{ devices: { id: string; secret_hash: string } }>()
      .selectFrom('devices')
      .select('secret_hash')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    return row?.secret_hash ?? ''
  }

  beforeAll(async () => {
    if (engine === 'postgres') server = await startTestPostgres()
  }, 60_000)
  afterAll(async () => {
    await server?.stop()
  })
  beforeEach(async () => {
    tmp = tempDir()
    db = openDb(`${tmp.dir}/doorstep.db`)
    url = server ? await server.database() : null
    registry = new StoredDeviceRegistry(await connect())
    await registry.load()
  })
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    db.close()
    tmp.cleanup()
  })

  it('creates a device and authenticates only its own secret', async () => {
    const { id, secret } = await registry.create(deviceRow({ id: 'cam-a1' }))
    expect(id).toBe('cam-a1')
    expect(secret.length).toBeGreaterThanOrEqual(43)
    expect(await registry.authenticate('cam-a1', secret)).toMatchObject({ id: 'cam-a1' })
    expect(await registry.authenticate('cam-a1', `${secret}x`)).toBeNull()
    expect(await registry.authenticate('cam-zz', secret)).toBeNull()
    // Second time through the cache, both ways.
    expect(await registry.authenticate('cam-a1', secret)).toMatchObject({ id: 'cam-a1' })
    expect(await registry.authenticate('cam-a1', 'wrong')).toBeNull()
  })

  it('lines up first-time checks when many units come at once, and lets every right secret in', async () => {
    const created = await registry.importMany(
      Array.from({ length: 200 }, (_, i) => deviceRow({ id: `cam-burst-${i}` })),
    )
    const results = await Promise.all(created.map((c) => registry.authenticate(c.id, c.secret)))
    expect(results.map((r) => (r !== null && r !== 'busy' ? r.id : r))).toEqual(created.map((c) => c.id))
    const wrong = await Promise.all(
      created.slice(0, 20).map((c) => registry.authenticate(c.id, `${c.secret}x`)),
    )
    expect(wrong.every((r) => r === null)).toBe(true)
  })

  it('holds at most 4,096 secret checks in line behind the 4 running: the rest are told to come back', async () => {
    // Time in line is not what this measures: a bound far above how long the line takes to drain.
    registry = new StoredDeviceRegistry(await connect(), { lineWaitMs: 120_000 })
    await registry.load()
    const { id, secret } = await registry.create(deviceRow({ id: 'cam-line' }))
    // Wrong secrets are never cached, so every call needs scrypt; all are asked before any finishes.
    const calls = Array.from({ length: 4 + 4096 + 150 }, (_, i) => registry.authenticate(id, `${secret}${i}`))
    const results = await Promise.all(calls)
    expect(results.filter((r) => r === 'busy')).toHaveLength(150)
    expect(results.filter((r) => r === null)).toHaveLength(4 + 4096)
    // The line drained: the next check runs at once and lets the right secret in.
    expect(await registry.authenticate(id, secret)).toMatchObject({ id })
  })

  it('drops from the line the checks of units that went away, and does the rest', async () => {
    const created = await registry.importMany(
      Array.from({ length: 12 }, (_, i) => deviceRow({ id: `cam-gone-${i}` })),
    )
    const gone = created.map(() => new AbortController())
    // All asked before any finishes: 4 run, 8 wait in line.
    const calls = created.map((c, i) => registry.authenticate(c.id, c.secret, gone[i]?.signal))
    // Units 4..7 give up (their connections close) while still in line; 8..11 stay.
    for (const g of gone.slice(4, 8)) g.abort()
    const results = (await Promise.all(calls)).map((r) => (r !== null && r !== 'busy' ? r.id : r))
    expect(results.slice(0, 4)).toEqual(created.slice(0, 4).map((c) => c.id))
    expect(results.slice(4, 8)).toEqual(['busy', 'busy', 'busy', 'busy'])
    expect(results.slice(8)).toEqual(created.slice(8).map((c) => c.id))
    // A unit already gone when it asks, with the slots taken, is not lined up at all. (Wrong secrets
    // are never cached, so these all need a slot; unit 5's right secret is not cached either.)
    const busy = created.map((c) => registry.authenticate(c.id, `${c.secret}x`))
    const left = new AbortController()
    left.abort()
    const late = registry.authenticate(created[5]?.id ?? '', created[5]?.secret ?? '', left.signal)
    expect(await Promise.all(busy)).toEqual(created.map(() => null))
    expect(await late).toBe('busy')
  })

  it('sends a check that waited in line too long away (busy), and does the ones that did not', async () => {
    registry = new StoredDeviceRegistry(await connect(), { lineWaitMs: 20 })
    await registry.load()
    const { id, secret } = await registry.create(deviceRow({ id: 'cam-slow-line' }))
    // 2,000 wrong secrets, each needing scrypt on 4 slots: the back of the line waits far past 20 ms.
    const results = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => registry.authenticate(id, `${secret}${i}`)),
    )
    const busy = results.filter((r) => r === 'busy').length
    expect(busy).toBeGreaterThan(0)
    expect(results.filter((r) => r === null)).toHaveLength(2000 - busy)
    // The first four never wait in line.
    expect(results.slice(0, 4)).toEqual([null, null, null, null])
    expect(await registry.authenticate(id, secret)).toMatchObject({ id })
  })

  it('stores only a scrypt hash of the secret', async () => {
    const { secret } = await registry.create(deviceRow({ id: 'cam-a2' }))
    const hash = await secretHashOf('cam-a2')
    expect(hash.startsWith('scrypt$')).toBe(true)
    expect(hash).not.toContain(secret)
  })

  it('a disabled device cannot authenticate, even with a cached secret', async () => {
    const { secret } = await registry.create(deviceRow({ id: 'cam-a3' }))
    expect(await registry.authenticate('cam-a3', secret)).not.toBeNull()
    await registry.setEnabled('cam-a3', false)
    expect(await registry.authenticate('cam-a3', secret)).toBeNull()
  })

  it('a rotated secret replaces the old one at once, cached or not, and survives a reload', async () => {
    const { secret: old } = await registry.create(deviceRow({ id: 'cam-r1' }))
    // The old secret passed scrypt once, so it sits in the auth cache.
    expect(await registry.authenticate('cam-r1', old)).not.toBeNull()
    const fresh = await registry.rotateSecret('cam-r1')
    expect(fresh).not.toBe(old)
    expect(await registry.authenticate('cam-r1', old)).toBeNull()
    expect(await registry.authenticate('cam-r1', fresh)).toMatchObject({ id: 'cam-r1' })
    const again = new StoredDeviceRegistry(await connect())
    await again.load()
    expect(await again.authenticate('cam-r1', old)).toBeNull()
    expect(await again.authenticate('cam-r1', fresh)).toMatchObject({ id: 'cam-r1' })
    await expect(registry.rotateSecret('cam-nobody')).rejects.toMatchObject({
      code: 'DOORSTEP_ERR_NOT_FOUND',
    })
  })

  it('an old secret whose check overlapped the rotation is not left in the cache', async () => {
    const { secret: old } = await registry.create(deviceRow({ id: 'cam-r2' }))
    // Not cached yet: this check runs scrypt beside the rotation's own hashing. Which ends first is
    // the thread pool's choice; either way the old secret must not outlive the rotation.
    const checking = registry.authenticate('cam-r2', old)
    const fresh = await registry.rotateSecret('cam-r2')
    await checking
    expect(await registry.authenticate('cam-r2', old)).toBeNull()
    expect(await registry.authenticate('cam-r2', fresh)).not.toBeNull()
  })

  it('imports all rows or none, with per-row errors', async () => {
    await registry.create(deviceRow({ id: 'cam-taken' }))
    const rows = [
      deviceRow({ id: 'cam-b1' }),
      deviceRow({ id: 'cam-taken' }),
      { ...deviceRow(), district: 99 },
    ]
    const err = await registry.importMany(rows).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DoorstepError)
    const details = (err as DoorstepError).details as { errors: Array<{ row: number; field: string }> }
    expect(details.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ row: 1, field: 'id' }),
        expect.objectContaining({ row: 2, field: 'district' }),
      ]),
    )
    expect(registry.get('cam-b1')).toBeUndefined()
    expect(registry.count()).toBe(1)
  })

  it('imports a thousand rows with distinct secrets', async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => deviceRow({ district: (i % 61) + 1 }))
    const created = await registry.importMany(rows)
    expect(created).toHaveLength(1000)
    expect(new Set(created.map((c) => c.secret)).size).toBe(1000)
    expect(registry.list({ district: 61 }).length).toBe(16)
  })

  it('keeps records across a reload (the in-memory view comes from the database)', async () => {
    await registry.create(deviceRow({ id: 'cam-c1', district: 12 }))
    const again = new StoredDeviceRegistry(await connect())
    await again.load()
    expect(again.get('cam-c1')?.district).toBe(12)
  })
})
