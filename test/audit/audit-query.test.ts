import { setTimeout as sleep } from 'node:timers/promises'
import type { AuditEntry, TokenIssued } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'

interface Page {
  entries: AuditEntry[]
  next: number | null
}
interface Refusal {
  error: { code: string; message: string; details?: { issues: Array<{ path: string; message: string }> } }
}

describe('GET /api/v1/audit by actor and by time', () => {
  let t: TestGateway
  let ann: string
  /** Four token issues, by the bootstrap admin and Ann in turn, each in a millisecond of its own. */
  const issued: AuditEntry[] = []

  const audit = <T = Page>(q: string) => api<T>(t.gateway.httpUrl, 'GET', `/api/v1/audit?${q}`, t.adminToken)
  const seqs = async (q: string) => {
    const res = await audit(q)
    expect(res.status).toBe(200)
    return res.body.entries.map((e) => e.seq)
  }
  /** The whole log, to say which entries a filter must select. */
  const everything = async () => (await audit('limit=1000')).body.entries

  beforeAll(async () => {
    t = await startTestGateway()
    ann = (await t.gateway.tokens.issue('Ann', 'admin')).token
    for (const [i, by] of [t.adminToken, ann, t.adminToken, ann].entries()) {
      const res = await api<TokenIssued>(t.gateway.httpUrl, 'POST', '/api/v1/tokens', by, {
        name: `ops ${i}`,
        role: 'ops',
      })
      expect(res.status).toBe(201)
      const log = await everything()
      const entry = log.findLast((e) => e.action === 'token.issue')
      if (!entry) throw new Error('the token issue was not recorded')
      issued.push(entry)
      // The time filters are tested on entries a millisecond or more apart.
      while (Date.now() <= entry.at) await sleep(2)
    }
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('selects exactly the entries of one actor, alone and with the other filters', async () => {
    const [boot, byAnn] = [issued[0], issued[1]] as [AuditEntry, AuditEntry]
    expect(byAnn.actor).toMatch(/^Ann \(admin #\d+\)$/)
    expect(boot.actor).not.toBe(byAnn.actor)
    const log = await everything()
    for (const actor of [boot.actor, byAnn.actor]) {
      const expected = log.filter((e) => e.actor === actor).map((e) => e.seq)
      expect(expected.length).toBeGreaterThan(0)
      expect(await seqs(`actor=${encodeURIComponent(actor)}`)).toEqual(expected)
    }
    expect(await seqs(`actor=${encodeURIComponent(byAnn.actor)}&action=token.issue`)).toEqual([
      issued[1]?.seq,
      issued[3]?.seq,
    ])
    expect(await seqs(`actor=${encodeURIComponent(byAnn.actor)}&subject=${issued[0]?.subject}`)).toEqual([])
    expect(await seqs('actor=nobody')).toEqual([])
  })

  it('selects exactly the entries from `from` to `to`, both included', async () => {
    const [a, b, c, d] = issued as [AuditEntry, AuditEntry, AuditEntry, AuditEntry]
    const log = await everything()
    const within = (from: number, to: number) =>
      log.filter((e) => e.at >= from && e.at <= to).map((e) => e.seq)
    expect(await seqs(`from=${b.at}&to=${c.at}`)).toEqual(within(b.at, c.at))
    expect(await seqs(`from=${b.at}&to=${c.at}&action=token.issue`)).toEqual([b.seq, c.seq])
    expect(await seqs(`from=${b.at}&to=${b.at}&action=token.issue`)).toEqual([b.seq])
    expect(await seqs(`from=${c.at}&action=token.issue`)).toEqual([c.seq, d.seq])
    expect(await seqs(`to=${b.at}&action=token.issue`)).toEqual([a.seq, b.seq])
    expect(await seqs(`from=${b.at + 1}&to=${c.at - 1}&action=token.issue`)).toEqual([])
    // Actor and time together: Ann's entries from the first issue to just before the fourth.
    const annBetween = await seqs(`actor=${encodeURIComponent(b.actor)}&from=${a.at}&to=${d.at - 1}`)
    expect(annBetween).toEqual([b.seq])
    expect(annBetween).toEqual(
      log.filter((e) => e.actor === b.actor && e.at >= a.at && e.at < d.at).map((e) => e.seq),
    )
  })

  it('pages through a filtered log without losing an entry', async () => {
    const [a, , , d] = issued as [AuditEntry, AuditEntry, AuditEntry, AuditEntry]
    const actor = encodeURIComponent(a.actor)
    const q = `actor=${actor}&from=${a.at}&to=${d.at}`
    const all = await seqs(q)
    expect(all.length).toBeGreaterThanOrEqual(2)
    const paged: number[] = []
    let after = 0
    for (;;) {
      const res = await audit(`${q}&limit=1&after=${after}`)
      expect(res.status).toBe(200)
      paged.push(...res.body.entries.map((e) => e.seq))
      if (res.body.next === null) break
      after = res.body.next
    }
    expect(paged).toEqual(all)
  })

  it('refuses a range whose `to` is before its `from` with a 400 naming the field', async () => {
    const [, b, c] = issued as [AuditEntry, AuditEntry, AuditEntry]
    const res = await audit<Refusal>(`from=${c.at}&to=${b.at}`)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('DOORSTEP_ERR_BAD_REQUEST')
    expect(res.body.error.details?.issues).toEqual([{ path: 'to', message: 'to must not be before from' }])
    expect(res.body.error.message).toBe('to: to must not be before from')
  })

  it('refuses a time that is not ms since the epoch, and an actor over 200 characters', async () => {
    const text = await audit<Refusal>('from=yesterday')
    expect(text.status).toBe(400)
    expect(text.body.error.details?.issues.map((i) => i.path)).toEqual(['from'])
    const negative = await audit<Refusal>('to=-5')
    expect(negative.status).toBe(400)
    expect(negative.body.error.details?.issues.map((i) => i.path)).toEqual(['to'])
    const long = await audit<Refusal>(`actor=${'a'.repeat(201)}`)
    expect(long.status).toBe(400)
    expect(long.body.error.details?.issues.map((i) => i.path)).toEqual(['actor'])
  })
})
