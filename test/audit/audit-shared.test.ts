import path from 'node:path'
import type { AuditEntry } from '@doorstep/proto'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AUDIT_SCHEMA, AuditLog } from '../../gateway/src/audit/audit-log.js'
import { GENESIS, linkHash } from '../../gateway/src/audit/chain.js'
import { migrate, openDb, openPostgres, type SharedDb, sqliteSharedDb } from '../../gateway/src/db/index.js'
import { capturingLogger } from '../helpers/log.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * The audit log on the shared database: in a real PostgreSQL that two gateways append to at once,
 * and on the gateway's own SQLite file, an append that joins a caller's transaction.
 */
const seqs = (entries: readonly { seq: number }[]) => entries.map((e) => e.seq)
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe('the audit log in a PostgreSQL several gateways share', () => {
  let server: TestPostgres
  const opened: SharedDb[] = []

  beforeAll(async () => {
    server = await startTestPostgres()
  }, 60_000)
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
  })
  afterAll(async () => {
    await server?.stop()
  })

  /** A gateway's audit log: its own pool of connections to the shared database. */
  const gateway = async (url: string, name: string) => {
    const shared = await openPostgres({ url, nodeId: name, log: capturingLogger().log })
    opened.push(shared)
    return new AuditLog({ shared })
  }

  it('keeps one linear chain while two gateways append at once', async () => {
    const url = await server.database()
    const a = await gateway(url, 'a')
    const b = await gateway(url, 'b')
    // Both start together, as gateways after an upgrade do: one migrates, the other finds it done.
    await Promise.all([a.start(), b.start()])
    const N = 200
    // Every append in flight at once, alternating between the gateways: each pool runs ten
    // transactions at a time, so appends from both meet at the head all along.
    const appended = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        (i % 2 === 0 ? a : b).append({
          actor: i % 2 === 0 ? 'gateway a' : 'gateway b',
          action: 'clip.view',
          subject: `clip:${i}`,
          details: { i },
        }),
      ),
    )
    expect(seqs(appended).sort((x, y) => x - y)).toEqual(oneTo(N))
    const { entries, next } = await a.list({ after: 0, limit: 1000 })
    expect(next).toBeNull()
    expect(seqs(entries)).toEqual(oneTo(N))
    // Each entry links to the one before it: no two appends read the same head.
    for (const [i, e] of entries.entries()) expect(e.prevHash).toBe(i === 0 ? GENESIS : entries[i - 1]?.hash)
    const last = entries.at(-1) as AuditEntry
    expect(await a.verify()).toEqual({ ok: true, entries: N, head: last.hash, problems: [] })
    expect(await b.verify()).toEqual({ ok: true, entries: N, head: last.hash, problems: [] })
    expect(await a.head()).toEqual({ entries: N, head: last.hash })
    expect(await b.head()).toEqual(await a.head())
    const viaB = (await b.list({ after: 0, limit: 1000, actor: 'gateway b' })).entries
    expect(viaB).toHaveLength(N / 2)
  })

  it('refuses UPDATE, DELETE and TRUNCATE of its entries at the database', async () => {
    const url = await server.database()
    const a = await gateway(url, 'a')
    await a.start()
    await a.append({ actor: 'a', action: 'x', subject: 's' })
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await expect(client.query("UPDATE audit_log SET actor = 'b'")).rejects.toThrow(/append-only/)
      await expect(client.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/)
      await expect(client.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/)
    } finally {
      await client.end()
    }
    expect(await a.verify()).toMatchObject({ ok: true, entries: 1 })
  })
})

describe('the audit log on the gateway’s own SQLite file', () => {
  const dirs: Array<{ cleanup: () => void }> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup()
  })

  const fileDb = () => {
    const tmp = tempDir('doorstep-audit-')
    dirs.push(tmp)
    return openDb(path.join(tmp.dir, 'doorstep.db'))
  }

  it('an append within a transaction that then fails is rolled back with it; the next takes its seq', async () => {
    const db = fileDb()
    const shared = sqliteSharedDb(db)
    const audit = new AuditLog({ shared })
    await audit.start()
    const first = await audit.append({ actor: 'a', action: 'case.create', subject: 'case:1' })

    await expect(
      shared.write(async (trx) => {
        const e = await audit.append({ actor: 'a', action: 'case.close', subject: 'case:1' }, trx)
        expect(e.seq).toBe(2)
        throw new Error('the rest of the transaction failed')
      }),
    ).rejects.toThrow('the rest of the transaction failed')
    expect(seqs((await audit.list({ after: 0, limit: 10 })).entries)).toEqual([1])
    expect(await audit.head()).toEqual({ entries: 1, head: first.hash })

    const next = await audit.append({ actor: 'a', action: 'case.view', subject: 'case:1' })
    expect(next).toMatchObject({ seq: 2, prevHash: first.hash, action: 'case.view' })
    // One that commits stays, in the caller's transaction.
    const joined = await shared.write((trx) =>
      audit.append({ actor: 'a', action: 'case.close', subject: 'case:1' }, trx),
    )
    expect(joined).toMatchObject({ seq: 3, prevHash: next.hash })
    expect(await audit.verify()).toEqual({ ok: true, entries: 3, head: joined.hash, problems: [] })
    db.close()
  })

  it('an existing log gets its head row from its last entry, and appends carry on from there', async () => {
    const db = fileDb()
    // The log as the release before left it: its first two steps, and entries.
    migrate(db, 'audit', AUDIT_SCHEMA.slice(0, 2))
    const insert = db.prepare(
      'INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    )
    let prev = GENESIS
    for (let seq = 1; seq <= 3; seq++) {
      const body = { seq, at: 1_700_000_000_000 + seq, actor: 'a', action: 'x', subject: 's', details: {} }
      const hash = linkHash(prev, body)
      insert.run(seq, body.at, 'a', 'x', 's', '{}', prev, hash)
      prev = hash
    }
    const audit = new AuditLog({ shared: sqliteSharedDb(db) })
    await audit.start()
    const e = await audit.append({ actor: 'a', action: 'x', subject: 's' })
    expect(e).toMatchObject({ seq: 4, prevHash: prev })
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 4, head: e.hash })
    db.close()
  })

  it('reads the chain a page at a time, every entry once, in order', async () => {
    const db = openDb(':memory:')
    const audit = new AuditLog({ shared: sqliteSharedDb(db) })
    await audit.start()
    // More than two pages of 1,000, and not a whole number of them.
    const N = 2_345
    for (let i = 0; i < N; i++) await audit.append({ actor: 'a', action: 'clip.view', subject: `clip:${i}` })
    const read: number[] = []
    for await (const l of audit.links()) read.push(l.seq)
    expect(read).toEqual(oneTo(N))
    expect(await audit.verify()).toMatchObject({ ok: true, entries: N })
    db.close()
  })
})
