import type { LiveState } from '@doorstep/proto'
import { h, type JSX } from 'preact'

const LABEL: Record<LiveState, string> = {
  online: 'Online',
  stale: 'Stale',
  offline: 'Offline',
  unknown: 'Unknown',
}

/** A unit's presence: colour and a word, never colour alone. */
export function StateBadge(props: { state: LiveState }): JSX.Element {
  return h('span', { class: `badge state-${props.state}`, 'data-state': props.state }, LABEL[props.state])
}
