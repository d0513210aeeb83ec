import { describe, expect, it } from 'vitest'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'

const ADMIN_ROUTES: Route[] = [{ name: 'admin-people' }, { name: 'admin-units' }, { name: 'admin-audit' }]

describe("the admins' routes", () => {
  it('parse and round-trip through hrefOf', () => {
    for (const r of ADMIN_ROUTES) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(hrefOf({ name: 'admin-people' })).toBe('#/admin/people')
  })

  it('refuse malformed paths', () => {
    expect(parseRoute('#/admin').name).toBe('not-found')
    expect(parseRoute('#/admin/x').name).toBe('not-found')
    expect(parseRoute('#/admin/people/1').name).toBe('not-found')
  })

  it('are for admins only', () => {
    for (const r of ADMIN_ROUTES) expect(rolesOf(r)).toEqual(['admin'])
  })
})
