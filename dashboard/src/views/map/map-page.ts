import type { LiveState, MapUnit } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { ErrorMessage, Loading } from '../feedback.js'
import { LazyUnitMap } from './lazy-map.js'
import { useMapData } from './map-data.js'

const STATES: readonly LiveState[] = ['online', 'stale', 'offline', 'unknown']

type Show = 'all' | 'problems'

/** Ops' map: where the units are, which are dark, and a click away from any of them. */
export function MapPage(): JSX.Element {
  const { t, fmt } = useI18n()
  const data = useMapData()
  const [show, setShow] = useState<Show>('all')
  const all = data.data?.units
  const units = useMemo<readonly MapUnit[]>(() => {
    if (!all) return []
    return show === 'all' ? all : all.filter((u) => u.state === 'offline' || u.state === 'stale')
  }, [all, show])
  const counts = useMemo(() => {
    const c: Record<LiveState, number> = { online: 0, stale: 0, offline: 0, unknown: 0 }
    for (const u of all ?? []) c[u.state]++
    return c
  }, [all])

  const head = h(
    'div',
    { class: 'map-head' },
    h('h1', { tabIndex: -1 }, t('map.title')),
    h('p', { class: 'muted' }, t('map.intro')),
  )
  if (!data.data) {
    return h(
      'section',
      { class: 'panel map-page', 'data-testid': 'map-page' },
      head,
      data.error
        ? h(ErrorMessage, { error: data.error, retry: data.reload })
        : h(Loading, { label: t('map.loading') }),
    )
  }
  const tiles = data.data.tiles
  return h(
    'section',
    { class: 'panel map-page', 'data-testid': 'map-page' },
    head,
    h(
      'div',
      { class: 'map-bar' },
      h(
        'ul',
        { class: 'map-legend', 'aria-label': t('map.legend.heading') },
        STATES.map((s) =>
          h(
            'li',
            { key: s, 'data-testid': `map-count-${s}`, 'data-count': counts[s] },
            h('span', { class: `map-unit state-${s}`, 'aria-hidden': 'true' }),
            t('map.legend.count', { state: t(`fleet.state.${s}`), count: counts[s] }),
          ),
        ),
      ),
      h(
        'label',
        { class: 'map-filter' },
        `${t('map.filter.label')} `,
        h(
          'select',
          {
            value: show,
            onChange: (e: Event) => setShow((e.currentTarget as HTMLSelectElement).value as Show),
            'data-testid': 'map-filter',
          },
          h('option', { value: 'all' }, t('map.filter.all')),
          h('option', { value: 'problems' }, t('map.filter.problems')),
        ),
      ),
      data.at !== null ? h('span', { class: 'muted' }, t('map.updated', { time: fmt.time(data.at) })) : null,
    ),
    tiles === null ? h('p', { class: 'muted small', 'data-testid': 'map-plain' }, t('map.plain')) : null,
    all && all.length === 0 ? h('p', { class: 'muted', 'data-testid': 'map-empty' }, t('map.empty')) : null,
    h(LazyUnitMap, {
      units,
      tiles,
      label: t('map.region'),
      testId: 'unit-map',
      onUnit: (u) => {
        window.location.hash = hrefOf({ name: 'device', id: u.id })
      },
      districtHref: (district) => hrefOf({ name: 'district', district }),
    }),
  )
}
