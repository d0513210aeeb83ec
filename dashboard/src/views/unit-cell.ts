import type { DeviceView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { hrefOf } from '../router.js'

/**
 * The first cell of a unit's row in any table of units: its id, linking to
 * the unit's page and stretched over the whole row (so all of it is
 * clickable), and its address under it.
 */
export function UnitCell(props: { d: DeviceView; testId: string }): JSX.Element {
  const { d } = props
  return h(
    'span',
    { role: 'cell', class: 'col-unit' },
    h(
      'a',
      {
        href: hrefOf({ name: 'device', id: d.id }),
        class: 'stretched',
        'data-testid': props.testId,
        'data-device-id': d.id,
        'data-state': d.state,
      },
      d.id,
    ),
    h('span', { class: 'muted ellipsis' }, d.address),
  )
}
