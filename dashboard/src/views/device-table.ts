import type { DeviceView, LiveState } from '@doorstep/proto'
import { Fragment, h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useAsync, useNow } from '../lib/hooks.js'
import { lastHeartbeatOf, storageFreeRatio } from '../lib/last-heartbeat.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { ErrorMessage } from './feedback.js'
import { useReloadOnFleetChange } from './fleet-reload.js'
import { ShortLabel } from './short-label.js'
import { STATE_LABEL, StateBadge } from './state-badge.js'
import { UnitCell } from './unit-cell.js'
import { VirtualList } from './virtual-list.js'

const ROW_HEIGHT = 48

/** Worst first: the units that need someone come to the top. */
const STATE_ORDER: Record<LiveState, number> = { offline: 0, stale: 1, unknown: 2, online: 3 }

type SortKey = 'state' | 'id' | 'lastSeen' | 'storage'

const SORTS: Record<SortKey, { label: MessageKey; cmp: (a: DeviceView, b: DeviceView) => number }> = {
  state: {
    label: 'fleet.sort.state',
    cmp: (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.id.localeCompare(b.id),
  },
  id: { label: 'fleet.sort.id', cmp: (a, b) => a.id.localeCompare(b.id) },
  lastSeen: { label: 'fleet.sort.lastSeen', cmp: (a, b) => (a.lastSeen ?? 0) - (b.lastSeen ?? 0) },
  storage: {
    label: 'fleet.sort.storage',
    cmp: (a, b) =>
      (storageFreeRatio(lastHeartbeatOf(a)) ?? 2) - (storageFreeRatio(lastHeartbeatOf(b)) ?? 2) ||
      a.id.localeCompare(b.id),
  },
}

function StorageCell(props: { d: DeviceView }): JSX.Element {
  const { t, fmt } = useI18n()
  const hb = lastHeartbeatOf(props.d)
  const ratio = storageFreeRatio(hb)
  if (!hb || ratio === null) return h('span', { class: 'muted' }, '–')
  return h(
    'span',
    {
      class: 'storage',
      title: t('fleet.storage.freeOf', {
        free: fmt.mib(hb.storageFreeMb),
        total: fmt.mib(hb.storageTotalMb),
      }),
    },
    h('meter', { min: 0, max: 1, low: 0.1, high: 0.25, optimum: 1, value: ratio, 'aria-hidden': 'true' }),
    h('span', null, t('fleet.storage.free', { free: fmt.mib(hb.storageFreeMb) })),
  )
}

/** Cells of one unit's row; the id link stretches over the whole row, so all of it is clickable. */
function Row(props: { d: DeviceView; now: number; showDistrict: boolean }): JSX.Element {
  const { d, now } = props
  const { t, fmt } = useI18n()
  return h(
    Fragment,
    null,
    h(UnitCell, { d, testId: 'device-row' }),
    props.showDistrict ? h('span', { role: 'cell', class: 'col-district' }, d.district) : null,
    h('span', { role: 'cell', class: 'col-state' }, h(StateBadge, { state: d.state })),
    h(
      'span',
      { role: 'cell', class: 'col-seen', title: d.lastSeen ? fmt.time(d.lastSeen, now) : undefined },
      fmt.ago(d.lastSeen, now, t('fleet.never')),
    ),
    h('span', { role: 'cell', class: 'col-storage' }, h(StorageCell, { d })),
  )
}

/**
 * Units of one district, or of the whole fleet, in a virtualised table with
 * a state filter, a search box and a sort. Refreshed every 15 s, and a
 * district's list also when the fleet revision moves.
 */
export function DeviceTable(props: { district: number | null }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const { district } = props
  const list = useAsync((signal) => api.devices(district === null ? {} : { district }, signal), [district], {
    refreshMs: 15_000,
  })
  // A district's list (tens of units) follows presence changes; the whole fleet's (megabytes) only polls.
  useReloadOnFleetChange(list.reload, district !== null)
  const now = useNow(10_000)
  const [state, setState] = useState<LiveState | ''>('')
  const [search, setSearch] = useState('')
  const [sort, setSort] = useState<SortKey>('state')

  const rows = useMemo(() => {
    const q = search.trim().toLowerCase()
    const all = list.data?.devices ?? []
    const out = all.filter(
      (d) =>
        (state === '' || d.state === state) &&
        (q === '' ||
          d.id.toLowerCase().includes(q) ||
          d.address.toLowerCase().includes(q) ||
          d.serial.toLowerCase().includes(q)),
    )
    return out.sort(SORTS[sort].cmp)
  }, [list.data, state, search, sort])

  const counts = useMemo(() => {
    const c: Record<LiveState, number> = { online: 0, stale: 0, offline: 0, unknown: 0 }
    for (const d of list.data?.devices ?? []) c[d.state]++
    return c
  }, [list.data])

  const title = district === null ? t('shell.title.devices') : t('shell.title.district', { district })
  const showDistrict = district === null
  const header = h(
    'div',
    { role: 'row', 'aria-rowindex': 1, class: `drow-head${showDistrict ? ' with-district' : ''}` },
    h('span', { role: 'columnheader', class: 'col-unit' }, t('fleet.col.unit')),
    showDistrict
      ? h(
          'span',
          { role: 'columnheader', class: 'col-district' },
          h(ShortLabel, { long: t('fleet.col.district'), short: t('fleet.col.districtShort') }),
        )
      : null,
    h('span', { role: 'columnheader', class: 'col-state' }, t('fleet.col.state')),
    h('span', { role: 'columnheader', class: 'col-seen' }, t('fleet.col.lastSeen')),
    h('span', { role: 'columnheader', class: 'col-storage' }, t('fleet.col.storage')),
  )

  return h(
    'section',
    { class: 'panel fill', 'aria-labelledby': 'devices-title' },
    h(
      'nav',
      { class: 'crumbs', 'aria-label': t('fleet.breadcrumb') },
      h('a', { href: hrefOf({ name: 'fleet' }) }, t('shell.nav.fleet')),
      h('span', { 'aria-hidden': 'true' }, ' / '),
      h('span', { 'aria-current': 'page' }, title),
    ),
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'devices-title', tabIndex: -1, 'data-testid': 'devices-title' }, title),
      list.data
        ? h(
            'span',
            { class: 'muted' },
            t('fleet.table.counts', {
              total: list.data.total,
              online: counts.online,
              stale: counts.stale,
              offline: counts.offline,
            }),
          )
        : null,
      h(
        'button',
        { type: 'button', class: 'btn small', onClick: list.reload, disabled: list.loading },
        t(list.loading ? 'fleet.refreshing' : 'fleet.refresh'),
      ),
    ),
    h(
      'div',
      { class: 'filters' },
      h('input', {
        type: 'search',
        placeholder: t('fleet.table.searchPlaceholder'),
        'aria-label': t('fleet.table.searchLabel'),
        value: search,
        onInput: (e: Event) => setSearch((e.currentTarget as HTMLInputElement).value),
        'data-testid': 'device-search',
      }),
      h(
        'select',
        {
          'aria-label': t('fleet.col.state'),
          value: state,
          onChange: (e: Event) => setState((e.currentTarget as HTMLSelectElement).value as LiveState | ''),
          'data-testid': 'device-state-filter',
        },
        h('option', { value: '' }, t('fleet.table.anyState')),
        (['offline', 'stale', 'unknown', 'online'] as const).map((s) =>
          h(
            'option',
            { value: s },
            t('fleet.table.stateOption', { state: t(STATE_LABEL[s]), count: counts[s] }),
          ),
        ),
      ),
      h(
        'select',
        {
          'aria-label': t('fleet.table.sortBy'),
          value: sort,
          onChange: (e: Event) => setSort((e.currentTarget as HTMLSelectElement).value as SortKey),
        },
        (Object.keys(SORTS) as SortKey[]).map((k) => h('option', { value: k }, t(SORTS[k].label))),
      ),
    ),
    list.error ? h(ErrorMessage, { error: list.error, retry: list.reload }) : null,
    list.data && list.data.total > list.data.devices.length
      ? h(
          'p',
          { class: 'muted' },
          t('fleet.table.truncated', { shown: list.data.devices.length, total: list.data.total }),
        )
      : null,
    h(VirtualList<DeviceView>, {
      items: rows,
      rowHeight: ROW_HEIGHT,
      label: t('fleet.table.listLabel', { title }),
      testId: 'device-list',
      header,
      rowKey: (d) => d.id,
      renderRow: (d) => h(Row, { d, now, showDistrict }),
      rowClass: showDistrict ? 'drow with-district' : 'drow',
      empty: h(
        'p',
        { class: 'muted pad' },
        list.loading && !list.data
          ? t('shell.loading')
          : list.data?.total === 0
            ? t('fleet.table.emptyDistrict')
            : t('fleet.table.noMatch'),
      ),
    }),
  )
}
