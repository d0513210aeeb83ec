import { describe, expect, it } from 'vitest'
import { ApiError } from '../../dashboard/src/api/errors.js'
import { hrefOf, parseRoute, type Route, rolesOf } from '../../dashboard/src/router.js'
import { fieldErrors } from '../../dashboard/src/views/cases/field-errors.js'

const ID = '0b6f1c2e-5d4a-4c3b-9a8e-7f6d5c4b3a21'

describe("the investigators' routes", () => {
  it('parse and round-trip through hrefOf', () => {
    const routes: Route[] = [{ name: 'cases' }, { name: 'case-new' }, { name: 'case', id: ID }]
    for (const r of routes) expect(parseRoute(hrefOf(r))).toEqual(r)
    expect(hrefOf({ name: 'case-new' })).toBe('#/cases/new')
    expect(hrefOf({ name: 'case', id: ID })).toBe(`#/case/${ID}`)
  })

  it('refuse malformed paths', () => {
    expect(parseRoute('#/cases/old').name).toBe('not-found')
    expect(parseRoute('#/case').name).toBe('not-found')
    expect(parseRoute('#/case/PD-2026-1').name).toBe('not-found')
    expect(parseRoute(`#/case/${ID}/extra`).name).toBe('not-found')
  })

  it('are for admins and investigators only', () => {
    for (const r of [{ name: 'cases' }, { name: 'case-new' }, { name: 'case', id: ID }] as Route[]) {
      expect(rolesOf(r)).toEqual(['admin', 'investigator'])
    }
  })
})

describe("the gateway's refusal of a case, by field", () => {
  it('puts each issue on the top-level field it names', () => {
    const err = new ApiError('DOORSTEP_ERR_VALIDATION', 'bad', 400, undefined, {
      issues: [
        { path: 'number', message: 'letters, digits' },
        { path: 'area.ids.0', message: 'bad id' },
        { path: 'to', message: 'from must be before to' },
        { path: 'to', message: 'at most 7 days' },
      ],
    })
    expect(fieldErrors(err)).toEqual({
      number: 'letters, digits',
      area: 'bad id',
      to: 'from must be before to; at most 7 days',
    })
  })

  it('finds nothing in other failures', () => {
    expect(fieldErrors(new Error('x'))).toEqual({})
    expect(fieldErrors(new ApiError('DOORSTEP_ERR_CONFLICT', 'taken', 409))).toEqual({})
  })
})
