import type { EventDetail, Hold } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, isMissingRoute, messageOf } from '../api/errors.js'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useAsync } from '../lib/hooks.js'
import type { HeldAlert } from '../live/alert-store.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { clipStateKey } from './clip-state.js'
import { ErrorMessage, Loading, NotAvailable } from './feedback.js'
import { alertTextKey, kindKey } from './kinds.js'

/**
 * The clip, in a plain <video>: the browser asks for byte ranges itself
 * (the clip route answers HTTP Range), so seeking works without loading the
 * whole file. The token rides in the URL because <video> cannot send headers.
 * A <video> error says nothing about why, so on failure one byte is asked
 * for with the bearer header, and the gateway's own message is shown.
 */
function ClipPlayer(props: { eventId: string; poster: boolean }): JSX.Element {
  const { api, http } = useServices()
  const { t } = useI18n()
  const [failure, setFailure] = useState<string | null>(null)
  const explain = async () => {
    const err = await http.errorOf(`api/v1/clips/${encodeURIComponent(props.eventId)}`, {
      range: 'bytes=0-0',
    })
    setFailure(err ? messageOf(err, t) : t('events.clip.unplayable'))
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

function useRow(): (k: MessageKey, v: JSX.Element | string) => JSX.Element[] {
  const { t } = useI18n()
  return (k, v) => [h('dt', null, t(k)), h('dd', null, v)]
}

function Details(props: { e: EventDetail }): JSX.Element {
  const { e } = props
  const { t, fmt } = useI18n()
  const row = useRow()
  const m = e.media
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'event-details' },
    row('events.fact.kind', t(kindKey(e.kind))),
    row('events.fact.unit', h('a', { href: hrefOf({ name: 'device', id: e.deviceId }) }, e.deviceId)),
    row(
      'events.fact.district',
      h(
        'a',
        { href: hrefOf({ name: 'district', district: e.district }) },
        t('events.districtN', { district: e.district }),
      ),
    ),
    row('events.fact.started', fmt.dateTime(e.startedAt)),
    row(
      'events.fact.ended',
      e.endedAt
        ? t('events.page.ended', {
            time: fmt.dateTime(e.endedAt),
            duration: fmt.duration(e.endedAt - e.startedAt),
          })
        : t('events.page.ongoing'),
    ),
    row('events.fact.score', fmt.number(Math.round(e.score * 100) / 100)),
    e.zone ? row('events.fact.zone', e.zone) : null,
    row(
      'events.fact.clip',
      h(
        'span',
        { 'data-testid': 'clip-state', 'data-state': e.clip.state },
        // A unit announces its clip when the detection ends.
        e.clip.state === 'none' && e.phase !== 'end'
          ? t('events.clip.noneYet')
          : t(clipStateKey(e.clip.state)),
      ),
    ),
    m
      ? row(
          'events.fact.media',
          t('events.page.media', {
            codec: m.codec,
            // Pixel sizes are read as one token ("1280×720"), not as quantities with digit grouping.
            width: String(m.width),
            height: String(m.height),
            duration: fmt.duration(m.durationMs),
            size: fmt.bytes(m.bytes),
            stored: fmt.dateTime(m.storedAt),
          }),
        )
      : null,
  )
}

function Holds(props: { holds: Hold[] }): JSX.Element | null {
  const { t, fmt } = useI18n()
  const active = props.holds.filter((x) => x.active)
  if (active.length === 0) return null
  return h(
    'div',
    { class: 'holds', 'data-testid': 'holds' },
    h('h2', null, t('events.holds.title')),
    h(
      'ul',
      null,
      active.map((x) =>
        h(
          'li',
          { key: x.id },
          x.until
            ? t('events.holds.itemUntil', {
                reason: x.reason,
                who: x.who,
                at: fmt.dateTime(x.createdAt),
                until: fmt.dateTime(x.until),
              })
            : t('events.holds.item', { reason: x.reason, who: x.who, at: fmt.dateTime(x.createdAt) }),
        ),
      ),
    ),
  )
}

/** What the alert told, for when the events API cannot (not built yet, or the event not indexed yet). */
function FromAlert(props: { a: HeldAlert }): JSX.Element {
  const { a } = props
  const { t, fmt, locale } = useI18n()
  const row = useRow()
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'event-from-alert' },
    row('events.fact.kind', t(kindKey(a.kind))),
    row('events.fact.unit', h('a', { href: hrefOf({ name: 'device', id: a.deviceId }) }, a.deviceId)),
    row(
      'events.fact.district',
      h(
        'a',
        { href: hrefOf({ name: 'district', district: a.district }) },
        t('events.districtN', { district: a.district }),
      ),
    ),
    row('events.fact.raised', fmt.dateTime(a.at)),
    // The gateway's alert line is English: in other languages the dashboard says it from the kind.
    row('events.fact.alert', locale === 'en' ? a.message : t(alertTextKey(a.kind))),
  )
}

/** One event: its facts, holds and clip. */
export function EventPage(props: { id: string }): JSX.Element {
  const { api, feed } = useServices()
  const { t } = useI18n()
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
    body = h(Loading, { label: t('shell.loading') })
  } else if (alert && (missingApi || notFound)) {
    body = [
      missingApi
        ? h(NotAvailable, { what: t('events.page.details') })
        : h('p', { class: 'muted' }, t('events.page.notIndexed')),
      h(FromAlert, { a: alert }),
    ]
  } else if (missingApi) {
    body = h(NotAvailable, { what: t('events.page.details') })
  } else {
    body = h(ErrorMessage, { error: ev.error, retry: ev.reload })
  }

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'event-title', 'data-testid': 'event-page' },
    h(
      'nav',
      { class: 'crumbs', 'aria-label': t('events.page.breadcrumb') },
      h('a', { href: hrefOf({ name: 'events' }) }, t('events.title')),
      h('span', { 'aria-hidden': 'true' }, ' / '),
      h('span', { 'aria-current': 'page' }, props.id.slice(0, 8)),
    ),
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'event-title', tabIndex: -1 }, t('events.page.title', { id: props.id.slice(0, 8) })),
      h('code', { class: 'muted small' }, props.id),
    ),
    body,
  )
}
