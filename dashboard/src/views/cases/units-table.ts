import type { CaseDevice, ConsentRecord } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { LegalOrderForm } from './legal-order.js'
import { PullCell, type PullNow } from './pull-cell.js'

function Consent(props: { device: CaseDevice; consent: ConsentRecord | null }): JSX.Element {
  const { t } = useI18n()
  const c = props.consent
  const policy = t(`cases.policy.${props.device.releasePolicy}`)
  if (c === null) return h('span', null, policy)
  const basis = t(`cases.basis.${c.basis}`)
  return h(
    'span',
    null,
    `${policy} · `,
    c.granted ? t('cases.consent.granted', { basis }) : t('cases.consent.refused', { basis }),
  )
}

/** Each unit of the case: where it is, whether its footage may be released, and how its pull goes. */
export function UnitsTable(props: {
  devices: CaseDevice[]
  pullOf: (d: CaseDevice) => PullNow | null
  admin: boolean
  onChanged: () => void
}): JSX.Element {
  const { t } = useI18n()
  if (props.devices.length === 0) return h('p', { class: 'muted' }, t('cases.units.none'))
  return h(
    'table',
    { class: 'table', 'data-testid': 'case-units' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, t('cases.units.unit')),
        h('th', null, t('cases.units.district')),
        h('th', null, t('cases.units.consent')),
        h('th', null, t('cases.units.pull')),
      ),
    ),
    h(
      'tbody',
      null,
      props.devices.map((d) => {
        const p = props.pullOf(d)
        return h(
          'tr',
          { key: d.id, 'data-testid': `case-unit-${d.id}` },
          h('td', null, h('a', { href: hrefOf({ name: 'device', id: d.id }) }, d.id)),
          h('td', null, String(d.district)),
          h('td', null, h(Consent, { device: d, consent: d.pull?.consent ?? d.consent })),
          h(
            'td',
            null,
            h(PullCell, { pull: p }),
            props.admin && p !== null && p.state === 'refused'
              ? h(LegalOrderForm, { pullId: p.id, onDone: props.onChanged })
              : null,
          ),
        )
      }),
    ),
  )
}
