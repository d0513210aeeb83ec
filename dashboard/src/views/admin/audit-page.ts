import type { AuditEntry } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import type { AuditFilter } from '../../api/endpoints.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { useLoad } from '../owner/load.js'
import { ChainCheck } from './chain-check.js'
import { AdminError, AdminLoading } from './status.js'

const PAGE = 50

function EntryRow(props: { entry: AuditEntry }): JSX.Element {
  const { fmt } = useI18n()
  const e = props.entry
  const details = Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details)
  return h(
    'tr',
    { 'data-testid': `audit-${e.seq}`, 'data-action': e.action },
    h('td', null, String(e.seq)),
    h('td', null, fmt.dateTime(e.at)),
    h('td', null, e.actor),
    h('td', null, h('code', null, e.action)),
    h('td', null, e.subject),
    h('td', { class: 'admin-details' }, details),
  )
}

/** The filters the route takes (action, subject); they apply on "Filter", not on every key. */
function Filters(props: { onApply: (f: { action: string; subject: string }) => void }): JSX.Element {
  const { t } = useI18n()
  const [action, setAction] = useState('')
  const [subject, setSubject] = useState('')
  return h(
    'form',
    {
      class: 'admin-form',
      'data-testid': 'audit-filters',
      onSubmit: (e: Event) => {
        e.preventDefault()
        props.onApply({ action: action.trim(), subject: subject.trim() })
      },
    },
    h(
      'label',
      null,
      h('span', null, t('admin.audit.action')),
      h('input', {
        value: action,
        maxLength: 64,
        placeholder: 'token.issue',
        'data-testid': 'audit-action',
        onInput: (e: Event) => setAction((e.currentTarget as HTMLInputElement).value),
      }),
    ),
    h(
      'label',
      null,
      h('span', null, t('admin.audit.subject')),
      h('input', {
        value: subject,
        maxLength: 200,
        placeholder: 'device:cam-01',
        'data-testid': 'audit-subject',
        onInput: (e: Event) => setSubject((e.currentTarget as HTMLInputElement).value),
      }),
    ),
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'audit-filter' }, t('admin.audit.filter')),
  )
}

/** #/admin/audit: the audit log, filtered and paged (oldest first), and the chain check. */
export function AuditPage(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [filter, setFilter] = useState<{ action: string; subject: string }>({ action: '', subject: '' })
  const [after, setAfter] = useState(0)
  const q: AuditFilter = {
    after,
    limit: PAGE,
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.subject ? { subject: filter.subject } : {}),
  }
  const [page, reload] = useLoad((s) => api.audit(q, s), [after, filter.action, filter.subject])
  return h(
    'section',
    { class: 'panel admin-page', 'data-testid': 'admin-audit' },
    h('h1', { tabIndex: -1 }, t('admin.title.audit')),
    h('p', { class: 'muted' }, t('admin.audit.intro')),
    h(ChainCheck, {}),
    h(Filters, {
      onApply: (f) => {
        setFilter(f)
        setAfter(0)
      },
    }),
    page.kind === 'loading'
      ? h(AdminLoading, {})
      : page.kind === 'error'
        ? h(AdminError, { error: page.error, retry: reload })
        : page.data.entries.length === 0
          ? h('p', { class: 'muted', 'data-testid': 'audit-none' }, t('admin.audit.none'))
          : h(
              'div',
              { class: 'admin-table-wrap' },
              h(
                'table',
                { class: 'admin-table', 'data-testid': 'audit-table' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'col' }, t('admin.audit.col.seq')),
                    h('th', { scope: 'col' }, t('admin.audit.col.at')),
                    h('th', { scope: 'col' }, t('admin.audit.col.actor')),
                    h('th', { scope: 'col' }, t('admin.audit.col.action')),
                    h('th', { scope: 'col' }, t('admin.audit.col.subject')),
                    h('th', { scope: 'col' }, t('admin.audit.col.details')),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  page.data.entries.map((e) => h(EntryRow, { key: e.seq, entry: e })),
                ),
              ),
            ),
    h(
      'div',
      { class: 'admin-actions' },
      after > 0
        ? h(
            'button',
            { type: 'button', class: 'btn', onClick: () => setAfter(0), 'data-testid': 'audit-first' },
            t('admin.audit.first'),
          )
        : null,
      page.kind === 'ok' && page.data.next !== null
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn',
              onClick: () => setAfter(page.data.next ?? 0),
              'data-testid': 'audit-next',
            },
            t('admin.audit.more'),
          )
        : null,
    ),
  )
}
