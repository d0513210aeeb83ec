import type { ClipState, EventView } from '@doorstep/proto'
import { formatDuration } from '../lib/format.js'

/** What each clip state means to the person looking (proto/src/events.ts ClipState). */
const STATE_TEXT: Record<ClipState, string> = {
  none: 'No clip was recorded for this event.',
  pending: 'The unit announced a clip; the upload has not started yet.',
  uploading: 'The clip is being uploaded.',
  ready: 'Clip ready.',
  rejected: 'The uploaded file was not a playable video and was refused.',
  expired: 'The clip was deleted by retention; the event record stays.',
}

export function clipStateText(state: ClipState): string {
  return STATE_TEXT[state]
}

/** A short label for lists: "clip 0:12", "clip uploading", "no clip". */
export function clipLabel(e: EventView): string {
  const c = e.clip
  if (c.state === 'none') return 'no clip'
  if (c.state === 'ready') return c.durationMs ? `clip ${formatDuration(c.durationMs)}` : 'clip ready'
  return `clip ${c.state}`
}
