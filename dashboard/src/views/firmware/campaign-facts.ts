import type { CampaignView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { formatDistricts } from './districts.js'

/** What a campaign was made with: the image, which units, the waves and the pause rule. */
export function CampaignFacts(props: { campaign: CampaignView }): JSX.Element {
  const { t, fmt } = useI18n()
  const c = props.campaign
  const row = (label: string, value: string, testid?: string) => [
    h('dt', null, label),
    h('dd', testid ? { 'data-testid': testid } : null, value),
  ]
  return h(
    'dl',
    { class: 'case-facts' },
    row(
      t('firmware.facts.image'),
      t('firmware.imageName', { model: c.image.model, version: c.image.version }),
    ),
    row(t('firmware.facts.from'), t('firmware.range', { min: c.fromVersions.min, max: c.fromVersions.max })),
    row(t('firmware.facts.districts'), formatDistricts(c.districts)),
    row(t('firmware.facts.units'), fmt.number(c.units), 'campaign-units-count'),
    row(
      t('firmware.facts.waves'),
      t('firmware.wavesValue', { canary: c.canaryPct, waves: c.waves.map((w) => `${w}%`).join(' → ') }),
    ),
    row(
      t('firmware.facts.pauseRule'),
      t('firmware.pauseRule', { pct: c.pauseFailurePct, min: c.pauseMinFinished }),
    ),
    row(t('firmware.facts.concurrency'), fmt.number(c.districtConcurrency)),
    row(
      t('firmware.facts.created'),
      t('firmware.byWhen', { who: c.createdBy, when: fmt.dateTime(c.createdAt) }),
    ),
    c.startedAt === null ? null : row(t('firmware.facts.started'), fmt.dateTime(c.startedAt)),
    c.finishedAt === null ? null : row(t('firmware.facts.finished'), fmt.dateTime(c.finishedAt)),
  )
}
