import { describe, expect, it } from 'vitest'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'

describe("the homeowner's routes", () => {
  it('parse and round-trip through hrefOf', () => {
    const routes: Route[] = [{ name: 'my' }, { name: 'my-device', id: 'cam-wu-front' }, { name: 'consents' }]
    for (const r of routes) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(hrefOf({ name: 'my-device', id: 'cam-1' })).toBe('#/my/device/cam-1')
  })

  it('refuse malformed paths', () => {
    expect(parseRoute('#/my/x').name).toBe('not-found')
    expect(parseRoute('#/my/device').name).toBe('not-found')
    expect(parseRoute('#/my/device/a%2Fb').name).toBe('not-found')
    expect(parseRoute('#/my/device/cam-1/extra').name).toBe('not-found')
    expect(parseRoute('#/consents/1').name).toBe('not-found')
  })

  it('are for owners only, and the fleet pages are not theirs', () => {
    for (const r of [{ name: 'my' }, { name: 'my-device', id: 'cam-1' }, { name: 'consents' }] as Route[]) {
      expect(rolesOf(r)).toEqual(['owner'])
    }
    expect(rolesOf({ name: 'devices' })).not.toContain('owner')
  })
})
