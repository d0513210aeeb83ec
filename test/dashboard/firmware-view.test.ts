import type { CampaignUnit } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { errorFromBody, messageOf } from '../../dashboard/src/api/errors.js'
import { Translator } from '../../dashboard/src/i18n/translator.js'
import { type CampaignFrame, CampaignProgress } from '../../dashboard/src/live/campaign-progress.js'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'
import { countStates, liveRows, openWave } from '../../dashboard/src/views/firmware/campaign-units.js'
import { formatDistricts, parseDistricts } from '../../dashboard/src/views/firmware/districts.js'
import { pauseReasonText } from '../../dashboard/src/views/firmware/pause-reason.js'

const ID = '0b9f3f7e-8a55-4a8e-9a43-2b7e3c2f8d11'

describe('the firmware routes', () => {
  const routes: Route[] = [
    { name: 'firmware' },
    { name: 'campaigns' },
    { name: 'campaign-new' },
    { name: 'campaign', id: ID },
  ]

  it('parse and round-trip through hrefOf', () => {
    for (const r of routes) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(hrefOf({ name: 'campaign-new' })).toBe('#/campaigns/new')
    expect(parseRoute('#/campaign/x').name).toBe('not-found')
    expect(parseRoute('#/firmware/x').name).toBe('not-found')
  })

  it("follow the gateway's roles: admins and ops read, admins make campaigns", () => {
    for (const r of routes.filter((r) => r.name !== 'campaign-new'))
      expect(rolesOf(r)).toEqual(['admin', 'ops'])
    expect(rolesOf({ name: 'campaign-new' })).toEqual(['admin'])
  })
})

describe('districts as typed', () => {
  it('reads numbers and ranges, sorted without repeats', () => {
    expect(parseDistricts('9, 1-3 2，12')).toEqual({ districts: [1, 2, 3, 9, 12] })
    expect(parseDistricts('1-61')).toEqual({ districts: Array.from({ length: 61 }, (_, i) => i + 1) })
  })

  it('names the first piece that is not a district', () => {
    expect(parseDistricts('1, 62')).toEqual({ bad: '62' })
    expect(parseDistricts('0')).toEqual({ bad: '0' })
    expect(parseDistricts('5-3')).toEqual({ bad: '5-3' })
    expect(parseDistricts('north')).toEqual({ bad: 'north' })
  })

  it('writes runs as ranges', () => {
    expect(formatDistricts([12, 1, 2, 3, 4, 9, 10])).toBe('1-4, 9, 10, 12')
    expect(formatDistricts([])).toBe('')
  })
})

function unit(deviceId: string, wave: number, state: CampaignUnit['state'] = 'pending'): CampaignUnit {
  return {
    deviceId,
    district: 3,
    wave,
    state,
    fromVersion: '2.4.1',
    bytes: 0,
    reason: null,
    offeredAt: null,
    finishedAt: null,
  }
}

function unitFrame(deviceId: string, state: CampaignUnit['state'], bytes = 0): CampaignFrame {
  return {
    type: 'campaign',
    campaignId: ID,
    state: 'running',
    reason: null,
    unit: { deviceId, district: 3, state, bytes, total: 1000, reason: null },
  }
}

describe("a campaign's units, live", () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('lays frames over what was fetched, counts the states and learns the open wave', () => {
    const p = new CampaignProgress()
    const fetched = [unit('a', 0, 'done'), unit('b', 1), unit('c', 2)]
    p.apply(unitFrame('b', 'downloading', 400))
    const rows = liveRows(fetched, p.unitsOf(ID))
    expect(rows.map((r) => [r.deviceId, r.state, r.bytes])).toEqual([
      ['a', 'done', 0],
      ['b', 'downloading', 400],
      ['c', 'pending', 0],
    ])
    expect(countStates(rows)).toMatchObject({ done: 1, downloading: 1, pending: 1, failed: 0 })
    expect(openWave({ wave: 0 }, rows)).toBe(1)
    expect(openWave({ wave: 2 }, rows)).toBe(2)
  })

  it('tells pages once per batch, and state changes at once per campaign', () => {
    const p = new CampaignProgress()
    const revisions: number[] = []
    p.revision.subscribe((n) => revisions.push(n))
    for (let i = 0; i < 500; i++) p.apply(unitFrame(`u${i}`, 'downloading', i))
    expect(revisions).toEqual([])
    vi.advanceTimersByTime(150)
    expect(revisions).toEqual([1])
    expect(p.unitsOf(ID).size).toBe(500)

    p.apply({ type: 'campaign', campaignId: ID, state: 'paused', reason: 'x', unit: null })
    expect(p.changes.get()).toBe(1)
    expect(p.changesOf(ID)).toBe(1)
    expect(p.changesOf('other')).toBe(0)

    // Frames held across a reconnect may be stale: the page fetches afresh.
    p.reconnected()
    expect(p.unitsOf(ID).size).toBe(0)
    expect(p.reconnects.get()).toBe(1)
  })
})

describe('the pause reason', () => {
  it("says the gateway's pause rule in the reader's language, and an admin's note as written", () => {
    const reason = 'failure rate 100% (2 of 2 finished) is over 50%'
    expect(pauseReasonText(reason, new Translator('en').t)).toBe(reason)
    expect(pauseReasonText(reason, new Translator('zh-CN').t)).toBe(
      '失败率 100%（已完成 2 台中 2 台失败），超过 50%',
    )
    expect(pauseReasonText('image withdrawn', new Translator('zh-CN').t)).toBe('image withdrawn')
  })
})

describe("the firmware routes' refusals", () => {
  it("are said in Chinese, and in the gateway's own words in English", () => {
    const exists = errorFromBody(409, {
      error: { code: 'DOORSTEP_ERR_FIRMWARE_EXISTS', message: 'DS-C3W 3.0.0 exists' },
    })
    expect(messageOf(exists, new Translator('en').t)).toBe('DS-C3W 3.0.0 exists')
    expect(messageOf(exists, new Translator('zh-CN').t)).toBe('该型号和版本的映像已存在。')
  })
})
