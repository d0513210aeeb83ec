import { UnitConfigPatch } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../../dashboard/src/api/errors.js'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'
import { EMPTY_DRAFT, issuesByPath, patchOf } from '../../dashboard/src/views/config/patch-draft.js'

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
