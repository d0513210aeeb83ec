import type { CaseView, PullState } from '@doorstep/proto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CaseStore } from '../../gateway/src/cases/case-store.js'
import { CustodyLog } from '../../gateway/src/cases/custody.js'
import type { NewPull } from '../../gateway/src/cases/pull-table.js'
import { openPostgres, type SharedDb } from '../../gateway/src/db/index.js'
import { capturingLogger } from '../helpers/log.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { until } from '../helpers/wait.js'

/**
 * The cases tables in a real PostgreSQL that two gateways share: a pull is claimed for sending by one
 * gateway only, a district's budget of pulls in flight holds across both, a case's custody chain stays one line while both append to it, and each gateway hears
 * of the other's changes.
 */
describe('cases in a PostgreSQL two gateways share', () => {
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

  /** One gateway's view: its own connections, its store and custody log. */
  const gateway = async (url: string, name: string) => {
    const shared = await openPostgres({ url, nodeId: name, log: capturingLogger().log })
    opened.push(shared)
    const store = new CaseStore(shared)
    await store.load()
    return { store, custody: new CustodyLog(shared, Date.now) }
  }
  const pair = async () => {
    const url = await server.database()
    // One after the other, as gateways starting at once would (the migration lock makes them so).
    const a = await gateway(url, 'a')
    const b = await gateway(url, 'b')
    return { a, b }
  }

  const aCase = (id: string): CaseView => ({
    id,
    number: `N-${id.slice(0, 8)}`,
    reason: 'a burglary',
    from: 1_000,
    to: 2_000,
    area: { kind: 'devices', ids: ['cam-1'] },
    state: 'open',
    createdBy: 'investigator',
    createdAt: Date.now(),
    closedAt: null,
    closedBy: null,
  })

  /** A pull of `c` for one unit, as the cases feature writes a new one. */
  const newPull = (
    c: CaseView,
    id: string,
    deviceId: string,
    district: number,
    state: PullState,
  ): NewPull => ({
    id,
    case_id: c.id,
    device_id: deviceId,
    district,
    window_from: c.from,
    window_to: c.to,
    state,
    reason: null,
    requested_by: 'investigator',
    requested_at: Date.now(),
    consent_id: null,
    legal_order: null,
  })

  it('lets one gateway claim a pull, whichever asks at the same moment', async () => {
    const { a, b } = await pair()
    const c = aCase('0b4c6a9e-1111-4a5b-8c9d-000000000001')
    await a.store.cases.insert(c, [{ device_id: 'cam-1', district: 3, distance_m: null }])
    for (let i = 0; i < 20; i++) {
      const id = `0b4c6a9e-2222-4a5b-8c9d-${String(i).padStart(12, '0')}`
      await a.store.pulls.insert(newPull(c, id, 'cam-1', 3, 'pending'))
      const seenA = await a.store.pulls.get(id)
      const seenB = await b.store.pulls.get(id)
      if (!seenA || !seenB) throw new Error('pull not found')
      const claims = await Promise.all([a.store.pulls.claim(seenA, 10), b.store.pulls.claim(seenB, 20)])
      expect(claims.filter(Boolean)).toHaveLength(1)
      const after = await a.store.pulls.get(id)
      expect(after?.sends).toBe(1)
      expect(after?.sent_at).toBe(claims[0] ? 10 : 20)
    }
  })

  it("holds a pull's upload for one PUT at a time across gateways, until the holder stalls past the lapse", async () => {
    const { a, b } = await pair()
    const c = aCase('0b4c6a9e-1111-4a5b-8c9d-000000000005')
    await a.store.cases.insert(c, [{ device_id: 'cam-1', district: 3, distance_m: null }])
    let clock = 1_000_000
    const now = () => clock
    const onA = a.store.pulls.writerLeases('a', now, 10_000)
    const onB = b.store.pulls.writerLeases('b', now, 10_000)
    // Taken at the same moment through both: one of them gets it, every time.
    for (let i = 0; i < 10; i++) {
      const id = `0b4c6a9e-5555-4a5b-8c9d-${String(i).padStart(12, '0')}`
      await a.store.pulls.insert(newPull(c, id, 'cam-1', 3, 'uploading'))
      const both = await Promise.allSettled([onA.hold(id, 'recording'), onB.hold(id, 'recording')])
      expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const refused = both.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(refused.reason).toMatchObject({ code: 'DOORSTEP_ERR_UPLOAD_BUSY', details: { retryAfterS: 10 } })
    }
    const id = '0b4c6a9e-5555-4a5b-8c9d-000000000099'
    await a.store.pulls.insert(newPull(c, id, 'cam-1', 3, 'uploading'))
    const first = await onA.hold(id, 'recording')
    clock += 4_000
    expect(await first.renew()).toBe(true)
    clock += 9_000
    // 9 s after its last bytes: still held, and b is told how long to wait.
    await expect(onB.hold(id, 'recording')).rejects.toMatchObject({ details: { retryAfterS: 1 } })
    clock += 1_000
    const second = await onB.hold(id, 'recording')
    // The old holder finds it taken, and its release leaves the new hold alone.
    expect(await first.renew()).toBe(false)
    await first.release()
    await expect(onA.hold(id, 'recording')).rejects.toMatchObject({ code: 'DOORSTEP_ERR_UPLOAD_BUSY' })
    await second.release()
    const third = await onA.hold(id, 'recording')
    expect(await third.renew()).toBe(true)
  })

  it("spends a district's budget once between gateways that send into it at the same moment", async () => {
    const { a, b } = await pair()
    const c = aCase('0b4c6a9e-6666-4a5b-8c9d-000000000001')
    await a.store.cases.insert(c, [])
    const budget = 2
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const id = `0b4c6a9e-7777-4a5b-8c9d-${String(i).padStart(12, '0')}`
      ids.push(id)
      await a.store.pulls.insert(newPull(c, id, `cam-${i}`, 7, 'pending'))
    }
    // Each gateway goes through the waiting pulls from its own end, each send in its own transaction,
    // as two dispatchers woken by the same change would.
    const sendAll = async (g: typeof a, order: string[], at: number) => {
      let sent = 0
      for (const id of order) {
        const seen = await g.store.pulls.get(id)
        if (!seen) throw new Error('pull not found')
        if (await g.store.transaction((t) => t.pulls.claimInBudget(seen, at, budget))) sent++
      }
      return sent
    }
    const [byA, byB] = await Promise.all([sendAll(a, ids, 10), sendAll(b, [...ids].reverse(), 20)])
    expect(byA + byB).toBe(budget)
    expect(await a.store.pulls.activeInDistrict(7)).toBe(budget)
    // A pull that ends frees its place, for either gateway.
    const sent = (await Promise.all(ids.map((id) => a.store.pulls.get(id)))).filter(
      (p) => p?.sent_at !== null,
    )
    await b.store.pulls.update(sent[0]?.id ?? '', { state: 'done' })
    expect(await Promise.all([sendAll(a, ids, 30), sendAll(b, ids, 40)]).then(([x, y]) => x + y)).toBe(1)
    expect(await b.store.pulls.activeInDistrict(7)).toBe(budget)
  })

  it('lets one of two decisions on the same pull through, the other seeing it decided', async () => {
    const { a, b } = await pair()
    const c = aCase('0b4c6a9e-8888-4a5b-8c9d-000000000001')
    await a.store.cases.insert(c, [])
    // The pattern of an owner's answer and a legal order (consent.ts): lock, read, decide, write.
    const decide = (g: typeof a, id: string, to: 'pending' | 'refused') =>
      g.store.transaction(async (t) => {
        await t.pulls.lock(id)
        const p = await t.pulls.get(id)
        if (p?.state !== 'awaiting-consent') return false
        await t.pulls.update(id, { state: to })
        return true
      })
    for (let i = 0; i < 10; i++) {
      const id = `0b4c6a9e-9999-4a5b-8c9d-${String(i).padStart(12, '0')}`
      await a.store.pulls.insert(newPull(c, id, 'cam-1', 3, 'awaiting-consent'))
      const decided = await Promise.all([decide(a, id, 'pending'), decide(b, id, 'refused')])
      expect(decided.filter(Boolean), `pull ${i}`).toHaveLength(1)
      expect((await a.store.pulls.get(id))?.state).toBe(decided[0] ? 'pending' : 'refused')
    }
  })

  it("keeps one case's custody chain linear while two gateways append at once", async () => {
    const { a, b } = await pair()
    const c = aCase('0b4c6a9e-3333-4a5b-8c9d-000000000001')
    await a.store.cases.insert(c, [])
    const appends = []
    for (let i = 0; i < 100; i++) {
      const who = i % 2 === 0 ? a : b
      appends.push(who.custody.append(c.id, `gateway-${i % 2}`, 'hold.placed', { n: i }))
    }
    await Promise.all(appends)
    const entries = await b.custody.entries(c.id)
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(new Set(entries.map((e) => (e.details as { n: number }).n)).size).toBe(100)
    expect(await a.custody.verify(c.id)).toMatchObject({ ok: true, entries: 100, problems: [] })
    expect((await a.custody.heads()).find((h) => h.caseId === c.id)).toEqual({
      caseId: c.id,
      entries: 100,
      head: entries.at(-1)?.hash,
    })
  })

  it("tells each gateway of the other's pull and case changes", async () => {
    const { a, b } = await pair()
    const pulls: string[] = []
    const cases: string[] = []
    b.store.onPullChange = (row) => pulls.push(`${row.id}:${row.state}`)
    b.store.onCaseChange = (n) => cases.push(`${n.caseId}:${n.state}`)
    const c = aCase('0b4c6a9e-4444-4a5b-8c9d-000000000001')
    await a.store.cases.insert(c, [])
    a.store.caseChanged({ caseId: c.id, number: c.number, state: 'open' })
    const id = '0b4c6a9e-5555-4a5b-8c9d-000000000001'
    await a.store.transaction(async (t) => {
      await t.pulls.insert(newPull(c, id, 'cam-1', 3, 'awaiting-consent'))
    })
    await a.store.pulls.update(id, { state: 'pending' })
    await until('b heard both', () => cases.length === 1 && pulls.includes(`${id}:pending`))
    expect(cases).toEqual([`${c.id}:open`])
    // A change rolled back is not told.
    await expect(
      a.store.transaction(async (t) => {
        await t.pulls.update(id, { state: 'failed' })
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    await new Promise((r) => setTimeout(r, 300))
    expect(pulls).not.toContain(`${id}:failed`)
    expect((await b.store.pulls.get(id))?.state).toBe('pending')
  })
})
