import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Db, openDb, STATEMENT_CACHE_MAX, statementCache } from '../../gateway/src/db/sqlite.js'

describe('the statement cache', () => {
  let db: Db
  beforeEach(() => {
    db = openDb(':memory:')
  })
  afterEach(() => db.close())

  it(`keeps at most ${STATEMENT_CACHE_MAX} statements however many texts it is asked for`, () => {
    const st = statementCache(db)
    for (let i = 0; i < STATEMENT_CACHE_MAX * 4; i++) {
      // A text per "table", as the event index's months make over the years.
      expect(st(`SELECT ${i} AS n`).get()).toEqual({ n: i })
      expect(st.size).toBeLessThanOrEqual(STATEMENT_CACHE_MAX)
    }
    expect(st.size).toBe(STATEMENT_CACHE_MAX)
  })

  it('drops the least recently used, not the one in use', () => {
    const st = statementCache(db, 3)
    const hot = st('SELECT 1 AS n')
    st('SELECT 2 AS n')
    st('SELECT 3 AS n')
    expect(st('SELECT 1 AS n')).toBe(hot)
    st('SELECT 4 AS n') // past the bound: "SELECT 2" goes, the hot one stays
    expect(st.size).toBe(3)
    expect(st('SELECT 1 AS n')).toBe(hot)
    const two = st('SELECT 2 AS n') // prepared again, pushing out "SELECT 3"
    expect(two.get()).toEqual({ n: 2 })
    expect(st.size).toBe(3)
  })
})
