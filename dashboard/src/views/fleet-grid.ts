import type { HealthCounts } from '@doorstep/proto'
import { DISTRICT_COUNT } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo } from 'preact/hooks'
import { useI18n } from '../i18n/use-i18n.js'
import { useStore } from '../lib/store.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { ErrorMessage, Loading } from './feedback.js'

type Tone = 'ok' | 'warn' | 'bad' | 'empty' | 'unknown'

/**
 * A district's colour. Offline units are the thing ops act on, so they weigh
 * most: a tenth or more offline is red, any offline or stale is amber.
 */
export function toneOf(c: HealthCounts | undefined): Tone {
  if (!c || c.total === 0) return 'empty'
  if (c.unknown === c.total) return 'unknown'
  if (c.offline / c.total >= 0.1) return 'bad'
  if (c.offline > 0 || c.stale > 0) return 'warn'
  return 'ok'
}

function Bar(props: { c: HealthCounts }): JSX.Element {
  const { c } = props
  const pct = (n: number) => `${(n / c.total) * 100}%`
  return h(
    'span',
    { class: 'stack-bar', 'aria-hidden': 'true' },
    h('span', { class: 'seg online', style: { width: pct(c.online) } }),
    h('span', { class: 'seg stale', style: { width: pct(c.stale) } }),
    h('span', { class: 'seg offline', style: { width: pct(c.offline) } }),
    h('span', { class: 'seg unknown', style: { width: pct(c.unknown) } }),
  )
}

function Tile(props: { district: number; c: HealthCounts | undefined }): JSX.Element {
  const { district, c } = props
  const { t } = useI18n()
  const tone = toneOf(c)
  const label = c
    ? t('fleet.grid.tileLabel', {
        district,
        total: c.total,
        online: c.online,
        stale: c.stale,
        offline: c.offline,
      })
    : t('fleet.grid.tileEmptyLabel', { district })
  return h(
    'a',
    {
      href: hrefOf({ name: 'district', district }),
      class: `tile tone-${tone}`,
      'aria-label': label,
      'data-testid': `district-${district}`,
      'data-online': c?.online ?? 0,
      'data-stale': c?.stale ?? 0,
      'data-offline': c?.offline ?? 0,
      'data-total': c?.total ?? 0,
    },
    h(
      'span',
      { class: 'tile-top' },
      h('span', { class: 'tile-num' }, district),
      c && c.total > 0
        ? h('span', { class: 'tile-ratio', title: t('fleet.grid.ratioTitle') }, `${c.online}/${c.total}`)
        : null,
    ),
    c && c.total > 0
      ? [
          h(
            'span',
            { class: 'tile-counts' },
            c.offline > 0
              ? h('span', { class: 'c-offline' }, t('fleet.grid.offlineCount', { count: c.offline }))
              : null,
            c.stale > 0
              ? h('span', { class: 'c-stale' }, t('fleet.grid.staleCount', { count: c.stale }))
              : null,
            c.offline === 0 && c.stale === 0
              ? c.online > 0
                ? h('span', { class: 'c-online' }, t('fleet.grid.allReporting'))
                : h('span', { class: 'c-unknown' }, t('fleet.word.neverSeen'))
              : null,
          ),
          h(Bar, { c }),
        ]
      : h('span', { class: 'tile-empty muted' }, t('fleet.grid.noUnits')),
  )
}

function Summary(props: { c: HealthCounts }): JSX.Element {
  const { c } = props
  const { t, fmt } = useI18n()
  const item = (cls: string, label: string, n: number, testId: string) =>
    h(
      'div',
      { class: `sum ${cls}`, 'data-testid': testId },
      h('span', { class: 'sum-n' }, fmt.number(n)),
      h('span', null, label),
    )
  return h(
    'div',
    { class: 'summary' },
    item('', t('fleet.word.units'), c.total, 'sum-total'),
    item('online', t('fleet.word.online'), c.online, 'sum-online'),
    item('stale', t('fleet.word.stale'), c.stale, 'sum-stale'),
    item('offline', t('fleet.word.offline'), c.offline, 'sum-offline'),
    item('unknown', t('fleet.word.neverSeen'), c.unknown, 'sum-unknown'),
    item('low', t('fleet.word.lowStorage'), c.lowStorage, 'sum-low-storage'),
    item('low', t('fleet.word.notRecording'), c.notRecording, 'sum-not-recording'),
  )
}

/** The 61 districts at a glance; a tile opens its district's units. */
export function FleetGrid(): JSX.Element {
  const { health } = useServices()
  const state = useStore(health.store)
  const { t, fmt } = useI18n()
  const byDistrict = useMemo(() => {
    const m = new Map<number, HealthCounts>()
    for (const d of state.data?.districts ?? []) m.set(d.district, d)
    return m
  }, [state.data])

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'fleet-title' },
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'fleet-title', tabIndex: -1 }, t('shell.title.fleet')),
      state.data
        ? h(
            'span',
            { class: 'muted', 'data-testid': 'health-at' },
            t('fleet.grid.updated', { time: fmt.time(state.data.at) }),
          )
        : null,
      h('a', { class: 'btn small', href: hrefOf({ name: 'devices' }) }, t('fleet.grid.allUnits')),
    ),
    state.error !== null ? h(ErrorMessage, { error: state.error, retry: () => health.refresh() }) : null,
    state.data
      ? h(Summary, { c: state.data.overall })
      : state.error !== null
        ? null
        : h(Loading, { label: t('shell.loading') }),
    h(
      'div',
      { class: 'grid', 'data-testid': 'district-grid' },
      Array.from({ length: DISTRICT_COUNT }, (_, i) =>
        h(Tile, { key: i + 1, district: i + 1, c: byDistrict.get(i + 1) }),
      ),
    ),
    h(
      'p',
      { class: 'legend muted' },
      h('span', { class: 'c-online' }, `■ ${t('fleet.word.online')}`),
      h('span', { class: 'c-stale' }, `■ ${t('fleet.word.stale')}`),
      h('span', { class: 'c-offline' }, `■ ${t('fleet.word.offline')}`),
      h('span', { class: 'c-unknown' }, `■ ${t('fleet.word.neverSeen')}`),
    ),
  )
}
