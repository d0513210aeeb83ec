import type { CaseView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { useLoad } from '../owner/load.js'
import { CasesError, CasesLoading, useWindowText } from './status.js'

/** Every case, newest first; fetched again whenever the socket says a case opened or closed. */
export function CasesList(): JSX.Element {
  const { api, feed } = useServices()
  const { t, fmt } = useI18n()
  const bumped = useStore(feed.cases.cases)
  const reconnected = useStore(feed.cases.reconnects)
  const [loaded, reload] = useLoad<{ cases: CaseView[] }>((s) => api.cases(s), [bumped, reconnected])
  const windowText = useWindowText()
  const head = h(
    'div',
    { class: 'page-head' },
    h('h1', { tabIndex: -1 }, t('cases.title.list')),
    h(
      'a',
      { class: 'btn primary', href: hrefOf({ name: 'case-new' }), 'data-testid': 'case-new-link' },
      t('cases.list.new'),
    ),
  )
  if (loaded.kind === 'loading') return h('section', { class: 'panel' }, head, h(CasesLoading, {}))
  if (loaded.kind === 'error')
    return h('section', { class: 'panel' }, head, h(CasesError, { error: loaded.error, retry: reload }))
  const rows = loaded.data.cases
  return h(
    'section',
    { class: 'panel', 'data-testid': 'cases-list' },
    head,
    rows.length === 0
      ? h('p', { class: 'muted' }, t('cases.list.none'))
      : h(
          'table',
          { class: 'table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, t('cases.list.number')),
              h('th', null, t('cases.list.state')),
              h('th', null, t('cases.list.window')),
              h('th', null, t('cases.list.created')),
            ),
          ),
          h(
            'tbody',
            null,
            rows.map((c) =>
              h(
                'tr',
                { key: c.id, 'data-testid': `case-row-${c.number}` },
                h('td', null, h('a', { href: hrefOf({ name: 'case', id: c.id }) }, c.number)),
                h('td', null, t(`cases.state.${c.state}`)),
                h('td', null, windowText(c)),
                h(
                  'td',
                  null,
                  t('cases.list.createdValue', { who: c.createdBy, when: fmt.dateTime(c.createdAt) }),
                ),
              ),
            ),
          ),
        ),
  )
}
