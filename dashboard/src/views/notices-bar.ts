import { h, type JSX } from 'preact'
import { useI18n } from '../i18n/use-i18n.js'
import { useStore } from '../lib/store.js'
import { useServices } from '../services.js'

/** Messages about the feed itself: gaps, dropped alerts, restarts. Each can be dismissed. */
export function NoticesBar(): JSX.Element | null {
  const { notices } = useServices()
  const { t } = useI18n()
  const list = useStore(notices.store)
  if (list.length === 0) return null
  return h(
    'div',
    { class: 'notices', role: 'log', 'aria-live': 'polite' },
    list.map((n) =>
      h(
        'div',
        { key: n.id, class: `notice notice-${n.tone}`, 'data-testid': 'notice' },
        h('span', null, t(n.key, n.values)),
        h(
          'button',
          {
            type: 'button',
            class: 'btn small ghost',
            onClick: () => notices.dismiss(n.id),
            'aria-label': t('fleet.notice.dismiss'),
          },
          '×',
        ),
      ),
    ),
  )
}
