import type { DeviceView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { toSeries } from '../lib/heartbeat-series.js'
import { useAsync, useNow } from '../lib/hooks.js'
import { lastHeartbeatOf } from '../lib/last-heartbeat.js'
import { useStore } from '../lib/store.js'
import { hrefOf, rolesOf } from '../router.js'
import { useServices } from '../services.js'
import { UnitConfigSummary } from './config/unit-config-summary.js'
import { EventList } from './event-list.js'
import { ErrorMessage, Failure, Loading } from './feedback.js'
import { HeartbeatChart } from './heartbeat-chart.js'
import { StateBadge } from './state-badge.js'

const RANGES = [
  { key: '1h', n: 1, label: 'fleet.device.rangeHours', ms: 3_600_000 },
  { key: '6h', n: 6, label: 'fleet.device.rangeHours', ms: 6 * 3_600_000 },
  { key: '24h', n: 24, label: 'fleet.device.rangeHours', ms: 24 * 3_600_000 },
  { key: '7d', n: 7, label: 'fleet.device.rangeDays', ms: 7 * 24 * 3_600_000 },
] as const satisfies readonly { key: string; n: number; label: MessageKey; ms: number }[]
type RangeKey = (typeof RANGES)[number]['key']

function Facts(props: { d: DeviceView; now: number }): JSX.Element {
  const { d, now } = props
  const { t, fmt } = useI18n()
  const hb = lastHeartbeatOf(d)
  const row = (k: string, v: JSX.Element | string | number) => [h('dt', null, k), h('dd', null, v)]
  return h(
    'div',
    { class: 'facts-wrap' },
    h(
      'dl',
      { class: 'facts', 'data-testid': 'presence' },
      row(t('fleet.col.state'), h(StateBadge, { state: d.state })),
      row(
        t('fleet.col.lastSeen'),
        d.lastSeen
          ? t('fleet.device.lastSeenValue', {
              ago: fmt.ago(d.lastSeen, now, t('fleet.never')),
              at: fmt.dateTime(d.lastSeen),
            })
          : t('fleet.never'),
      ),
      row(
        t('fleet.col.district'),
        h(
          'a',
          { href: hrefOf({ name: 'district', district: d.district }) },
          t('shell.title.district', { district: d.district }),
        ),
      ),
      row(t('fleet.device.address'), d.address),
      row(t('fleet.device.ownerContact'), d.ownerContact),
      row(t('fleet.device.releasePolicy'), t(`fleet.release.${d.releasePolicy}`)),
    ),
    h(
      'dl',
      { class: 'facts' },
      row(t('fleet.device.model'), t('fleet.device.modelValue', { model: d.model, firmware: d.firmware })),
      row(t('fleet.device.serial'), d.serial),
      row(t('fleet.device.setting'), t(`fleet.setting.${d.setting}`)),
      row(t('fleet.device.enabled'), d.enabled ? t('fleet.yes') : t('fleet.device.refused')),
      row(
        t('fleet.col.storage'),
        hb
          ? t('fleet.device.storageValue', {
              free: fmt.mib(hb.storageFreeMb),
              total: fmt.mib(hb.storageTotalMb),
              pct: fmt.pct(hb.storageFreeMb, hb.storageTotalMb),
            })
          : '–',
      ),
      row(
        t('fleet.device.recording'),
        hb ? (hb.recording ? t('fleet.yes') : t('fleet.device.notRecording')) : '–',
      ),
      row(
        t('fleet.device.signal'),
        hb
          ? t('fleet.device.signalValue', {
              dbm: fmt.number(Math.round(hb.signalDbm)),
              temp: fmt.number(Math.round(hb.temperatureC * 10) / 10),
            }) +
              (hb.batteryPct !== undefined
                ? t('fleet.device.battery', { pct: fmt.pct(Math.round(hb.batteryPct), 100) })
                : '')
          : '–',
      ),
      row(t('fleet.device.uptime'), hb ? fmt.duration(hb.uptimeS * 1000) : '–'),
    ),
  )
}

function Charts(props: { id: string; rangeMs: number }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const { id, rangeMs } = props
  // The window is fixed when the range is chosen and moves forward with each refresh.
  const history = useAsync(
    (signal) => {
      const to = Date.now()
      return api.heartbeats(id, to - rangeMs, to, signal)
    },
    [id, rangeMs],
    { refreshMs: rangeMs <= 3_600_000 ? 30_000 : 120_000 },
  )
  const series = useMemo(() => (history.data ? toSeries(history.data.points) : null), [history.data])
  if (history.error && !history.data)
    return h(Failure, { error: history.error, what: t('fleet.chart.history'), retry: history.reload })
  if (!series || !history.data) return h(Loading, { label: t('fleet.chart.loading') })
  const range: [number, number] = [history.data.from / 1000, history.data.to / 1000]
  const common = { t: series.t, range, syncKey: `hb-${id}` }
  return h(
    'div',
    { class: 'charts', 'data-testid': 'charts', 'data-points': series.t.length },
    history.error ? h(ErrorMessage, { error: history.error, retry: history.reload }) : null,
    series.t.length === 0 ? h('p', { class: 'muted' }, t('fleet.chart.noHeartbeats')) : null,
    h(HeartbeatChart, {
      ...common,
      title: t('fleet.chart.storage'),
      unit: 'MiB',
      values: series.storageFreeMb,
      colorVar: '--chart-storage',
      testId: 'chart-storage',
    }),
    h(HeartbeatChart, {
      ...common,
      title: t('fleet.chart.signal'),
      unit: 'dBm',
      values: series.signalDbm,
      colorVar: '--chart-signal',
      testId: 'chart-signal',
    }),
    h(HeartbeatChart, {
      ...common,
      title: t('fleet.chart.temperature'),
      unit: '°C',
      values: series.temperatureC,
      colorVar: '--chart-temp',
      digits: 1,
      testId: 'chart-temperature',
    }),
    series.hasBattery || series.t.length === 0
      ? h(HeartbeatChart, {
          ...common,
          title: t('fleet.chart.battery'),
          unit: '%',
          values: series.batteryPct,
          colorVar: '--chart-battery',
          yRange: [0, 100],
          testId: 'chart-battery',
        })
      : h('p', { class: 'muted' }, t('fleet.chart.noBattery')),
  )
}

/** One unit: what it is, its presence, heartbeat history and recent events. */
export function DevicePage(props: { id: string }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const device = useAsync((signal) => api.device(props.id, signal), [props.id], { refreshMs: 15_000 })
  const now = useNow(5000)
  const [range, setRange] = useState<RangeKey>('6h')
  const rangeMs = RANGES.find((r) => r.key === range)?.ms ?? RANGES[1].ms
  const d = device.data
  // Investigators may not read configuration (the gateway refuses them): no line that would only fail.
  const role = useStore(useServices().session).me?.role
  const canConfigure = role !== undefined && rolesOf({ name: 'config', device: null }).includes(role)

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'device-title', 'data-testid': 'device-page' },
    h(
      'nav',
      { class: 'crumbs', 'aria-label': t('fleet.breadcrumb') },
      h('a', { href: hrefOf({ name: 'fleet' }) }, t('shell.nav.fleet')),
      d
        ? [
            h('span', { 'aria-hidden': 'true' }, ' / '),
            h(
              'a',
              { href: hrefOf({ name: 'district', district: d.district }) },
              t('shell.title.district', { district: d.district }),
            ),
          ]
        : null,
      h('span', { 'aria-hidden': 'true' }, ' / '),
      h('span', { 'aria-current': 'page' }, props.id),
    ),
    h(
      'header',
      { class: 'panel-head' },
      h('h1', { id: 'device-title', tabIndex: -1 }, props.id),
      d ? h(StateBadge, { state: d.state }) : null,
    ),
    device.error && !d ? h(ErrorMessage, { error: device.error, retry: device.reload }) : null,
    d ? h(Facts, { d, now }) : device.error ? null : h(Loading, { label: t('shell.loading') }),
    canConfigure ? h(UnitConfigSummary, { id: props.id }) : null,
    h(
      'div',
      { class: 'panel-head sub' },
      h('h2', null, t('fleet.device.heartbeats')),
      h(
        'div',
        { class: 'seg-buttons', role: 'group', 'aria-label': t('fleet.device.timeRange') },
        RANGES.map((r) =>
          h(
            'button',
            {
              type: 'button',
              class: 'btn small',
              'aria-pressed': r.key === range,
              onClick: () => setRange(r.key),
              'data-testid': `range-${r.key}`,
            },
            t(r.label, { n: r.n }),
          ),
        ),
      ),
    ),
    h(Charts, { id: props.id, rangeMs }),
    h('h2', null, t('fleet.device.recentEvents')),
    h(EventList, { query: { device: props.id }, windowMs: 7 * 24 * 3_600_000, compact: true }),
  )
}
