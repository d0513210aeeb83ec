import type { ChannelView, RuleView } from '@doorstep/proto'
import { Fragment, h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminFailed } from '../admin/status.js'
import { KIND_LABEL } from './labels.js'
import { RuleRecord } from './rule-record.js'

const COLUMNS = 8

function RuleRow(props: { rule: RuleView; channels: ChannelView[]; onRemoved: () => void }): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const r = props.rule
  const names = r.channels.map((id) => props.channels.find((c) => c.id === id)?.name ?? id.slice(0, 8))
  const remove = () => {
    if (!window.confirm(t('notify.rule.confirmRemove', { name: r.name }))) return
    setBusy(true)
    setError(null)
    notifyApi.removeRule(http, r.id).then(
      () => {
        setBusy(false)
        props.onRemoved()
      },
      (err: unknown) => {
        setBusy(false)
        setError(err)
      },
    )
  }
  const recordId = `rule-record-row-${r.id}`
  return h(
    Fragment,
    null,
    h(
      'tr',
      { 'data-testid': `rule-${r.id}`, 'data-name': r.name },
      h('td', null, r.name),
      h('td', null, t(KIND_LABEL[r.kind])),
      h(
        'td',
        null,
        r.district === null ? t('notify.rule.allDistricts') : t('config.district', { district: r.district }),
      ),
      h('td', null, t(`events.severity.${r.severity}`)),
      h(
        'td',
        null,
        r.kind === 'offline' ? `${t('notify.rule.afterMinutes', { minutes: r.offlineMinutes })}; ` : '',
        t('notify.rule.oncePer', { minutes: r.windowS / 60 }),
      ),
      h(
        'td',
        null,
        r.quietHours
          ? t('notify.rule.quietSpan', {
              start: r.quietHours.start,
              end: r.quietHours.end,
              zone: r.quietHours.timeZone,
            })
          : '—',
      ),
      h('td', null, names.join(', ')),
      h(
        'td',
        { class: 'admin-actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'btn small',
            'aria-expanded': open ? 'true' : 'false',
            'aria-controls': recordId,
            onClick: () => setOpen((o) => !o),
            'data-testid': 'rule-record-toggle',
          },
          t('notify.rule.record'),
        ),
        h(
          'button',
          { type: 'button', class: 'btn small', disabled: busy, onClick: remove },
          t('notify.remove'),
        ),
        error ? h(AdminFailed, { error }) : null,
      ),
    ),
    open ? h('tr', { id: recordId }, h('td', { colSpan: COLUMNS }, h(RuleRecord, { ruleId: r.id }))) : null,
  )
}

/** Every rule; each opens its record of notifications. */
export function RuleList(props: {
  rules: RuleView[]
  channels: ChannelView[]
  onChange: () => void
}): JSX.Element {
  const { t } = useI18n()
  if (props.rules.length === 0) return h('p', { class: 'muted' }, t('notify.rule.none'))
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': 'rule-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('notify.rule.name')),
          h('th', { scope: 'col' }, t('notify.rule.kind')),
          h('th', { scope: 'col' }, t('notify.rule.district')),
          h('th', { scope: 'col' }, t('notify.rule.severity')),
          h('th', { scope: 'col' }, t('notify.rule.when')),
          h('th', { scope: 'col' }, t('notify.rule.quiet')),
          h('th', { scope: 'col' }, t('notify.rule.channels')),
          h('th', { scope: 'col' }, t('notify.col.actions')),
        ),
      ),
      h(
        'tbody',
        null,
        props.rules.map((r) =>
          h(RuleRow, { key: r.id, rule: r, channels: props.channels, onRemoved: props.onChange }),
        ),
      ),
    ),
  )
}
