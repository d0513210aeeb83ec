import { AlertKind, DISTRICT_COUNT } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import type { Formats } from '../i18n/formats.js'
import type { Translator } from '../i18n/translator.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useNow } from '../lib/hooks.js'
import { useStore } from '../lib/store.js'
import type { HeldAlert } from '../live/alert-store.js'
import { hrefOf, useRoute } from '../router.js'
import { useServices } from '../services.js'
import { alertTextKey, KIND_GLYPH, kindKey } from './kinds.js'
import { Thumb } from './thumb.js'
import { VirtualList } from './virtual-list.js'

/** Most alerts shown at once; the buffer holds more so a filter still finds enough. */
const SHOWN_MAX = 500
const ROW_HEIGHT = 64

/**
 * The alert's line: the gateway writes it in English, with the address and score; in other languages the
 * dashboard says it from the kind (the unit and district are on the row anyway).
 */
function alertText(a: HeldAlert, t: Translator['t'], locale: Formats['locale']): string {
  return locale === 'en' ? a.message : t(alertTextKey(a.kind))
}

/** One alert; its headline links to the event (or the unit) and stretches over the row. */
function AlertRow(props: {
  alert: HeldAlert
  now: number
  selected: boolean
  hasClip: boolean
}): JSX.Element {
  const { t, fmt, locale } = useI18n()
  const a = props.alert
  const glyph = h(
    'span',
    { class: `alert-thumb kind-icon kind-${a.kind} sev-${a.severity}`, 'aria-hidden': 'true' },
    KIND_GLYPH[a.kind],
  )
  const target = a.eventId
    ? hrefOf({ name: 'event', id: a.eventId })
    : hrefOf({ name: 'device', id: a.deviceId })
  return h(
    'div',
    {
      role: 'cell',
      class: `alert sev-${a.severity}${props.selected ? ' selected' : ''}`,
      'data-testid': 'alert',
      'data-alert-id': a.id,
      'data-kind': a.kind,
      'data-device-id': a.deviceId,
      'data-event-id': a.eventId,
    },
    // Only an event with a stored clip has a thumbnail: asking for any other would be a 404.
    a.eventId && props.hasClip
      ? h(Thumb, { eventId: a.eventId, alt: '', class: 'alert-thumb', fallback: glyph })
      : glyph,
    h(
      'span',
      { class: 'alert-body' },
      h(
        'span',
        { class: 'alert-top' },
        h('span', { class: `sev sev-${a.severity}` }, t(`events.severity.${a.severity}` as const)),
        h(
          'a',
          {
            href: target,
            class: 'stretched alert-kind',
            'aria-current': props.selected ? 'page' : undefined,
          },
          t(kindKey(a.kind)),
        ),
        a.count > 1
          ? h(
              'span',
              {
                class: 'count',
                title: t('events.alert.folded', { count: a.count }),
                'data-testid': 'alert-count-badge',
              },
              `×${fmt.number(a.count)}`,
            )
          : null,
        h('time', { class: 'alert-time', dateTime: new Date(a.at).toISOString() }, fmt.time(a.at, props.now)),
      ),
      h('span', { class: 'alert-msg ellipsis' }, alertText(a, t, locale)),
      h(
        'span',
        { class: 'alert-meta muted ellipsis' },
        t('events.alert.meta', { district: a.district, unit: a.deviceId }),
      ),
    ),
  )
}

/**
 * The live alert feed, newest first. Filters apply to what the page holds
 * (the socket always takes every alert: presence alerts also drive the
 * fleet-health refresh, so they cannot be filtered away at the gateway).
 */
export function AlertFeed(props: { page?: boolean }): JSX.Element {
  const { feed, clips } = useServices()
  const { t, locale } = useI18n()
  const alerts = useStore(feed.alerts)
  const withClip = useStore(clips.ready)
  const route = useRoute()
  // The event open in the main pane is marked in the feed.
  const openEvent = route.name === 'event' ? route.id : null
  const now = useNow(30_000)
  const [district, setDistrict] = useState<number | null>(null)
  const [kind, setKind] = useState<AlertKind | null>(null)

  const shown = useMemo(() => {
    const out: HeldAlert[] = []
    for (const a of alerts) {
      if (district !== null && a.district !== district) continue
      if (kind !== null && a.kind !== kind) continue
      out.push(a)
      if (out.length >= SHOWN_MAX) break
    }
    return out
  }, [alerts, district, kind])

  const critical = alerts.find((a) => a.severity === 'critical')

  return h(
    'section',
    {
      class: props.page ? 'panel fill feed feed-page' : 'panel feed',
      'aria-labelledby': 'feed-title',
      'data-testid': 'alert-feed',
    },
    h(
      'header',
      { class: 'panel-head' },
      // As the page's own content it is the page's heading, which navigation focuses.
      props.page
        ? h('h1', { id: 'feed-title', tabIndex: -1 }, t('events.alert.title'))
        : h('h2', { id: 'feed-title' }, t('events.alert.title')),
      h(
        'span',
        { class: 'muted', 'data-testid': 'alert-count' },
        t('events.alert.shown', { count: shown.length }),
      ),
    ),
    h(
      'div',
      { class: 'filters' },
      h(
        'label',
        null,
        h('span', { class: 'sr-only' }, t('events.district')),
        h(
          'select',
          {
            'data-testid': 'feed-district',
            value: district ?? '',
            onChange: (e: Event) => {
              const v = (e.currentTarget as HTMLSelectElement).value
              setDistrict(v === '' ? null : Number(v))
            },
          },
          h('option', { value: '' }, t('events.allDistricts')),
          Array.from({ length: DISTRICT_COUNT }, (_, i) =>
            h('option', { value: i + 1 }, t('events.districtN', { district: i + 1 })),
          ),
        ),
      ),
      h(
        'label',
        null,
        h('span', { class: 'sr-only' }, t('events.kind')),
        h(
          'select',
          {
            'data-testid': 'feed-kind',
            value: kind ?? '',
            onChange: (e: Event) => {
              const v = (e.currentTarget as HTMLSelectElement).value
              const parsed = AlertKind.safeParse(v)
              setKind(parsed.success ? parsed.data : null)
            },
          },
          h('option', { value: '' }, t('events.allKinds')),
          AlertKind.options.map((k) => h('option', { value: k }, t(kindKey(k)))),
        ),
      ),
    ),
    // Announces critical alerts only: reading out every alert would drown a screen-reader user.
    h(
      'div',
      { class: 'sr-only', 'aria-live': 'assertive' },
      critical ? t('events.alert.critical', { message: alertText(critical, t, locale) }) : '',
    ),
    h(VirtualList<HeldAlert>, {
      items: shown,
      rowHeight: ROW_HEIGHT,
      label: t('events.alert.listLabel'),
      testId: 'alert-list',
      rowKey: (a) => `${a.epoch}:${a.id}`,
      renderRow: (a) =>
        h(AlertRow, {
          alert: a,
          now,
          selected: a.eventId !== undefined && a.eventId === openEvent,
          hasClip: a.eventId !== undefined && withClip.has(a.eventId),
        }),
      empty: h(
        'p',
        { class: 'muted pad' },
        alerts.length === 0 ? t('events.alert.none') : t('events.alert.noMatch'),
      ),
    }),
  )
}
