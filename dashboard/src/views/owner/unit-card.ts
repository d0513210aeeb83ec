import type { DeviceView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { UnitState } from './unit-state.js'

/** One of the owner's units in their list: where it is, whether it is up, when it was last heard. */
export function UnitCard(props: { device: DeviceView; now: number }): JSX.Element {
  const { t, fmt } = useI18n()
  const d = props.device
  return h(
    'li',
    { class: 'owner-card', 'data-testid': `my-unit-${d.id}` },
    h(
      'a',
      {
        class: 'owner-card-link',
        href: hrefOf({ name: 'my-device', id: d.id }),
        'aria-label': t('owner.unit.open', { address: d.address }),
      },
      h('span', { class: 'owner-card-title' }, d.address),
      h(UnitState, { state: d.state }),
    ),
    h(
      'p',
      { class: 'muted owner-card-meta' },
      h('span', { class: 'mono' }, d.id),
      ' · ',
      t('owner.unit.lastSeen', { ago: fmt.ago(d.lastSeen, props.now, t('owner.unit.never')) }),
    ),
  )
}
