import type { CampaignView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { OpsTabs } from '../ops-tabs.js'
import { useLoad } from '../owner/load.js'
import { CampaignStateText } from './campaign-state.js'
import { formatDistricts } from './districts.js'
import { StateCountsView } from './state-counts.js'

function Row(props: { c: CampaignView }): JSX.Element {
  const { t, fmt } = useI18n()
  const c = props.c
  return h(
    'tr',
    { 'data-testid': `campaign-row-${c.name}`, 'data-state': c.state },
    h('td', null, h('a', { href: hrefOf({ name: 'campaign', id: c.id }) }, c.name)),
    h('td', null, h(CampaignStateText, { campaign: c, wave: c.wave, testid: 'campaign-row-state' })),
    h(
      'td',
      null,
      h('div', null, t('firmware.imageName', { model: c.image.model, version: c.image.version })),
      h(
        'div',
        { class: 'muted small' },
        t('firmware.targetValue', {
          min: c.fromVersions.min,
          max: c.fromVersions.max,
          districts: formatDistricts(c.districts),
        }),
      ),
    ),
    h(
      'td',
      null,
      h('div', null, t('firmware.list.unitsValue', { units: c.units })),
      h(StateCountsView, { counts: c.counts }),
    ),
    h('td', null, t('firmware.byWhen', { who: c.createdBy, when: fmt.dateTime(c.createdAt) })),
  )
}

/**
 * #/campaigns: every campaign, newest first, with its units by state. Fetched again when a campaign
 * changes state and after the socket reconnects; the counts move on there, the units on each page.
 */
export function CampaignsPage(): JSX.Element {
  const services = useServices()
  const { api, feed } = services
  const { t } = useI18n()
  const admin = useStore(services.session).me?.role === 'admin'
  const changes = useStore(feed.campaigns.changes)
  const reconnected = useStore(feed.campaigns.reconnects)
  const [loaded, reload] = useLoad((s) => api.firmware.campaigns(s), [changes, reconnected])
  return h(
    'section',
    { class: 'panel admin-page fw-page', 'data-testid': 'campaigns-page' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabIndex: -1 }, t('firmware.title.campaigns')),
      admin
        ? h(
            'a',
            {
              class: 'btn primary',
              href: hrefOf({ name: 'campaign-new' }),
              'data-testid': 'campaign-new-link',
            },
            t('firmware.list.new'),
          )
        : null,
    ),
    h(OpsTabs, { current: 'campaigns' }),
    loaded.kind === 'loading'
      ? h(AdminLoading, {})
      : loaded.kind === 'error'
        ? h(AdminError, { error: loaded.error, retry: reload })
        : loaded.data.campaigns.length === 0
          ? h('p', { class: 'muted' }, t('firmware.list.none'))
          : h(
              'div',
              { class: 'admin-table-wrap' },
              h(
                'table',
                { class: 'admin-table', 'data-testid': 'campaigns' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    h('th', null, t('firmware.list.name')),
                    h('th', null, t('firmware.list.state')),
                    h('th', null, t('firmware.list.target')),
                    h('th', null, t('firmware.list.units')),
                    h('th', null, t('firmware.list.created')),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  loaded.data.campaigns.map((c) => h(Row, { key: c.id, c })),
                ),
              ),
            ),
  )
}
