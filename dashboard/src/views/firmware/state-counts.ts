import type { UnitUpdateState } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { type StateCounts, UNIT_STATES } from './campaign-units.js'

/**
 * Units by update state. `all` shows every state (a campaign's page); otherwise only those with units
 * (a row of the list). A state is a button when `onPick` is given: it filters the units below.
 */
export function StateCountsView(props: {
  counts: Partial<StateCounts>
  all?: boolean
  picked?: UnitUpdateState | null
  onPick?: (s: UnitUpdateState | null) => void
}): JSX.Element {
  const { t, fmt } = useI18n()
  const shown = UNIT_STATES.filter((s) => props.all || (props.counts[s] ?? 0) > 0)
  return h(
    'ul',
    { class: 'fw-counts', 'data-testid': 'state-counts' },
    shown.map((s) => {
      const n = props.counts[s] ?? 0
      const label = [h('span', { class: 'fw-count-n' }, fmt.number(n)), ' ', t(`firmware.unit.${s}`)]
      return h(
        'li',
        { key: s, class: `fw-count fw-unit-${s}`, 'data-testid': `count-${s}`, 'data-count': n },
        props.onPick
          ? h(
              'button',
              {
                type: 'button',
                class: 'btn small ghost',
                'aria-pressed': props.picked === s ? 'true' : 'false',
                onClick: () => props.onPick?.(props.picked === s ? null : s),
              },
              label,
            )
          : label,
      )
    }),
  )
}
