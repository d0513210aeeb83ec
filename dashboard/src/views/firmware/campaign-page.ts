import type { CampaignUnit, CampaignView, UnitUpdateState } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useMemo, useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { OpsTabs } from '../ops-tabs.js'
import { useLoad } from '../owner/load.js'
import { CampaignActions } from './campaign-actions.js'
import { CampaignFacts } from './campaign-facts.js'
import { CampaignStateText } from './campaign-state.js'
import { countStates, liveRows, openWave } from './campaign-units.js'
import { StateCountsView } from './state-counts.js'
import { UnitsList } from './units-list.js'

interface Loaded {
  campaign: CampaignView
  units: CampaignUnit[]
}

/**
 * One campaign: its state, its units by state, and each unit's progress. Fetched when opened, when the
 * campaign changes state (a `campaign` frame without a unit) and after the socket reconnects; between
 * those, the units' frames move the rows on. No polling.
 */
export function CampaignPage(props: { id: string }): JSX.Element {
  const services = useServices()
  const { api, feed } = services
  const { t } = useI18n()
  const admin = useStore(services.session).me?.role === 'admin'
  const progress = feed.campaigns
  useStore(progress.changes)
  const reconnected = useStore(progress.reconnects)
  const revision = useStore(progress.revision)
  const changed = progress.changesOf(props.id)
  const [picked, setPicked] = useState<UnitUpdateState | null>(null)
  const [loaded, reload] = useLoad<Loaded>(
    async (s) => {
      const [campaign, units] = await Promise.all([
        api.firmware.campaign(props.id, s),
        api.firmware.campaignUnits(props.id, undefined, s),
      ])
      return { campaign, units: units.units }
    },
    [props.id, changed, reconnected],
  )
  const units = loaded.kind === 'ok' ? loaded.data.units : null
  const rows = useMemo(
    () => (units === null ? [] : liveRows(units, progress.unitsOf(props.id))),
    [units, revision],
  )
  const counts = useMemo(() => countStates(rows), [rows])
  const shown = useMemo(
    () => (picked === null ? rows : rows.filter((r) => r.state === picked)),
    [rows, picked],
  )

  const head = (title: string) => [h('h1', { tabIndex: -1 }, title), h(OpsTabs, { current: 'campaigns' })]
  if (loaded.kind === 'loading')
    return h(
      'section',
      { class: 'panel admin-page fw-page' },
      head(t('firmware.title.campaigns')),
      h(AdminLoading, {}),
    )
  if (loaded.kind === 'error')
    return h(
      'section',
      { class: 'panel admin-page fw-page' },
      head(t('firmware.title.campaigns')),
      h(AdminError, { error: loaded.error, retry: reload }),
    )

  const c = loaded.data.campaign
  return h(
    'section',
    { class: 'panel admin-page fw-page fw-campaign', 'data-testid': 'campaign-page', 'data-state': c.state },
    head(t('firmware.title.campaignNamed', { name: c.name })),
    h(
      'p',
      { class: 'fw-state-line', 'aria-live': 'polite' },
      h(CampaignStateText, { campaign: c, wave: openWave(c, rows) }),
    ),
    admin ? h(CampaignActions, { campaign: c, onDone: reload }) : null,
    c.state === 'draft' ? h('p', { class: 'muted' }, t('firmware.draftHint', { units: c.units })) : null,
    h(CampaignFacts, { campaign: c }),
    h('h2', null, t('firmware.units.heading')),
    h(StateCountsView, { counts, all: true, picked, onPick: setPicked }),
    h(UnitsList, { rows: shown, total: c.image.size }),
  )
}
