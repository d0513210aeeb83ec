import { type ConfigStatus, DISTRICT_COUNT } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import type { ConfigFilter } from '../../api/config-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { CONFIG_STATUS_LABEL, CONFIG_STATUSES } from './config-status.js'

/** Which units the list shows: a district, a status, or both (GET /api/v1/config's own filters). */
export function ConfigFilters(props: {
  value: ConfigFilter
  onChange: (f: ConfigFilter) => void
}): JSX.Element {
  const { t } = useI18n()
  const f = props.value
  const pick = (e: Event) => (e.currentTarget as HTMLSelectElement).value
  return h(
    'div',
    { class: 'filters', role: 'group', 'aria-label': t('config.filter.label') },
    h(
      'label',
      null,
      `${t('config.filter.district')} `,
      h(
        'select',
        {
          value: f.district === undefined ? '' : String(f.district),
          'data-testid': 'config-filter-district',
          onChange: (e: Event) => {
            const v = pick(e)
            const { district: _, ...rest } = f
            props.onChange(v === '' ? rest : { ...rest, district: Number(v) })
          },
        },
        h('option', { value: '' }, t('config.filter.allDistricts')),
        Array.from({ length: DISTRICT_COUNT }, (_, i) =>
          h('option', { key: i, value: String(i + 1) }, t('config.district', { district: i + 1 })),
        ),
      ),
    ),
    h(
      'label',
      null,
      `${t('config.filter.status')} `,
      h(
        'select',
        {
          value: f.status ?? '',
          'data-testid': 'config-filter-status',
          onChange: (e: Event) => {
            const v = pick(e)
            const { status: _, ...rest } = f
            props.onChange(v === '' ? rest : { ...rest, status: v as ConfigStatus })
          },
        },
        h('option', { value: '' }, t('config.filter.allStatuses')),
        CONFIG_STATUSES.map((s) => h('option', { key: s, value: s }, t(CONFIG_STATUS_LABEL[s]))),
      ),
    ),
  )
}
