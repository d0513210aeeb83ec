import type { EventDetail, Hold } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, isMissingRoute } from '../api/errors.js'
import { formatBytes, formatDateTime, formatDuration } from '../lib/format.js'
import { useAsync } from '../lib/hooks.js'
import type { HeldAlert } from '../live/alert-store.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { clipStateText } from './clip-state.js'
import { ErrorMessage, Loading, NotAvailable } from './feedback.js'

/**
 * The clip, in a plain <video>: the browser asks for byte ranges itself
 * (the clip route answers HTTP Range), so seeking works without loading the
 * whole file. The token rides in the URL because <video> cannot send headers.
 * A <video> error says nothing about why, so on failure one byte is asked
 * for with the bearer header, and the gateway's own message is shown.
 */
function ClipPlayer(props: { eventId: string; poster: boolean }): JSX.Element {
  const { api, http } = useServices()
  const [failure, setFailure] = useState<string | null>(null)
  const explain = async () => {
    const err = await http.errorOf(`api/v1/clips/${encodeURIComponent(props.eventId)}`, {
      range: 'bytes=0-0',
    })
    setFailure(err ? err.message : 'The clip was fetched, but this browser cannot play its format.')
  }
  if (failure) {
    return h('p', { class: 'error-box clip-missing', role: 'alert', 'data-testid': 'clip-missing' }, failure)
  }
  return h('video', {
    class: 'clip',
    controls: true,
    preload: 'metadata',
    playsInline: true,
    src: api.clipUrl(props.eventId),
    poster: props.poster ? api.thumbUrl(props.eventId) : undefined,
    'data-testid': 'clip-video',
    onError: () => void explain(),
  })
}

const row = (k: string, v: JSX.Element | string) => [h('dt', null, k), h('dd', null, v)]

function Details(props: { e: EventDetail }): JSX.Element {
  const { e } = props
  const m = e.media
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'event-details' },
    row('Kind', e.kind),
    row('Unit', h('a', { href: hrefOf({ name: 'device', id: e.deviceId }) }, e.deviceId)),
    row(
      'District',
      h('a', { href: hrefOf({ name: 'district', district: e.district }) }, `District ${e.district}`),
    ),
    row('Started', formatDateTime(e.startedAt)),
    row(
      'Ended',
      e.endedAt ? `${formatDateTime(e.endedAt)} (${formatDuration(e.endedAt - e.startedAt)})` : 'ongoing',
    ),
    row('Score', e.score.toFixed(2)),
    e.zone ? row('Zone', e.zone) : null,
    row(
      'Clip',
      h(
        'span',
        { 'data-testid': 'clip-state', 'data-state': e.clip.state },
        // A unit announces its clip when the detection ends.
        e.clip.state === 'none' && e.phase !== 'end'
          ? 'None yet: the detection is still going on.'
          : clipStateText(e.clip.state),
      ),
    ),
    m
      ? row(
          'Media',
          `${m.codec} ${m.width}×${m.height} · ${formatDuration(m.durationMs)} · ${formatBytes(m.bytes)} · stored ${formatDateTime(m.storedAt)}`,
        )
      : null,
  )
}

function Holds(props: { holds: Hold[] }): JSX.Element | null {
  const active = props.holds.filter((x) => x.active)
  if (active.length === 0) return null
  return h(
    'div',
    { class: 'holds', 'data-testid': 'holds' },
    h('h2', null, 'Held as evidence'),
    h(
      'ul',
      null,
      active.map((x) =>
        h(
          'li',
          { key: x.id },
          `${x.reason} — by ${x.who}, ${formatDateTime(x.createdAt)}${x.until ? `, until ${formatDateTime(x.until)}` : ''}`,
        ),
      ),
    ),
  )
}

/** What the alert told, for when the events API cannot (not built yet, or the event not indexed yet). */
function FromAlert(props: { a: HeldAlert }): JSX.Element {
  const { a } = props
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'event-from-alert' },
    row('Kind', a.kind),
    row('Unit', h('a', { href: hrefOf({ name: 'device', id: a.deviceId }) }, a.deviceId)),
    row(
      'District',
      h('a', { href: hrefOf({ name: 'district', district: a.district }) }, `District ${a.district}`),
    ),
    row('Raised', formatDateTime(a.at)),
    row('Alert', a.message),
  )
}

/** One event: its facts, holds and clip. */
export function EventPage(props: { id: string }): JSX.Element {
  const { api, feed } = useServices()
  // Polled until the event has ended and its clip has settled: the page then shows the player by itself.
  const [settled, setSettled] = useState(false)
  const ev = useAsync((signal) => api.event(props.id, signal), [props.id], settled ? {} : { refreshMs: 4000 })
  const e = ev.data
  const nowSettled =
    e !== null && e.phase === 'end' && e.clip.state !== 'pending' && e.clip.state !== 'uploading'
  useEffect(() => {
    if (nowSettled) setSettled(true)
  }, [nowSettled])
  const alert = feed.byEventId(props.id)
  const missingApi = isMissingRoute(ev.error)
  const notFound = ev.error instanceof ApiError && ev.error.status === 404 && !missingApi

  let body: JSX.Element | Array<JSX.Element | null> | null
  if (ev.data) {
    body = [
      h(Details, { e: ev.data }),
      ev.data.clip.state === 'ready'
        ? h(ClipPlayer, { eventId: props.id, poster: ev.data.media?.thumb ?? false })
        : null,
      h(Holds, { holds: ev.data.holds }),
    ]
  } else if (ev.loading && !ev.error) {
    body = h(Loading, { label: 'Loading…' })
  } else if (alert && (missingApi || notFound)) {
    body = [
      missingApi
        ? h(NotAvailable, { what: 'Event details' })
        : h('p', { class: 'muted' }, 'The event is not indexed yet.'),
      h(FromAlert, { a: alert }),
    ]
  } else if (missingApi) {
    body = h(NotAvailable, { what: 'Event details' })
  } else {
    body = h(ErrorMessage, { error: ev.error, retry: ev.reload })
  }

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'event-title', 'data-testid': 'event-page' },
    h(
      'nav',
      { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: hrefOf({ name: 'events' }) }, 'Events'),
      h('span', { 'aria-hidden': 'true' }, ' / '),
      h('span', { 'aria-current': 'page' }, props.id.slice(0, 8)),
    ),
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'event-title', tabIndex: -1 }, `Event ${props.id.slice(0, 8)}`),
      h('code', { class: 'muted small' }, props.id),
    ),
    body,
  )
}
