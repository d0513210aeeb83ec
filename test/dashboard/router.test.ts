import { describe, expect, it } from 'vitest'
import { formatAgo, formatDuration } from '../../dashboard/src/lib/format.js'
import { backoffDelay } from '../../dashboard/src/live/backoff.js'
import { hrefOf, parseRoute, type Route } from '../../dashboard/src/router.js'

describe('hash routes', () => {
  it('parses every route and round-trips through hrefOf', () => {
    const routes: Route[] = [
      { name: 'fleet' },
      { name: 'district', district: 61 },
      { name: 'devices' },
      { name: 'device', id: 'cam-0001' },
      { name: 'offline' },
      { name: 'map' },
      { name: 'alerts' },
      { name: 'events' },
      { name: 'event', id: '0b9f3f7e-8a55-4a8e-9a43-2b7e3c2f8d11' },
    ]
    for (const r of routes) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(parseRoute('')).toEqual({ name: 'fleet' })
  })

  it('refuses districts outside 1..61 and malformed ids', () => {
    expect(parseRoute('#/district/0').name).toBe('not-found')
    expect(parseRoute('#/district/62').name).toBe('not-found')
    expect(parseRoute('#/district/3.5').name).toBe('not-found')
    expect(parseRoute('#/device/a%2Fb').name).toBe('not-found')
    expect(parseRoute('#/device/x/y').name).toBe('not-found')
    // Each page's own argument rule: a campaign id is a UUID, never read as another page's argument.
    expect(parseRoute('#/campaign/cam-0001').name).toBe('not-found')
    expect(parseRoute('#/config/cam-0001')).toEqual({ name: 'config', device: 'cam-0001' })
    expect(parseRoute('#/notify/x').name).toBe('not-found')
  })
})

describe('backoff', () => {
  it('doubles up to the ceiling, jittered in the upper half', () => {
    const opts = { baseMs: 1000, maxMs: 30_000 }
    expect(backoffDelay(0, opts, () => 0)).toBe(500)
    expect(backoffDelay(0, opts, () => 1)).toBe(1000)
    expect(backoffDelay(3, opts, () => 1)).toBe(8000)
    expect(backoffDelay(20, opts, () => 1)).toBe(30_000)
    expect(backoffDelay(1000, opts, () => 0)).toBe(15_000)
  })
})

describe('durations', () => {
  it('reads like people say it', () => {
    expect(formatDuration(45_000)).toBe('45 s')
    expect(formatDuration(12 * 60_000)).toBe('12 min')
    expect(formatDuration(3 * 3_600_000 + 20 * 60_000)).toBe('3 h 20 min')
    expect(formatDuration(2 * 86_400_000 + 4 * 3_600_000)).toBe('2 d 4 h')
    expect(formatAgo(null, 0)).toBe('never')
    expect(formatAgo(1000, 2000)).toBe('just now')
  })
})
