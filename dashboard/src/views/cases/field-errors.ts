import { ApiError } from '../../api/errors.js'

/**
 * The gateway refuses a body with `details.issues` (`{path, message}` each): shown beside the fields they
 * name. The form's fields are the body's top-level keys (`area.district` goes to `area`).
 */
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!(err instanceof ApiError)) return out
  const d = err.details
  if (typeof d !== 'object' || d === null || !('issues' in d) || !Array.isArray(d.issues)) return out
  for (const issue of d.issues as unknown[]) {
    if (typeof issue !== 'object' || issue === null) continue
    const path = 'path' in issue && typeof issue.path === 'string' ? issue.path : ''
    const message = 'message' in issue && typeof issue.message === 'string' ? issue.message : ''
    const field = path.split('.')[0] || 'form'
    out[field] = out[field] ? `${out[field]}; ${message}` : message
  }
  return out
}
