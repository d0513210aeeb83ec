import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { useServices } from '../services.js'

/**
 * Callers mount this only for an event whose clip is ready (nothing says more:
 * the event list has `clip.thumbUrl`, the feed asks the events index). The
 * thumbnail is made after the clip is stored, through the media queue, so for
 * a moment it can still be missing: it is asked for again, later and later
 * (3 s, 6 s, 12 s... up to a minute apart, for about ten minutes). The failures are remembered per event
 * across mounts: the feed re-mounts rows as it scrolls, and a 404 per row per
 * scroll would be noise for the gateway.
 */
const failures = new Map<string, { count: number; at: number }>()
const MAX_TRIES = 14

function retryDelay(count: number): number {
  return Math.min(60_000, 3000 * 2 ** Math.max(0, count - 1))
}

export function Thumb(props: {
  eventId: string
  alt: string
  class?: string
  /** Shown instead while there is no thumbnail (not uploaded yet, no access, or no clips API). */
  fallback?: JSX.Element
}): JSX.Element | null {
  const { api } = useServices()
  const { eventId } = props
  const [, setTick] = useState(0)
  const f = failures.get(eventId)
  const due = !f || (f.count < MAX_TRIES && Date.now() - f.at >= retryDelay(f.count))

  // While failed, wake up when the next try is due.
  useEffect(() => {
    if (due || !f || f.count >= MAX_TRIES) return
    const t = setTimeout(() => setTick((n) => n + 1), retryDelay(f.count) - (Date.now() - f.at))
    return () => clearTimeout(t)
  }, [due, f?.count, f?.at])

  if (!due)
    return (
      props.fallback ?? h('span', { class: `thumb thumb-none ${props.class ?? ''}`, 'aria-hidden': 'true' })
    )
  // A retry gets its own URL, so no cache can answer it with the earlier failure.
  const src = f ? `${api.thumbUrl(eventId)}&try=${f.count}` : api.thumbUrl(eventId)
  return h('img', {
    class: `thumb ${props.class ?? ''}`,
    src,
    alt: props.alt,
    loading: 'lazy',
    decoding: 'async',
    'data-testid': 'thumb',
    onLoad: () => failures.delete(eventId),
    onError: () => {
      if (failures.size > 5000) {
        // Long-running ops screens: forget failures of events nobody has looked at for a while.
        for (const [id, x] of failures) if (Date.now() - x.at > 15 * 60_000) failures.delete(id)
      }
      const prev = failures.get(eventId)
      failures.set(eventId, { count: (prev?.count ?? 0) + 1, at: Date.now() })
      setTick((n) => n + 1)
    },
  })
}
