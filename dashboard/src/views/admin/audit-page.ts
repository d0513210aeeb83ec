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
    h('td', { 'data-col': 'actor' }, e.actor),
    h('td', null, h('code', null, e.action)),
    h('td', null, e.subject),
    h('td', { class: 'admin-details' }, details),
  )
}

/** What the form holds, as typed: times are `datetime-local` values. */
interface Draft {
  action: string
  actor: string
  subject: string
  from: string
  to: string
}

const NO_FILTER: Draft = { action: '', actor: '', subject: '', from: '', to: '' }

/**
 * A `datetime-local` value as ms: the reader's local time, as `new Date()` reads it. `to` takes the
 * last millisecond of the minute shown, so "to 10:30" keeps an entry made at 10:30:45.
 */
function localMs(v: string, end: boolean): number | undefined {
  if (!v) return undefined
  const ms = new Date(v).getTime()
  if (!Number.isFinite(ms)) return undefined
  return end && v.length <= 16 ? ms + 59_999 : ms
}

/** The route's query for a filter as applied; empty fields are left out. */
function queryOf(f: Draft, after: number): AuditFilter {
  const from = localMs(f.from, false)
  const to = localMs(f.to, true)
  return {
    after,
    limit: PAGE,
    ...(f.action ? { action: f.action } : {}),
    ...(f.actor ? { actor: f.actor } : {}),
    ...(f.subject ? { subject: f.subject } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
  }
}

function trimmed(d: Draft): Draft {
  return { ...d, action: d.action.trim(), actor: d.actor.trim(), subject: d.subject.trim() }
}

/**
 * The filters the route takes; they apply on "Filter", not on every key. A `to` before `from` is said
 * beside the fields and not sent (the gateway would refuse it too). `actors` are the ones on the page,
 * offered as suggestions: the gateway matches an actor exactly.
 */
function Filters(props: {
  draft: Draft
  actors: string[]
  onDraft: (d: Draft) => void
  onApply: (d: Draft) => void
}): JSX.Element {
  const { t } = useI18n()
  const [badRange, setBadRange] = useState(false)
  const d = props.draft
  const text = (key: keyof Draft, label: string, extra: Record<string, unknown>) =>
    h(
      'label',
      null,
      h('span', null, label),
      h('input', {
        value: d[key],
        'data-testid': `audit-${key}`,
        onInput: (e: Event) => props.onDraft({ ...d, [key]: (e.currentTarget as HTMLInputElement).value }),
        ...extra,
      }),
    )
  return h(
    'form',
    {
      class: 'admin-form',
      'data-testid': 'audit-filters',
      onSubmit: (e: Event) => {
        e.preventDefault()
        const from = localMs(d.from, false)
        const to = localMs(d.to, true)
        const bad = from !== undefined && to !== undefined && to < from
        setBadRange(bad)
        if (!bad) props.onApply(trimmed(d))
      },
    },
    text('action', t('admin.audit.action'), { maxLength: 64, placeholder: 'token.issue' }),
    text('actor', t('admin.audit.actor'), {
      maxLength: 200,
      placeholder: 'Ann (admin #1)',
      list: 'audit-actors',
      title: t('admin.audit.actorHint', { example: 'Ann (admin #1)' }),
    }),
    h(
      'datalist',
      { id: 'audit-actors' },
      props.actors.map((a) => h('option', { key: a, value: a })),
    ),
    text('subject', t('admin.audit.subject'), { maxLength: 200, placeholder: 'device:cam-01' }),
    text('from', t('admin.audit.from'), { type: 'datetime-local' }),
    text('to', t('admin.audit.to'), {
      type: 'datetime-local',
      'aria-invalid': badRange ? 'true' : undefined,
      'aria-describedby': badRange ? 'audit-range-error' : undefined,
    }),
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'audit-filter' }, t('admin.audit.filter')),
    h(
      'button',
      {
        type: 'button',
        class: 'btn',
        'data-testid': 'audit-clear',
        onClick: () => {
          setBadRange(false)
          props.onDraft(NO_FILTER)
          props.onApply(NO_FILTER)
        },
      },
      t('admin.audit.clear'),
    ),
    badRange
      ? h(
          'p',
          { class: 'form-error', role: 'alert', id: 'audit-range-error', 'data-testid': 'audit-range-error' },
          t('admin.audit.badRange'),
        )
      : null,
  )
}

/** #/admin/audit: the audit log, filtered and paged (oldest first), and the chain check. */
export function AuditPage(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  // The page keeps both what is typed and what was applied: paging asks for the applied filter, so
  // a half-typed change does not leak into "Next page".
  const [draft, setDraft] = useState<Draft>(NO_FILTER)
  const [filter, setFilter] = useState<Draft>(NO_FILTER)
  const [after, setAfter] = useState(0)
  const q = queryOf(filter, after)
  const [page, reload] = useLoad(
    (s) => api.audit(q, s),
    [after, filter.action, filter.actor, filter.subject, filter.from, filter.to],
  )
  const actors = page.kind === 'ok' ? [...new Set(page.data.entries.map((e) => e.actor))].sort() : []
  return h(
    'section',
    { class: 'panel admin-page', 'data-testid': 'admin-audit' },
    h('h1', { tabIndex: -1 }, t('admin.title.audit')),
    h('p', { class: 'muted' }, t('admin.audit.intro')),
    h(ChainCheck, {}),
    h(Filters, {
      draft,
      actors,
      onDraft: setDraft,
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
