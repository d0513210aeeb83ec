import { RuleCreate, UnitConfigPatch } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../../dashboard/src/api/errors.js'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'
import {
  EMPTY_DRAFT,
  issuesByPath,
  listIssues,
  patchOf,
} from '../../dashboard/src/views/config/patch-draft.js'
import { emptyRule, ruleBodyOf } from '../../dashboard/src/views/notify/rule-draft.js'

describe('the configuration and notification routes', () => {
  it('parse and round-trip through hrefOf', () => {
    const routes: Route[] = [
      { name: 'config', device: null },
      { name: 'config', device: 'cam-0001' },
      { name: 'notify' },
    ]
    for (const r of routes) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(parseRoute('#/config/a%2Fb').name).toBe('not-found')
    expect(parseRoute('#/notify/x').name).toBe('not-found')
  })

  it('open to the roles the gateway serves them to', () => {
    // GET /api/v1/config: admin and ops. The push routes: all staff; channels and rules: admins (in the page).
    expect(rolesOf({ name: 'config', device: null })).toEqual(['admin', 'ops'])
    expect(rolesOf({ name: 'notify' })).toEqual(['admin', 'ops', 'investigator'])
  })
})

describe('the configuration form', () => {
  it('sends only the fields filled in, each where the patch has it', () => {
    const patch = patchOf({ ...EMPTY_DRAFT, heartbeatIntervalS: '60', sensitivity: '80', nightMode: 'off' })
    expect(patch).toEqual({ heartbeatIntervalS: 60, motion: { sensitivity: 80 }, nightMode: 'off' })
    expect(UnitConfigPatch.safeParse(patch).success).toBe(true)
    expect(
      patchOf({ ...EMPTY_DRAFT, recordingDefault: 'always', clipLengthS: ' 20 ', uploadKbps: '512' }),
    ).toEqual({ recording: { default: 'always' }, clipLengthS: 20, uploadKbps: 512 })
    // Nothing filled: an empty change, which the gateway refuses as a whole.
    expect(patchOf(EMPTY_DRAFT)).toEqual({})
  })

  it('replaces a list only when asked, empty too, beside the other fields of its group', () => {
    expect(
      patchOf({ ...EMPTY_DRAFT, sensitivity: '40', zones: [{ x: '0.1', y: '0', w: '0.5', h: '1' }] }),
    ).toEqual({
      motion: { sensitivity: 40, zones: [{ x: 0.1, y: 0, w: 0.5, h: 1 }] },
    })
    expect(patchOf({ ...EMPTY_DRAFT, zones: [] })).toEqual({ motion: { zones: [] } })
    const p = patchOf({
      ...EMPTY_DRAFT,
      recordingDefault: 'off',
      windows: [{ from: '08:00', to: '18:00', mode: 'motion' }],
    })
    expect(p).toEqual({
      recording: { default: 'off', windows: [{ from: '08:00', to: '18:00', mode: 'motion' }] },
    })
    expect(UnitConfigPatch.safeParse(p).success).toBe(true)
  })

  it("gathers a list's refusals under it, each with its row", () => {
    const issues = new Map([
      ['motion.zones.1', 'a zone must lie inside the frame'],
      ['motion.zones.0.w', 'Too small'],
      ['motion.zonesX', 'not this one'],
      ['recording.windows', 'Too big'],
    ])
    expect(listIssues(issues, 'motion.zones')).toBe('#2: a zone must lie inside the frame\n#1: Too small')
    expect(listIssues(issues, 'recording.windows')).toBe('Too big')
    expect(listIssues(new Map(), 'motion.zones')).toBeUndefined()
  })

  it("places the gateway's refusals by their full path", () => {
    const err = new ApiError('DOORSTEP_ERR_BAD_REQUEST', 'bad', 400, undefined, {
      issues: [
        { path: 'motion.sensitivity', message: 'Too big' },
        { path: 'heartbeatIntervalS', message: 'Too small' },
        { path: 'heartbeatIntervalS', message: 'Not an integer' },
        { path: '', message: 'the change sets no field' },
      ],
    })
    const m = issuesByPath(err)
    expect(m.get('motion.sensitivity')).toBe('Too big')
    expect(m.get('heartbeatIntervalS')).toBe('Too small; Not an integer')
    expect(m.get('')).toBe('the change sets no field')
    expect(issuesByPath(new Error('x')).size).toBe(0)
  })
})

describe('the rule form', () => {
  const CH = '0b9f3f7e-8a55-4a8e-9a43-2b7e3c2f8d11'

  it('leaves empty fields to the gateway, and sends the quiet hours only when given', () => {
    const body = ruleBodyOf({ ...emptyRule('Asia/Shanghai'), name: 'Offline', district: '', channels: [CH] })
    expect(body).toEqual({
      name: 'Offline',
      kind: 'offline',
      district: null,
      offlineMinutes: 10,
      quietHours: null,
      channels: [CH],
    })
    const parsed = RuleCreate.parse(body)
    // The kind's own severity and the default window: the gateway's to fill in.
    expect(parsed.windowS).toBe(900)
    expect(parsed.severity).toBeUndefined()
  })

  it('turns minutes into the window in seconds, and a quiet span into its zone', () => {
    const body = ruleBodyOf({
      ...emptyRule('Asia/Shanghai'),
      name: 'Tamper',
      kind: 'tamper',
      district: '7',
      severity: 'critical',
      offlineMinutes: '5',
      windowMinutes: '2.5',
      quietStart: '22:00',
      quietEnd: '07:00',
      channels: [CH],
    })
    expect(body).toEqual({
      name: 'Tamper',
      kind: 'tamper',
      district: 7,
      severity: 'critical',
      windowS: 150,
      quietHours: { start: '22:00', end: '07:00', timeZone: 'Asia/Shanghai' },
      channels: [CH],
    })
    expect(RuleCreate.safeParse(body).success).toBe(true)
    // One end only is sent as typed, so the gateway's refusal names the missing end.
    const half = ruleBodyOf({ ...emptyRule(''), name: 'x', quietStart: '22:00', channels: [CH] })
    expect(half.quietHours).toEqual({ start: '22:00', end: '', timeZone: 'UTC' })
    expect(RuleCreate.safeParse(half).success).toBe(false)
  })
})
