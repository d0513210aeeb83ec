import './config.css'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { type ConfigFilter, configApi } from '../../api/config-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { useReloadOnFleetChange } from '../fleet-reload.js'
import { OpsTabs } from '../ops-tabs.js'
import { useLoad } from '../owner/load.js'
import { ConfigFilters } from './config-filters.js'
import { ConfigForm } from './config-form.js'
import { ConfigTable } from './config-table.js'
import { DistrictCounts } from './district-counts.js'
import { useFollowChange } from './follow-change.js'

/**
 * #/config: what each unit should run against what it says it runs, and setting it for a unit, a district
 * or the fleet. The list follows a change of the page's own for a while, and a district's list the
 * fleet's moves.
 */
export function ConfigPage(props: { device: string | null }): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [filter, setFilter] = useState<ConfigFilter>({})
  const [overview, reload] = useLoad(
    (s) => configApi.overview(http, filter, s),
    [filter.district, filter.status],
  )
  // Units back online take their configuration and answer: worth asking again for a district's units,
  // not for the whole fleet's (hundreds of full configurations) on every presence storm.
  useReloadOnFleetChange(reload, filter.district !== undefined)
  const follow = useFollowChange(reload)

  return h(
    'section',
    { class: 'panel admin-page config-page', 'data-testid': 'config-page' },
    h('h1', { tabIndex: -1 }, t('config.title')),
    h(OpsTabs, { current: 'config' }),
    h('p', { class: 'muted' }, t('config.intro')),
    h('h2', null, t('config.form.heading')),
    h(ConfigForm, {
      unit: props.device,
      onChanged: () => {
        reload()
        follow()
      },
    }),
    h(
      'div',
      { class: 'panel-head sub' },
      h('h2', null, t('config.list.heading')),
      h(
        'button',
        { type: 'button', class: 'btn small', onClick: reload, 'data-testid': 'config-refresh' },
        t('config.refresh'),
      ),
    ),
    h(ConfigFilters, { value: filter, onChange: setFilter }),
    overview.kind === 'loading'
      ? h(AdminLoading, {})
      : overview.kind === 'error'
        ? h(AdminError, { error: overview.error, retry: reload })
        : [
            h(DistrictCounts, {
              key: 'counts',
              districts: overview.data.districts,
              onPick: (district) => setFilter((f) => ({ ...f, district })),
            }),
            h(ConfigTable, { key: 'units', units: overview.data.units, truncated: overview.data.truncated }),
          ],
  )
}
