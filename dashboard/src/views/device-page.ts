import type { DeviceView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import { formatAgo, formatDateTime, formatDuration, formatMiB, formatPct } from '../lib/format.js'
import { toSeries } from '../lib/heartbeat-series.js'
import { useAsync, useNow } from '../lib/hooks.js'
import { lastHeartbeatOf } from '../lib/last-heartbeat.js'
import { hrefOf } from '../router.js'
import { useServices } from '../services.js'
import { EventList } from './event-list.js'
import { ErrorMessage, Failure, Loading } from './feedback.js'
import { HeartbeatChart } from './heartbeat-chart.js'
import { StateBadge } from './state-badge.js'

const RANGES = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '6h', label: '6 h', ms: 6 * 3_600_000 },
  { key: '24h', label: '24 h', ms: 24 * 3_600_000 },
  { key: '7d', label: '7 d', ms: 7 * 24 * 3_600_000 },
] as const
type RangeKey = (typeof RANGES)[number]['key']

function Facts(props: { d: DeviceView; now: number }): JSX.Element {
  const { d, now } = props
  const hb = lastHeartbeatOf(d)
  const row = (k: string, v: JSX.Element | string | number) => [h('dt', null, k), h('dd', null, v)]
  return h(
    'div',
    { class: 'facts-wrap' },
    h(
      'dl',
      { class: 'facts', 'data-testid': 'presence' },
      row('State', h(StateBadge, { state: d.state })),
      row(
        'Last seen',
        d.lastSeen ? `${formatAgo(d.lastSeen, now)} (${formatDateTime(d.lastSeen)})` : 'never',
      ),
      row(
        'District',
        h('a', { href: hrefOf({ name: 'district', district: d.district }) }, `District ${d.district}`),
      ),
      row('Address', d.address),
      row('Owner contact', d.ownerContact),
      row('Footage release', d.releasePolicy),
    ),
    h(
      'dl',
      { class: 'facts' },
      row('Model', `${d.model} · firmware ${d.firmware}`),
      row('Serial', d.serial),
      row('Setting', d.setting),
      row('Enabled', d.enabled ? 'yes' : 'no (refused at connect)'),
      row(
        'Storage',
        hb
          ? `${formatMiB(hb.storageFreeMb)} free of ${formatMiB(hb.storageTotalMb)} (${formatPct(hb.storageFreeMb, hb.storageTotalMb)})`
          : '–',
      ),
      row('Recording', hb ? (hb.recording ? 'yes' : 'NO') : '–'),
      row(
        'Signal / temp.',
        hb
          ? `${Math.round(hb.signalDbm)} dBm · ${hb.temperatureC.toFixed(1)} °C${hb.batteryPct !== undefined ? ` · battery ${Math.round(hb.batteryPct)}%` : ''}`
          : '–',
      ),
      row('Uptime', hb ? formatDuration(hb.uptimeS * 1000) : '–'),
    ),
  )
}

function Charts(props: { id: string; rangeMs: number }): JSX.Element {
  const { api } = useServices()
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
    return h(Failure, { error: history.error, what: 'Heartbeat history', retry: history.reload })
  if (!series || !history.data) return h(Loading, { label: 'Loading heartbeats…' })
  const range: [number, number] = [history.data.from / 1000, history.data.to / 1000]
  const common = { t: series.t, range, syncKey: `hb-${id}` }
  return h(
    'div',
    { class: 'charts', 'data-testid': 'charts', 'data-points': series.t.length },
    history.error ? h(ErrorMessage, { error: history.error, retry: history.reload }) : null,
    series.t.length === 0 ? h('p', { class: 'muted' }, 'No heartbeats in this window.') : null,
    h(HeartbeatChart, {
      ...common,
      title: 'Free storage',
      unit: 'MiB',
      values: series.storageFreeMb,
      colorVar: '--chart-storage',
      testId: 'chart-storage',
    }),
    h(HeartbeatChart, {
      ...common,
      title: 'Signal',
      unit: 'dBm',
      values: series.signalDbm,
      colorVar: '--chart-signal',
      testId: 'chart-signal',
    }),
    h(HeartbeatChart, {
      ...common,
      title: 'Temperature',
      unit: '°C',
      values: series.temperatureC,
      colorVar: '--chart-temp',
      digits: 1,
      testId: 'chart-temperature',
    }),
    series.hasBattery || series.t.length === 0
      ? h(HeartbeatChart, {
          ...common,
          title: 'Battery',
          unit: '%',
          values: series.batteryPct,
          colorVar: '--chart-battery',
          yRange: [0, 100],
          testId: 'chart-battery',
        })
      : h('p', { class: 'muted' }, 'No battery readings: a mains-only unit.'),
  )
}

/** One unit: what it is, its presence, heartbeat history and recent events. */
export function DevicePage(props: { id: string }): JSX.Element {
  const { api } = useServices()
  const device = useAsync((signal) => api.device(props.id, signal), [props.id], { refreshMs: 15_000 })
  const now = useNow(5000)
  const [range, setRange] = useState<RangeKey>('6h')
  const rangeMs = RANGES.find((r) => r.key === range)?.ms ?? RANGES[1].ms
  const d = device.data

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'device-title', 'data-testid': 'device-page' },
    h(
      'nav',
      { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: hrefOf({ name: 'fleet' }) }, 'Fleet'),
      d
        ? [
            h('span', { 'aria-hidden': 'true' }, ' / '),
            h('a', { href: hrefOf({ name: 'district', district: d.district }) }, `District ${d.district}`),
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
    d ? h(Facts, { d, now }) : device.error ? null : h(Loading, { label: 'Loading…' }),
    h(
      'div',
      { class: 'panel-head sub' },
      h('h2', null, 'Heartbeats'),
      h(
        'div',
        { class: 'seg-buttons', role: 'group', 'aria-label': 'Time range' },
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
            r.label,
          ),
        ),
      ),
    ),
    h(Charts, { id: props.id, rangeMs }),
    h('h2', null, 'Recent events'),
    h(EventList, { query: { device: props.id }, windowMs: 7 * 24 * 3_600_000, compact: true }),
  )
}
