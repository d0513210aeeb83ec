import { describe, expect, it } from 'vitest'
import {
  escapeFieldString,
  escapeMeasurement,
  escapeTag,
  formatBool,
  formatField,
  formatFloat,
  formatInt,
} from '../../gateway/src/influx/line-protocol.js'

// The same strings go through a real influxd in influx-store.test.ts ("round-trips ...").
describe('line protocol escaping', () => {
  it('returns plain names and tags unchanged (the same string, no copy)', () => {
    const s = 'unit-0042_district.7'
    expect(escapeTag(s)).toBe(s)
    expect(escapeMeasurement('heartbeat')).toBe('heartbeat')
    expect(escapeTag('')).toBe('')
  })

  it('escapes commas, spaces and equals signs in tags', () => {
    expect(escapeTag('Main St 5, back=yard')).toBe('Main\\ St\\ 5\\,\\ back\\=yard')
    expect(escapeTag(',= ')).toBe('\\,\\=\\ ')
  })

  it('escapes commas and spaces but not equals signs in measurements', () => {
    expect(escapeMeasurement('a b,c=d')).toBe('a\\ b\\,c=d')
  })

  it('leaves backslashes in tags alone, as influxd 1.6 stores `\\\\` literally', () => {
    expect(escapeTag('C:\\cams\\front')).toBe('C:\\cams\\front')
    expect(escapeTag('a\\,b')).toBe('a\\\\,b')
  })

  it('turns newlines in tags into escaped spaces so a point cannot split its line', () => {
    expect(escapeTag('a\nb\r\nc')).toBe('a\\ b\\ \\ c')
    expect(escapeMeasurement('m\n')).toBe('m\\ ')
  })

  it('quotes string fields, escaping quotes and backslashes only', () => {
    expect(escapeFieldString('plain')).toBe('"plain"')
    expect(escapeFieldString('')).toBe('""')
    expect(escapeFieldString('say "hi"')).toBe('"say \\"hi\\""')
    expect(escapeFieldString('C:\\x\\')).toBe('"C:\\\\x\\\\"')
    expect(escapeFieldString('"\\')).toBe('"\\"\\\\"')
    expect(escapeFieldString('a, b=c d\nline')).toBe('"a, b=c d\nline"')
  })
})

describe('field values', () => {
  it('writes numbers as floats, without the integer suffix', () => {
    expect(formatFloat(12)).toBe('12')
    expect(formatFloat(-71.5)).toBe('-71.5')
    expect(formatFloat(1e21)).toBe('1e+21')
    expect(() => formatFloat(Number.NaN)).toThrow(expect.objectContaining({ code: 'DOORSTEP_ERR_INTERNAL' }))
    expect(() => formatFloat(Number.POSITIVE_INFINITY)).toThrow()
  })

  it('writes integers with `i`, refusing fractions and unsafe numbers', () => {
    expect(formatInt(86400)).toBe('86400i')
    expect(formatInt(-3)).toBe('-3i')
    expect(formatInt(2n ** 62n)).toBe('4611686018427387904i')
    expect(() => formatInt(1.5)).toThrow()
    expect(() => formatInt(2 ** 60)).toThrow()
  })

  it('writes booleans and picks the format by type', () => {
    expect(formatBool(true)).toBe('true')
    expect(formatBool(false)).toBe('false')
    expect(formatField(3)).toBe('3')
    expect(formatField(false)).toBe('false')
    expect(formatField('x"y')).toBe('"x\\"y"')
  })
})
