import { DISTRICT_COUNT, EventKind } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { type EventFilter, EventList } from './event-list.js'

const WINDOWS = [
  { key: '1h', label: 'Last hour', ms: 3_600_000 },
  { key: '24h', label: 'Last 24 h', ms: 24 * 3_600_000 },
  { key: '7d', label: 'Last 7 days', ms: 7 * 24 * 3_600_000 },
  { key: '30d', label: 'Last 30 days', ms: 30 * 24 * 3_600_000 },
] as const

/** For investigators: events by time window, district, kind and whether a clip exists. */
export function EventsView(): JSX.Element {
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
    h('header', { class: 'panel-head' }, h('h1', { id: 'events-title', tabIndex: -1 }, 'Events')),
    h(
      'div',
      { class: 'filters' },
      h(
        'select',
        {
          'aria-label': 'Time window',
          value: windowKey,
          onChange: (e: Event) => setWindow(value(e) as typeof windowKey),
        },
        WINDOWS.map((w) => h('option', { value: w.key }, w.label)),
      ),
      h(
        'select',
        { 'aria-label': 'District', value: district, onChange: (e: Event) => setDistrict(value(e)) },
        h('option', { value: '' }, 'All districts'),
        Array.from({ length: DISTRICT_COUNT }, (_, i) => h('option', { value: i + 1 }, `District ${i + 1}`)),
      ),
      h(
        'select',
        { 'aria-label': 'Kind', value: kind, onChange: (e: Event) => setKind(value(e)) },
        h('option', { value: '' }, 'All kinds'),
        EventKind.options.map((k) => h('option', { value: k }, k)),
      ),
      h(
        'label',
        { class: 'check' },
        h('input', {
          type: 'checkbox',
          checked: clipOnly,
          onChange: (e: Event) => setClipOnly((e.currentTarget as HTMLInputElement).checked),
        }),
        ' With clip only',
      ),
    ),
    h(EventList, { query, windowMs }),
  )
}
