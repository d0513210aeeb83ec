import { describe, expect, it } from 'vitest'
import { RecentPrincipals } from '../../gateway/src/auth/recent-principals.js'

/** What may stand in for the shared database's answer about a token while it is away. */
describe('tokens recently resolved', () => {
  const admin = { name: 'ops-1', role: 'admin' }

  it('recalls the last answer within its time, and not after', () => {
    const recent = new RecentPrincipals<typeof admin>({ staleMs: 60_000 })
    recent.confirmed('digest-1', admin, 1_000)
    expect(recent.recall('digest-1', 61_000)).toEqual(admin)
    expect(recent.recall('digest-1', 61_001)).toBeNull()
    // Gone for good once stale, even if asked about an earlier time.
    expect(recent.recall('digest-1', 1_000)).toBeNull()
  })

  it('forgets a token the database no longer knows, and never remembers an unknown one', () => {
    const recent = new RecentPrincipals<typeof admin>()
    recent.confirmed('digest-1', admin, 1_000)
    recent.confirmed('digest-1', null, 2_000)
    expect(recent.recall('digest-1', 2_000)).toBeNull()
    recent.confirmed('digest-2', null, 2_000)
    expect(recent.size).toBe(0)
  })
})
