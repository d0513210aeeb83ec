import type { LiveState } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'

/** A unit's presence in the reader's language: colour and a word, never colour alone. */
export function UnitState(props: { state: LiveState }): JSX.Element {
  const { t } = useI18n()
  return h(
    'span',
    { class: `badge state-${props.state}`, 'data-state': props.state },
    t(`owner.state.${props.state}`),
  )
}
