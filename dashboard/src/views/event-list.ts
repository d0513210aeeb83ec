import type { EventView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { EventQuery } from '../api/endpoints.js'
import { messageOf } from '../api/errors.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useAsync } from '../lib/hooks.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { clipLabel } from './clip-state.js'
import { Failure, Loading } from './feedback.js'
import { KIND_GLYPH, kindKey } from './kinds.js'
import { Thumb } from './thumb.js'

export type EventFilter = Omit<EventQuery, 'cursor' | 'from' | 'to'>

function EventCard(props: { e: EventView }): JSX.Element {
  const { e } = props
  const { t, fmt } = useI18n()
  const none = h('span', { class: 'event-thumb kind-icon', 'aria-hidden': 'true' }, KIND_GLYPH[e.kind])
  return h(
    'li',
    { class: 'event-card', 'data-testid': 'event-card', 'data-event-id': e.id, 'data-clip': e.clip.state },
    // The index sets `thumbUrl` only for a ready clip: asking for the others would be a 404 each.
    e.clip.thumbUrl !== null
      ? h(Thumb, { eventId: e.id, alt: '', class: 'event-thumb', fallback: none })
      : none,
    h(
      'div',
      { class: 'event-body' },
      h(
        'a',
        { href: hrefOf({ name: 'event', id: e.id }), class: 'stretched' },
        h('strong', null, t(kindKey(e.kind))),
      ),
      h('span', { class: 'muted' }, ' · ', t('events.card.score', { score: e.score })),
      h(
        'div',
        { class: 'muted small' },
        t('events.card.meta', { time: fmt.time(e.startedAt), unit: e.deviceId, district: e.district }),
      ),
      h('div', { class: `small clip-${e.clip.state}` }, clipLabel(e, t, fmt)),
    ),
  )
}

/**
 * Events matching a filter over the last `windowMs`, newest first as the
 * gateway returns them, with "Load more" following `nextCursor`. Shows "not
 * available" while the gateway has no events API.
 */
export function EventList(props: { query: EventFilter; windowMs: number; compact?: boolean }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const key = JSON.stringify(props.query)
  // The window is fixed when the filter is chosen, so pages of one listing agree.
  const first = useAsync(
    (signal) => {
      const to = Date.now()
      return api.events({ ...props.query, from: to - props.windowMs, to }, signal).then((r) => ({ ...r, to }))
    },
    [key, props.windowMs],
  )
  const [more, setMore] = useState<{
    events: EventView[]
    cursor: string | null
    error: string | null
    busy: boolean
  }>({
    events: [],
    cursor: null,
    error: null,
    busy: false,
  })
  useEffect(() => {
    setMore({ events: [], cursor: first.data?.nextCursor ?? null, error: null, busy: false })
  }, [first.data])

  if (first.error) return h(Failure, { error: first.error, what: t('events.title'), retry: first.reload })
  if (!first.data) return h(Loading, { label: t('events.list.loading') })
  const { to } = first.data
  const events = [...first.data.events, ...more.events]

  const loadMore = () => {
    if (!more.cursor) return
    setMore((m) => ({ ...m, busy: true, error: null }))
    api.events({ ...props.query, from: to - props.windowMs, to, cursor: more.cursor }).then(
      (r) =>
        setMore((m) => ({
          events: [...m.events, ...r.events],
          cursor: r.nextCursor,
          error: null,
          busy: false,
        })),
      (err: unknown) => setMore((m) => ({ ...m, error: messageOf(err, t), busy: false })),
    )
  }

  if (events.length === 0)
    return h('p', { class: 'muted', 'data-testid': 'events-empty' }, t('events.list.empty'))
  return h(
    'div',
    null,
    h(
      'ul',
      { class: `event-list${props.compact ? ' compact' : ''}`, 'data-testid': 'event-list' },
      events.map((e) => h(EventCard, { key: e.id, e })),
    ),
    more.error ? h('p', { class: 'form-error', role: 'alert' }, more.error) : null,
    more.cursor
      ? h(
          'button',
          { type: 'button', class: 'btn', onClick: loadMore, disabled: more.busy },
          more.busy ? t('events.list.loadingMore') : t('events.list.loadMore'),
        )
      : null,
  )
}
