import { Fragment, h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { VirtualList } from '../virtual-list.js'
import type { UnitRow } from './campaign-units.js'
import { UnitProgress } from './unit-progress.js'

const ROW_HEIGHT = 44
/** Rows in view at most; a longer list scrolls inside. */
const ROWS_SHOWN = 12
/** The column header and the borders, px. */
const CHROME = 40

/**
 * A campaign's units: all 2,896 of a city-wide one fit, as only the rows in view are drawn. Each row
 * has a fixed height, so a long failure reason is cut short (the whole is in its title).
 */
export function UnitsList(props: { rows: readonly UnitRow[]; total: number }): JSX.Element {
  const { t } = useI18n()
  const header = h(
    'div',
    { role: 'row', class: 'crow-head' },
    h('span', { role: 'columnheader' }, t('firmware.units.unit')),
    h('span', { role: 'columnheader' }, t('firmware.units.district')),
    h('span', { role: 'columnheader' }, t('firmware.units.wave')),
    h('span', { role: 'columnheader' }, t('firmware.units.from')),
    h('span', { role: 'columnheader' }, t('firmware.units.progress')),
  )
  // The list fills its box and draws what is in view: the box is as tall as the rows, up to ROWS_SHOWN.
  const rowsTall = Math.max(1, Math.min(props.rows.length, ROWS_SHOWN)) * ROW_HEIGHT
  return h(
    'div',
    { class: 'fw-units', style: { height: `${rowsTall + CHROME}px` } },
    h(VirtualList<UnitRow>, {
      items: props.rows,
      rowHeight: ROW_HEIGHT,
      rowKey: (u) => u.deviceId,
      rowClass: 'crow',
      label: t('firmware.units.heading'),
      testId: 'campaign-units',
      header,
      empty: h('p', { class: 'muted' }, t('firmware.units.none')),
      renderRow: (u) =>
        h(
          Fragment,
          null,
          h(
            'span',
            { role: 'cell', class: 'ellipsis', 'data-testid': `unit-${u.deviceId}` },
            h('a', { href: hrefOf({ name: 'device', id: u.deviceId }) }, u.deviceId),
          ),
          h('span', { role: 'cell' }, String(u.district)),
          h(
            'span',
            { role: 'cell' },
            u.wave === 0 ? t('firmware.units.canary') : t('firmware.units.waveN', { wave: u.wave }),
          ),
          h('span', { role: 'cell', class: 'ellipsis' }, u.fromVersion),
          h(
            'span',
            { role: 'cell', class: 'ellipsis', 'data-unit': u.deviceId },
            h(UnitProgress, { unit: u, total: props.total }),
          ),
        ),
    }),
  )
}
