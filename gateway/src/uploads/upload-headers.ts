import { DoorstepError } from '../errors.js'

/** A PUT's `Content-Range`: a part of the file, or `*` to finish with what was received. */
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
 * `[RFC 9530] Repr-Digest: sha-256=:BASE64:`: the digest of the whole
 * upload, when the client sends one. Other algorithms are ignored.
 */
export function declaredSha256(header: string | string[] | undefined): string | null {
  const v = Array.isArray(header) ? header.join(',') : header
  if (!v) return null
  const m = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):/.exec(v)
  if (!m?.[1]) return null
  const hex = Buffer.from(m[1], 'base64').toString('hex')
  if (hex.length !== 64) throw bad('Repr-Digest: sha-256 must be 32 bytes')
  return hex
}

function bad(message: string): DoorstepError {
  return new DoorstepError('DOORSTEP_ERR_BAD_REQUEST', message)
}
