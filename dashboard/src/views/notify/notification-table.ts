import type { NotificationView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { KIND_LABEL, STATUS_LABEL, STATUS_TONE } from './labels.js'

/** Notifications, newest first: when, about what, where each stands and why. */
export function NotificationTable(props: { items: NotificationView[]; testid: string }): JSX.Element {
  const { t, fmt } = useI18n()
  if (props.items.length === 0)
    return h('p', { class: 'muted', 'data-testid': `${props.testid}-none` }, t('notify.record.none'))
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': props.testid },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, t('notify.col.at')),
          h('th', { scope: 'col' }, t('notify.col.status')),
          h('th', { scope: 'col' }, t('notify.rule.kind')),
          h('th', { scope: 'col' }, t('notify.col.subject')),
          h('th', { scope: 'col' }, t('notify.col.message')),
          h('th', { scope: 'col' }, t('notify.col.attempts')),
          h('th', { scope: 'col' }, t('notify.col.reason')),
        ),
      ),
      h(
        'tbody',
        null,
        props.items.map((n) =>
          h(
            'tr',
            { key: n.id, 'data-testid': 'notification', 'data-status': n.status },
            h('td', null, fmt.dateTime(n.at)),
            h('td', null, h('span', { class: `badge ${STATUS_TONE[n.status]}` }, t(STATUS_LABEL[n.status]))),
            h('td', null, t(KIND_LABEL[n.kind])),
            h('td', null, n.subject),
            h(
              'td',
              null,
              n.message,
              n.suppressedCount > 0 ? ` ${t('notify.record.repeats', { count: n.suppressedCount })}` : '',
            ),
            h('td', null, fmt.number(n.attempts)),
            h('td', { class: 'admin-details' }, n.reason ?? ''),
          ),
        ),
      ),
    ),
  )
}
