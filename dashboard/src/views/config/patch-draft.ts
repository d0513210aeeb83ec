import type { UnitConfigPatch } from '@doorstep/proto'
import { ApiError } from '../../api/errors.js'

/**
 * The change form's fields as typed: an empty one is left as the units have it, so a change names only
 * what it changes (UnitConfigPatch). Zones and recording windows are lists set whole; the form leaves
 * them alone.
 */
export interface PatchDraft {
  heartbeatIntervalS: string
  sensitivity: string
  recordingDefault: '' | 'always' | 'motion' | 'off'
  clipLengthS: string
  uploadKbps: string
  nightMode: '' | 'auto' | 'on' | 'off'
}

export const EMPTY_DRAFT: PatchDraft = {
  heartbeatIntervalS: '',
  sensitivity: '',
  recordingDefault: '',
  clipLengthS: '',
  uploadKbps: '',
  nightMode: '',
}

/** The draft's fields, named by their path in the patch: the gateway names a refused field the same way. */
export const FIELDS = [
  'heartbeatIntervalS',
  'motion.sensitivity',
  'recording.default',
  'clipLengthS',
  'uploadKbps',
  'nightMode',
] as const
export type PatchField = (typeof FIELDS)[number]

const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s))

/**
 * The patch the draft asks for. Bounds are the gateway's to check: its refusal names each field, and
 * the form shows it there (an empty patch is refused the same way, for the form as a whole).
 */
export function patchOf(d: PatchDraft): UnitConfigPatch {
  const out: Record<string, unknown> = {}
  const hb = num(d.heartbeatIntervalS)
  if (hb !== undefined) out.heartbeatIntervalS = hb
  const sens = num(d.sensitivity)
  if (sens !== undefined) out.motion = { sensitivity: sens }
  if (d.recordingDefault !== '') out.recording = { default: d.recordingDefault }
  const clip = num(d.clipLengthS)
  if (clip !== undefined) out.clipLengthS = clip
  const kbps = num(d.uploadKbps)
  if (kbps !== undefined) out.uploadKbps = kbps
  if (d.nightMode !== '') out.nightMode = d.nightMode
  // Checked by the gateway, not here: one source of the bounds (proto's UnitConfigPatch).
  return out as UnitConfigPatch
}

/**
 * The gateway's refusal (`details.issues`, each `{path, message}`) by path: a field's path, `id` or
 * `district` for the route's own parameter, `''` for the change as a whole.
 */
export function issuesByPath(err: unknown): Map<string, string> {
  const out = new Map<string, string>()
  if (!(err instanceof ApiError)) return out
  const d = err.details
  if (typeof d !== 'object' || d === null || !('issues' in d) || !Array.isArray(d.issues)) return out
  for (const issue of d.issues as unknown[]) {
    if (typeof issue !== 'object' || issue === null) continue
    const path = 'path' in issue && typeof issue.path === 'string' ? issue.path : ''
    const message = 'message' in issue && typeof issue.message === 'string' ? issue.message : ''
    const had = out.get(path)
    out.set(path, had ? `${had}; ${message}` : message)
  }
  return out
}
