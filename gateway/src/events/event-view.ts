import type { EventView } from '@doorstep/proto'
import type { IndexedEvent } from './event-index.js'

/** Adds the clip links; the clip routes check access again when they are followed. */
export function eventView(e: IndexedEvent): EventView {
  const { updatedAt: _u, ...rest } = e
  const ready = e.clip.state === 'ready'
  const base = `/api/v1/clips/${e.id}`
  return { ...rest, clip: { ...e.clip, url: ready ? base : null, thumbUrl: ready ? `${base}/thumb` : null } }
}
