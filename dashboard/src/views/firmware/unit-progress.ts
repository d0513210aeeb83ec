import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import type { UnitRow } from './campaign-units.js'

/** One unit's update: its state, the bytes it downloaded of `total` while downloading, why it failed. */
export function UnitProgress(props: { unit: UnitRow; total: number }): JSX.Element {
  const { t, fmt } = useI18n()
  const u = props.unit
  const label = t(`firmware.unit.${u.state}`)
  if (u.state === 'downloading') {
    return h(
      'span',
      { class: 'fw-progress', 'data-testid': 'unit-state', 'data-state': u.state },
      h(
        'span',
        { 'data-testid': 'unit-text' },
        t('firmware.unit.downloadingValue', {
          bytes: fmt.bytes(u.bytes),
          total: fmt.bytes(props.total),
          pct: fmt.pct(u.bytes, props.total),
        }),
      ),
      h('progress', { value: u.bytes, max: props.total, 'aria-label': label }),
    )
  }
  const text =
    u.reason && (u.state === 'failed' || u.state === 'rolled-back')
      ? t('firmware.unit.withReason', { state: label, reason: u.reason })
      : label
  return h(
    'span',
    { class: `fw-unit fw-unit-${u.state}`, 'data-testid': 'unit-state', 'data-state': u.state, title: text },
    text,
  )
}
