import type { TokenView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ROLE_LABEL } from './roles.js'
import { AdminFailed } from './status.js'

function TokenRow(props: { token: TokenView; onRevoked: () => void }): JSX.Element {
  const { api } = useServices()
  const { t, fmt } = useI18n()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const tok = props.token
  const revoke = () => {
    if (!window.confirm(t('admin.people.confirmRevoke', { name: tok.name }))) return
    setBusy(true)
    setError(null)
    api.revokeToken(tok.id).then(
      () => {
        setBusy(false)
        props.onRevoked()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }
  return h(
    'tr',
    { 'data-testid': `token-${tok.id}`, 'data-revoked': tok.revokedAt === null ? 'false' : 'true' },
    h('td', null, tok.name),
    h('td', null, t(ROLE_LABEL[tok.role])),
    h('td', null, tok.ownerContact ?? '—'),
    h('td', null, fmt.dateTime(tok.createdAt)),
    h(
      'td',
      { 'data-testid': 'token-revoked' },
      tok.revokedAt === null ? t('admin.people.active') : fmt.dateTime(tok.revokedAt),
    ),
    h(
      'td',
      null,
      tok.revokedAt === null
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn small',
              disabled: busy,
              onClick: revoke,
              'data-testid': 'token-revoke',
            },
            t('admin.people.revoke'),
          )
        : null,
      error ? h(AdminFailed, { error }) : null,
    ),
  )
}

/** Every token issued (never the token itself), newest first. */
export function TokenTable(props: { tokens: TokenView[]; onChange: () => void }): JSX.Element {
  const { t } = useI18n()
  if (props.tokens.length === 0) return h('p', { class: 'muted' }, t('admin.people.none'))
  const rows = [...props.tokens].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': 'token-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('admin.people.col.name')),
          h('th', { scope: 'col' }, t('admin.people.col.role')),
          h('th', { scope: 'col' }, t('admin.people.col.contact')),
          h('th', { scope: 'col' }, t('admin.people.col.created')),
          h('th', { scope: 'col' }, t('admin.people.col.revoked')),
          h('th', { scope: 'col' }, t('admin.people.col.actions')),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((tok) => h(TokenRow, { key: tok.id, token: tok, onRevoked: props.onChange })),
      ),
    ),
  )
}
