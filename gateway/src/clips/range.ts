import { DoorstepError } from '../errors.js'

/** A clip PUT's `Content-Range`: a part of the file, or `*` to finish with what was received. */
export type UploadRange =
  | { kind: 'part'; start: number; end: number; total: number }
  | { kind: 'finish'; total: number }

/**
 * `Content-Range: bytes N-M/TOTAL` (RFC 9110 §14.4) on a PUT says where the
 * body goes; `bytes *\/TOTAL` with an empty body asks to finish an upload
 * whose bytes all arrived (as in resumable-upload protocols). Null when the
 * header is absent: the body is the whole file.
 */
export function parseContentRange(header: string | undefined): UploadRange | null {
  if (header === undefined) return null
  const m = /^bytes (?:(\d{1,15})-(\d{1,15})|\*)\/(\d{1,15})$/.exec(header.trim())
  if (!m)
    throw bad(`Content-Range must be "bytes N-M/TOTAL" or "bytes */TOTAL", not "${header.slice(0, 80)}"`)
  const total = Number(m[3])
  if (m[1] === undefined) return { kind: 'finish', total }
  const start = Number(m[1])
  const end = Number(m[2])
  // [RFC 9110 §14.4] a range whose last byte is before its first, or past the length, is invalid.
  if (end < start || end >= total)
    throw bad('Content-Range: the last byte must be between the first and TOTAL-1')
  return { kind: 'part', start, end, total }
}

/**
 * A GET's `Range: bytes=...` (RFC 9110 §14.1.2) against a file of `size`
 * bytes: `null` to send the whole file (no header, another unit, or several
 * ranges, which a server may ignore), the inclusive span to send, or
 * `'unsatisfiable'` for a 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return null
  if (m[1] === '') {
    // Suffix: the last N bytes.
    const n = Number(m[2])
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}

function bad(message: string): DoorstepError {
  return new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', message)
}
