import type { ConfigOverview } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'

/** Per district: how many units are in step, lagging, refused or never configured; a click filters by it. */
export function DistrictCounts(props: {
  districts: ConfigOverview['districts']
  onPick: (district: number) => void
}): JSX.Element | null {
  const { t, fmt } = useI18n()
  if (props.districts.length === 0) return null
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table config-counts', 'data-testid': 'config-counts' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('config.col.district')),
          h('th', { scope: 'col' }, t('config.col.units')),
          h('th', { scope: 'col' }, t('config.status.applied')),
          h('th', { scope: 'col' }, t('config.status.lagging')),
          h('th', { scope: 'col' }, t('config.status.refused')),
          h('th', { scope: 'col' }, t('config.status.unset')),
        ),
      ),
      h(
        'tbody',
        null,
        props.districts.map((d) =>
          h(
            'tr',
            { key: d.district, 'data-testid': `config-district-${d.district}` },
            h(
              'td',
              null,
              h(
                'button',
                { type: 'button', class: 'btn small ghost', onClick: () => props.onPick(d.district) },
                t('config.district', { district: d.district }),
              ),
            ),
            h('td', null, fmt.number(d.units)),
            h('td', null, fmt.number(d.applied)),
            h('td', null, fmt.number(d.lagging)),
            h('td', { class: d.refused > 0 ? 'c-offline' : undefined }, fmt.number(d.refused)),
            h('td', null, fmt.number(d.unset)),
          ),
        ),
      ),
    ),
  )
}
