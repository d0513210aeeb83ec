import { DISTRICT_COUNT, EventKind } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { type EventFilter, EventList } from './event-list.js'
import { kindKey } from './kinds.js'

const WINDOWS: ReadonlyArray<{ key: '1h' | '24h' | '7d' | '30d'; label: MessageKey; ms: number }> = [
  { key: '1h', label: 'events.window.1h', ms: 3_600_000 },
  { key: '24h', label: 'events.window.24h', ms: 24 * 3_600_000 },
  { key: '7d', label: 'events.window.7d', ms: 7 * 24 * 3_600_000 },
  { key: '30d', label: 'events.window.30d', ms: 30 * 24 * 3_600_000 },
]

/** For investigators: events by time window, district, kind and whether a clip exists. */
export function EventsView(): JSX.Element {
  const { t } = useI18n()
  const [windowKey, setWindow] = useState<(typeof WINDOWS)[number]['key']>('24h')
  const [district, setDistrict] = useState('')
  const [kind, setKind] = useState('')
  const [clipOnly, setClipOnly] = useState(false)
  const windowMs = WINDOWS.find((w) => w.key === windowKey)?.ms ?? 24 * 3_600_000
  const parsedKind = EventKind.safeParse(kind)
  const query: EventFilter = {
    ...(district ? { district: Number(district) } : {}),
    ...(parsedKind.success ? { kind: parsedKind.data } : {}),
    ...(clipOnly ? { hasClip: true } : {}),
  }
  const value = (e: Event) => (e.currentTarget as HTMLSelectElement).value

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'events-title' },
    h('header', { class: 'panel-head' }, h('h1', { id: 'events-title', tabIndex: -1 }, t('events.title'))),
    h(
      'div',
      { class: 'filters' },
      h(
        'select',
        {
          'aria-label': t('events.window.label'),
          value: windowKey,
          onChange: (e: Event) => setWindow(value(e) as typeof windowKey),
        },
        WINDOWS.map((w) => h('option', { value: w.key }, t(w.label))),
      ),
      h(
        'select',
        {
          'aria-label': t('events.district'),
          value: district,
          onChange: (e: Event) => setDistrict(value(e)),
        },
        h('option', { value: '' }, t('events.allDistricts')),
        Array.from({ length: DISTRICT_COUNT }, (_, i) =>
          h('option', { value: i + 1 }, t('events.districtN', { district: i + 1 })),
        ),
      ),
      h(
        'select',
        { 'aria-label': t('events.kind'), value: kind, onChange: (e: Event) => setKind(value(e)) },
        h('option', { value: '' }, t('events.allKinds')),
        EventKind.options.map((k) => h('option', { value: k }, t(kindKey(k)))),
      ),
      h(
        'label',
        { class: 'check' },
        h('input', {
          type: 'checkbox',
          checked: clipOnly,
          onChange: (e: Event) => setClipOnly((e.currentTarget as HTMLInputElement).checked),
        }),
        ' ',
        t('events.clipOnly'),
      ),
    ),
    h(EventList, { query, windowMs }),
  )
}
