import type { Role, TokenIssued } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ROLE_LABEL, ROLE_LIST } from './roles.js'
import { ShownOnce } from './shown-once.js'
import { AdminFailed } from './status.js'

/** Issues a token; the answer is the only time the token exists outside its holder's hands. */
export function IssueForm(props: { onIssued: () => void }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>('investigator')
  const [contact, setContact] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [issued, setIssued] = useState<TokenIssued | null>(null)

  const submit = (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const body = role === 'owner' ? { name, role, ownerContact: contact } : { name, role }
    api.issueToken(body).then(
      (tok) => {
        setIssued(tok)
        setName('')
        setContact('')
        setBusy(false)
        props.onIssued()
      },
      (err: unknown) => {
        setError(err)
        setBusy(false)
      },
    )
  }

  return h(
    'div',
    { class: 'admin-block' },
    h('h2', null, t('admin.people.issue')),
    h(
      'form',
      { class: 'admin-form', onSubmit: submit, 'data-testid': 'issue-form' },
      h(
        'label',
        null,
        h('span', null, t('admin.people.name')),
        h('input', {
          required: true,
          maxLength: 100,
          value: name,
          'data-testid': 'issue-name',
          onInput: (e: Event) => setName((e.currentTarget as HTMLInputElement).value),
        }),
      ),
      h(
        'label',
        null,
        h('span', null, t('admin.people.role')),
        h(
          'select',
          {
            value: role,
            'data-testid': 'issue-role',
            onChange: (e: Event) => setRole((e.currentTarget as HTMLSelectElement).value as Role),
          },
          ROLE_LIST.map((r) => h('option', { key: r, value: r }, t(ROLE_LABEL[r]))),
        ),
      ),
      role === 'owner'
        ? h(
            'label',
            null,
            h('span', null, t('admin.people.ownerContact')),
            h('input', {
              required: true,
              maxLength: 200,
              value: contact,
              'data-testid': 'issue-contact',
              onInput: (e: Event) => setContact((e.currentTarget as HTMLInputElement).value),
            }),
          )
        : null,
      h(
        'button',
        { type: 'submit', class: 'btn primary', disabled: busy, 'data-testid': 'issue-submit' },
        busy ? t('admin.working') : t('admin.people.submit'),
      ),
    ),
    error ? h(AdminFailed, { error }) : null,
    issued
      ? h(ShownOnce, {
          label: t('admin.people.issued', { name: issued.name }),
          value: issued.token,
          testid: 'issued-token',
          onDone: () => setIssued(null),
        })
      : null,
  )
}
