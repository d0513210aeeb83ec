import { describe, expect, it } from 'vitest'
import { AuditLog } from '../../gateway/src/audit/audit-log.js'
import { canonicalJson, GENESIS, linkHash, sha256Hex, verifyChain } from '../../gateway/src/audit/chain.js'
import { sqliteSharedDb } from '../../gateway/src/db/index.js'
import { openDb } from '../../gateway/src/db/sqlite.js'

async function freshLog(): Promise<{ audit: AuditLog; db: ReturnType<typeof openDb> }> {
  const db = openDb(':memory:')
  let t = 1_700_000_000_000
  const audit = new AuditLog({ shared: sqliteSharedDb(db), now: () => t++ })
  await audit.start()
  return { audit, db }
}

describe('canonical JSON', () => {
  it('sorts keys at every level, keeps array order, drops undefined, no spaces', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: null }], c: 'x' }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":1}]},"b":1}',
    )
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }))
    expect(canonicalJson('é"\n')).toBe(JSON.stringify('é"\n'))
  })

  it('refuses what JSON cannot carry exactly', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/finite/)
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/)
  })
})

describe('the audit log: an append-only, hash-chained table', () => {
  it('chains each entry to the one before', async () => {
    const { audit } = await freshLog()
    const a = await audit.append({
      actor: 'Ann (admin #1)',
      action: 'token.issue',
      subject: 'token:2',
      details: { role: 'ops' },
    })
    const b = await audit.append({ actor: 'Ann (admin #1)', action: 'clip.download', subject: 'clip:x' })
    expect(a).toMatchObject({ seq: 1, prevHash: GENESIS })
    expect(a.hash).toBe(
      sha256Hex(
        GENESIS +
          canonicalJson({
            seq: 1,
            at: a.at,
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            details: { role: 'ops' },
          }),
      ),
    )
    expect(b.prevHash).toBe(a.hash)
    expect(await audit.verify()).toEqual({ ok: true, entries: 2, head: b.hash, problems: [] })
  })

  it('refuses UPDATE and DELETE at the database', async () => {
    const { audit, db } = await freshLog()
    await audit.append({ actor: 'a', action: 'x', subject: 's' })
    expect(() => db.prepare("UPDATE audit_log SET actor = 'b'").run()).toThrow(/append-only/)
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/)
  })

  it('names the entry someone edited behind the triggers', async () => {
    const { audit, db } = await freshLog()
    for (let i = 0; i < 5; i++)
      await audit.append({ actor: 'inv', action: 'clip.view', subject: `clip:${i}` })
    db.exec('DROP TRIGGER audit_log_no_update')
    db.prepare("UPDATE audit_log SET subject = 'clip:other' WHERE seq = 3").run()
    const r = await audit.verify()
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual([
      { seq: 3, problem: 'the entry was changed: its content does not match its hash' },
    ])
  })

  it('notices a removed entry, and an edit that re-hashes the entry but not the ones after', async () => {
    const { audit, db } = await freshLog()
    for (let i = 0; i < 5; i++)
      await audit.append({ actor: 'inv', action: 'clip.view', subject: `clip:${i}` })
    db.exec('DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_log_no_update')
    db.prepare('DELETE FROM audit_log WHERE seq = 2').run()
    const r = await audit.verify()
    expect(r.problems.map((p) => p.seq)).toEqual([3, 3])
    expect(r.problems[0]?.problem).toMatch(/sequence jumps from 1 to 3/)

    // A forger who recomputes one entry's hash breaks the link to the next.
    const { audit: a2, db: db2 } = await freshLog()
    for (let i = 0; i < 3; i++) await a2.append({ actor: 'inv', action: 'clip.view', subject: `clip:${i}` })
    db2.exec('DROP TRIGGER audit_log_no_update')
    const row = db2.prepare('SELECT * FROM audit_log WHERE seq = 2').get() as {
      at: number
      prev_hash: string
    }
    const forged = linkHash(row.prev_hash, {
      seq: 2,
      at: row.at,
      actor: 'someone else',
      action: 'clip.view',
      subject: 'clip:1',
      details: {},
    })
    db2.prepare("UPDATE audit_log SET actor = 'someone else', hash = ? WHERE seq = 2").run(forged)
    expect((await a2.verify()).problems).toEqual([
      { seq: 3, problem: 'prevHash is not the hash of the entry before it' },
    ])
  })

  it('pages and filters', async () => {
    const { audit } = await freshLog()
    for (let i = 0; i < 7; i++)
      await audit.append({
        actor: 'a',
        action: i % 2 ? 'clip.view' : 'clip.download',
        subject: `clip:${i % 3}`,
      })
    const p1 = await audit.list({ after: 0, limit: 3 })
    expect(p1.entries.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(p1.next).toBe(3)
    expect((await audit.list({ after: 3, limit: 10 })).entries.map((e) => e.seq)).toEqual([4, 5, 6, 7])
    expect(
      (await audit.list({ after: 0, limit: 10, action: 'clip.view' })).entries.map((e) => e.seq),
    ).toEqual([2, 4, 6])
    expect((await audit.list({ after: 0, limit: 10, subject: 'clip:0' })).entries.map((e) => e.seq)).toEqual([
      1, 4, 7,
    ])
  })

  it('verifyChain of nothing is an empty, intact chain', () => {
    expect(verifyChain([])).toEqual({ entries: 0, head: GENESIS, problems: [] })
  })
})
