import type { DeviceView } from '@doorstep/proto'
import { DISTRICT_COUNT } from '@doorstep/proto'
import { Fragment, h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import type { Formats } from '../i18n/formats.js'
import type { Translator } from '../i18n/translator.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useAsync, useNow } from '../lib/hooks.js'
import { useServices } from '../services.js'
import { ErrorMessage } from './feedback.js'
import { useReloadOnFleetChange } from './fleet-reload.js'
import { ShortLabel } from './short-label.js'
import { StateBadge } from './state-badge.js'
import { UnitCell } from './unit-cell.js'
import { VirtualList } from './virtual-list.js'

const ROW_HEIGHT = 48

/**
 * How long a unit has been down. The gateway gives the last time it heard
 * from the unit (`lastSeen`), which is when it went quiet; a unit never
 * heard from has no such time.
 */
function downFor(d: DeviceView, now: number, t: Translator['t'], fmt: Formats): string {
  return d.lastSeen === null ? t('fleet.word.neverSeen') : fmt.duration(now - d.lastSeen)
}

function Row(props: { d: DeviceView; now: number }): JSX.Element {
  const { d, now } = props
  const { t, fmt } = useI18n()
  return h(
    Fragment,
    null,
    h(UnitCell, { d, testId: 'offline-row' }),
    h('span', { role: 'cell', class: 'col-district' }, d.district),
    h('span', { role: 'cell', class: 'col-state' }, h(StateBadge, { state: d.state })),
    h(
      'span',
      {
        role: 'cell',
        class: 'col-down',
        title: d.lastSeen ? t('fleet.offline.lastHeard', { at: fmt.dateTime(d.lastSeen) }) : undefined,
      },
      h('strong', null, downFor(d, now, t, fmt)),
    ),
  )
}

/**
 * For ops: every offline or stale unit, the most recently lost first, with
 * how long each has been down. Refetched when the fleet revision moves, and
 * every 30 s.
 */
export function OfflineView(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const list = useAsync(
    async (signal) => {
      const [offline, stale] = await Promise.all([
        api.devices({ state: 'offline' }, signal),
        api.devices({ state: 'stale' }, signal),
      ])
      return { devices: [...offline.devices, ...stale.devices], total: offline.total + stale.total }
    },
    [],
    { refreshMs: 30_000 },
  )
  // Refetched when the fleet moves (presence alerts, a gap, a reconnect), not on every health poll.
  useReloadOnFleetChange(list.reload)

  const now = useNow(5000)
  const [district, setDistrict] = useState('')
  const rows = useMemo(() => {
    const all = list.data?.devices ?? []
    const d = district === '' ? null : Number(district)
    return all
      .filter((x) => d === null || x.district === d)
      .sort((a, b) => (b.lastSeen ?? Number.NEGATIVE_INFINITY) - (a.lastSeen ?? Number.NEGATIVE_INFINITY))
  }, [list.data, district])

  const header = h(
    'div',
    { role: 'row', 'aria-rowindex': 1, class: 'drow-head offline-cols' },
    h('span', { role: 'columnheader', class: 'col-unit' }, t('fleet.col.unit')),
    h(
      'span',
      { role: 'columnheader', class: 'col-district' },
      h(ShortLabel, { long: t('fleet.col.district'), short: t('fleet.col.districtShort') }),
    ),
    h('span', { role: 'columnheader', class: 'col-state' }, t('fleet.col.state')),
    h('span', { role: 'columnheader', class: 'col-down' }, t('fleet.col.downFor')),
  )

  return h(
    'section',
    { class: 'panel fill', 'aria-labelledby': 'offline-title' },
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'offline-title', tabIndex: -1 }, t('fleet.offline.title')),
      list.data
        ? h(
            'span',
            { class: 'muted', 'data-testid': 'offline-total' },
            t('fleet.offline.total', { count: list.data.total }),
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
      h(
        'select',
        {
          'aria-label': t('fleet.col.district'),
          value: district,
          onChange: (e: Event) => setDistrict((e.currentTarget as HTMLSelectElement).value),
        },
        h('option', { value: '' }, t('fleet.offline.allDistricts')),
        Array.from({ length: DISTRICT_COUNT }, (_, i) =>
          h('option', { value: i + 1 }, t('shell.title.district', { district: i + 1 })),
        ),
      ),
    ),
    list.error ? h(ErrorMessage, { error: list.error, retry: list.reload }) : null,
    h(VirtualList<DeviceView>, {
      items: rows,
      rowHeight: ROW_HEIGHT,
      label: t('fleet.offline.listLabel'),
      testId: 'offline-list',
      header,
      rowClass: 'drow offline-cols',
      rowKey: (d) => d.id,
      renderRow: (d) => h(Row, { d, now }),
      empty: h(
        'p',
        { class: 'muted pad' },
        list.loading && !list.data ? t('shell.loading') : t('fleet.offline.empty'),
      ),
    }),
  )
}
