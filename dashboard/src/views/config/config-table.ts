import type { UnitConfigView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { ConfigStatusBadge } from './config-status.js'

function Standing(props: { v: UnitConfigView }): JSX.Element | string {
  const { t, fmt } = useI18n()
  const v = props.v
  if (v.status === 'refused')
    return h(
      'span',
      { 'data-testid': 'config-reason' },
      t('config.unit.refusedWhy', { reason: v.reported?.reason ?? '—' }),
    )
  if (v.status === 'lagging' && v.lagMs !== null)
    return t('config.unit.lagging', { duration: fmt.duration(v.lagMs) })
  return ''
}

/** Each unit: the version wanted, the version it says it runs, where it stands and why. */
export function ConfigTable(props: { units: UnitConfigView[]; truncated: boolean }): JSX.Element {
  const { t, fmt } = useI18n()
  if (props.units.length === 0)
    return h('p', { class: 'muted', 'data-testid': 'config-none' }, t('config.list.none'))
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': 'config-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('config.col.unit')),
          h('th', { scope: 'col' }, t('config.col.district')),
          h('th', { scope: 'col' }, t('config.col.status')),
          h('th', { scope: 'col' }, t('config.col.desired')),
          h('th', { scope: 'col' }, t('config.col.running')),
          h('th', { scope: 'col' }, t('config.col.why')),
          h('th', { scope: 'col' }, t('config.col.changed')),
        ),
      ),
      h(
        'tbody',
        null,
        props.units.map((v) =>
          h(
            'tr',
            { key: v.deviceId, 'data-testid': `config-unit-${v.deviceId}`, 'data-status': v.status },
            h('td', null, h('a', { href: hrefOf({ name: 'device', id: v.deviceId }) }, v.deviceId)),
            h('td', null, v.district),
            h('td', null, h(ConfigStatusBadge, { status: v.status })),
            h('td', { 'data-testid': 'config-desired' }, v.desired ? `v${v.desired.version}` : '—'),
            h('td', { 'data-testid': 'config-running' }, v.reported ? `v${v.reported.runningVersion}` : '—'),
            h('td', null, h(Standing, { v })),
            h(
              'td',
              null,
              v.desired
                ? t('config.unit.changedBy', { at: fmt.dateTime(v.desired.at), by: v.desired.by })
                : '—',
            ),
          ),
        ),
      ),
    ),
    props.truncated
      ? h('p', { class: 'muted' }, t('config.list.truncated', { count: props.units.length }))
      : null,
  )
}
