import { h, type JSX } from 'preact'
import type { Translator } from '../i18n/translator.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useNow } from '../lib/hooks.js'
import { useStore } from '../lib/store.js'
import type { ConnState } from '../live/alert-socket.js'
import { useServices } from '../services.js'

function describe(s: ConnState, now: number, t: Translator['t']): { tone: string; text: string } {
  switch (s.kind) {
    case 'connected':
      return { tone: 'ok', text: t('fleet.conn.live') }
    case 'connecting':
      return { tone: 'warn', text: t(s.attempt === 0 ? 'fleet.conn.connecting' : 'fleet.conn.reconnecting') }
    case 'waiting':
      return {
        tone: 'warn',
        text: t('fleet.conn.waiting', { seconds: Math.max(1, Math.ceil((s.retryAt - now) / 1000)) }),
      }
    case 'offline':
      return { tone: 'bad', text: t('fleet.conn.offline') }
    case 'stopped':
      return { tone: 'bad', text: t('fleet.conn.stopped') }
  }
}

/** Always in the header: whether the alert feed is live, and when it will try again if not. */
export function ConnectionStatus(): JSX.Element {
  const { feed } = useServices()
  const { t } = useI18n()
  const state = useStore(feed.conn)
  const now = useNow(state.kind === 'waiting' ? 250 : 5000)
  const { tone, text } = describe(state, now, t)
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
          t('fleet.conn.retryNow'),
        )
      : null,
  )
}
