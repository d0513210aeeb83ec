import type { UnitConfigPatch } from '@doorstep/proto'
import { ApiError } from '../../api/errors.js'

/** A motion zone as typed: fractions of the frame from its top-left corner. */
export interface ZoneDraft {
  x: string
  y: string
  w: string
  h: string
}

/** A recording window as typed (`HH:MM`, the unit's local time). */
export interface WindowDraft {
  from: string
  to: string
  mode: 'always' | 'motion' | 'off'
}

/**
 * The change form's fields as typed: an empty one is left as the units have it, so a change names only
 * what it changes (UnitConfigPatch). Zones and recording windows are lists set whole: null leaves them,
 * a list (empty too) replaces them.
 */
export interface PatchDraft {
  heartbeatIntervalS: string
  sensitivity: string
  recordingDefault: '' | 'always' | 'motion' | 'off'
  clipLengthS: string
  uploadKbps: string
  nightMode: '' | 'auto' | 'on' | 'off'
  zones: ZoneDraft[] | null
  windows: WindowDraft[] | null
}

/** The fields typed as text, which an empty value leaves unchanged. */
export type TextField = Exclude<keyof PatchDraft, 'zones' | 'windows'>

export const EMPTY_DRAFT: PatchDraft = {
  heartbeatIntervalS: '',
  sensitivity: '',
  recordingDefault: '',
  clipLengthS: '',
  uploadKbps: '',
  nightMode: '',
  zones: null,
  windows: null,
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

/** The lists: a refusal inside one (`motion.zones.2.w`) is shown under the whole list. */
export const LISTS = ['motion.zones', 'recording.windows'] as const
export type PatchList = (typeof LISTS)[number]

/** Every refusal under `list`, each with the row it is about (counted from 1), one per line. */
export function listIssues(issues: Map<string, string>, list: PatchList): string | undefined {
  const lines: string[] = []
  for (const [path, message] of issues) {
    if (path !== list && !path.startsWith(`${list}.`)) continue
    const row = /^\.(\d+)/.exec(path.slice(list.length))?.[1]
    lines.push(row === undefined ? message : `#${Number(row) + 1}: ${message}`)
  }
  return lines.length === 0 ? undefined : lines.join('\n')
}

const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s))

/**
 * The patch the draft asks for. Bounds are the gateway's to check: its refusal names each field, and
 * the form shows it there (an empty patch is refused the same way, for the form as a whole).
 */
export function patchOf(d: PatchDraft): UnitConfigPatch {
  const out: Record<string, unknown> = {}
  const hb = num(d.heartbeatIntervalS)
  if (hb !== undefined) out.heartbeatIntervalS = hb
  const motion: Record<string, unknown> = {}
  const sens = num(d.sensitivity)
  if (sens !== undefined) motion.sensitivity = sens
  if (d.zones !== null)
    motion.zones = d.zones.map((z) => ({ x: Number(z.x), y: Number(z.y), w: Number(z.w), h: Number(z.h) }))
  if (Object.keys(motion).length > 0) out.motion = motion
  const recording: Record<string, unknown> = {}
  if (d.recordingDefault !== '') recording.default = d.recordingDefault
  if (d.windows !== null) recording.windows = d.windows.map((w) => ({ from: w.from, to: w.to, mode: w.mode }))
  if (Object.keys(recording).length > 0) out.recording = recording
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
