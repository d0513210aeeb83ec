import { h, type JSX } from 'preact'
import { useNow } from '../lib/hooks.js'
import { useStore } from '../lib/store.js'
import type { ConnState } from '../live/alert-socket.js'
import { useServices } from '../services.js'

function describe(s: ConnState, now: number): { tone: string; text: string } {
  switch (s.kind) {
    case 'connected':
      return { tone: 'ok', text: 'Live' }
    case 'connecting':
      return { tone: 'warn', text: s.attempt === 0 ? 'Connecting…' : 'Reconnecting…' }
    case 'waiting':
      return { tone: 'warn', text: `Reconnecting in ${Math.max(1, Math.ceil((s.retryAt - now) / 1000))} s` }
    case 'offline':
      return { tone: 'bad', text: 'Offline' }
    case 'stopped':
      return { tone: 'bad', text: 'Disconnected' }
  }
}

/** Always in the header: whether the alert feed is live, and when it will try again if not. */
export function ConnectionStatus(): JSX.Element {
  const { feed } = useServices()
  const state = useStore(feed.conn)
  const now = useNow(state.kind === 'waiting' ? 250 : 5000)
  const { tone, text } = describe(state, now)
  return h(
    'div',
    { class: 'conn' },
    h(
      'span',
      {
        class: `conn-pill conn-${tone}`,
        role: 'status',
        'data-testid': 'conn-state',
        'data-state': state.kind,
      },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      text,
    ),
    state.kind === 'waiting' || state.kind === 'offline'
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn small ghost',
            onClick: () => feed.reconnectNow(),
            'data-testid': 'reconnect',
          },
          'Retry now',
        )
      : null,
  )
}
