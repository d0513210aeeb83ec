import type { LiveState } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'

export const STATE_LABEL: Record<LiveState, MessageKey> = {
  online: 'fleet.state.online',
  stale: 'fleet.state.stale',
  offline: 'fleet.state.offline',
  unknown: 'fleet.state.unknown',
}

/** A unit's presence: colour and a word, never colour alone. */
export function StateBadge(props: { state: LiveState }): JSX.Element {
  const { t } = useI18n()
  return h(
    'span',
    { class: `badge state-${props.state}`, 'data-state': props.state },
    t(STATE_LABEL[props.state]),
  )
}
