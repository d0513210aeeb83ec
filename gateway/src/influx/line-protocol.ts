import { DoorstepError } from '../errors.js'

/**
 * InfluxDB 1.x line protocol, the parts the hot path needs. These run for
 * every point, so each first scans for a character that needs escaping and
 * returns the string untouched when there is none (the usual case: ids,
 * district codes, model names), building a new string only otherwise.
 *
 * Backslashes are NOT escaped in names and tags: influxd 1.6 unescapes only
 * `\,` `\ ` `\=` there and would store `\\` as two backslashes (checked
 * against influxd 1.6.7; see test/influx/line-protocol.test.ts). A name or
 * tag value that ends in a backslash cannot be written by 1.x at all; such a
 * point fails to parse on its own line and influxd drops only that point.
 *
 * Newlines end a point and have no escape outside string fields, so in names
 * and tags they become an escaped space: one odd tag value must not split a
 * line and take its neighbours in the batch down with it.
 */

const COMMA = 44
const SPACE = 32
const EQUALS = 61
const QUOTE = 34
const BACKSLASH = 92
const LF = 10
const CR = 13

function needsEscape(s: string, equals: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === COMMA || c === SPACE || c === LF || c === CR || (equals && c === EQUALS)) return true
  }
  return false
}

function escapeKey(s: string, equals: boolean): string {
  let out = ''
  let from = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let rep: string | null = null
    if (c === COMMA) rep = '\\,'
    else if (c === SPACE || c === LF || c === CR) rep = '\\ '
    else if (equals && c === EQUALS) rep = '\\='
    if (rep !== null) {
      out += s.slice(from, i) + rep
      from = i + 1
    }
  }
  return out + s.slice(from)
}

/** A measurement name: commas and spaces escaped. */
export function escapeMeasurement(s: string): string {
  return needsEscape(s, false) ? escapeKey(s, false) : s
}

/** A tag key, tag value or field key: commas, spaces and equals signs escaped. */
export function escapeTag(s: string): string {
  return needsEscape(s, true) ? escapeKey(s, true) : s
}

/** A string field value, quoted, with `"` and `\` escaped (the only escapes 1.x reads inside quotes). */
export function escapeFieldString(s: string): string {
  let i = 0
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c === QUOTE || c === BACKSLASH) break
    i++
  }
  if (i === s.length) return `"${s}"`
  let out = '"'
  let from = 0
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === QUOTE || c === BACKSLASH) {
      out += `${s.slice(from, i)}\\`
      from = i
    }
  }
  return `${out}${s.slice(from)}"`
}

/**
 * A float field. Whole numbers stay floats (no `i`), so a field first written
 * as 12 and later as 12.5 keeps one type; influxd would refuse the second
 * write of a mixed-type field.
 */
export function formatFloat(n: number): string {
  if (!Number.isFinite(n)) throw new DoorstepError('DOORSTEP_ERR_INTERNAL', `line protocol has no float ${n}`)
  return String(n)
}

/** An integer field (`i` suffix); 1.x integers are signed 64-bit. */
export function formatInt(n: number | bigint): string {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) {
    throw new DoorstepError('DOORSTEP_ERR_INTERNAL', `line protocol integer field got ${n}`)
  }
  return `${n}i`
}

export function formatBool(b: boolean): string {
  return b ? 'true' : 'false'
}

/** A field value by its JS type: numbers become floats; use `formatInt` for integer fields. */
export function formatField(v: number | boolean | string): string {
  if (typeof v === 'number') return formatFloat(v)
  if (typeof v === 'boolean') return formatBool(v)
  return escapeFieldString(v)
}
