import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { useLoad } from '../owner/load.js'
import { IssueForm } from './issue-form.js'
import { AdminError, AdminLoading } from './status.js'
import { TokenTable } from './token-table.js'

/** #/admin/people: who holds a token, issuing one, revoking one. */
export function PeoplePage(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [tokens, reload] = useLoad((s) => api.tokens(s), [])
  return h(
    'section',
    { class: 'panel admin-page', 'data-testid': 'admin-people' },
    h('h1', { tabIndex: -1 }, t('admin.title.people')),
    h('p', { class: 'muted' }, t('admin.people.intro')),
    h(IssueForm, { onIssued: reload }),
    h('h2', null, t('admin.people.list')),
    tokens.kind === 'loading'
      ? h(AdminLoading, {})
      : tokens.kind === 'error'
        ? h(AdminError, { error: tokens.error, retry: reload })
        : h(TokenTable, { tokens: tokens.data.tokens, onChange: reload }),
  )
}
