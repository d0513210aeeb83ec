import type { NotificationStatus } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { useReloadOnFleetChange } from '../fleet-reload.js'
import { useLoad } from '../owner/load.js'
import { STATUS_LABEL } from './labels.js'
import { NotificationTable } from './notification-table.js'

const COUNTED: readonly NotificationStatus[] = ['sent', 'failed', 'suppressed', 'pending', 'retrying']

/**
 * One rule's notifications: how many were sent, failed or held back, and each of them. Units going
 * offline or coming back move the fleet, which is when a rule may have fired: the record asks again then.
 */
export function RuleRecord(props: { ruleId: string }): JSX.Element {
  const { http } = useServices()
  const { t, fmt } = useI18n()
  const [page, reload] = useLoad((s) => notifyApi.notifications(http, props.ruleId, s), [props.ruleId])
  useReloadOnFleetChange(reload)
  const counts = new Map<NotificationStatus, number>()
  if (page.kind === 'ok')
    for (const n of page.data.notifications) counts.set(n.status, (counts.get(n.status) ?? 0) + 1)
  return h(
    'div',
    { class: 'notify-record', 'data-testid': `rule-record-${props.ruleId}` },
    h(
      'div',
      { class: 'filters' },
      page.kind === 'ok'
        ? COUNTED.filter(
            (s) => (counts.get(s) ?? 0) > 0 || s === 'sent' || s === 'failed' || s === 'suppressed',
          ).map((s) =>
            h(
              'span',
              { key: s, class: 'notify-count', 'data-testid': `count-${s}` },
              t('notify.record.count', { status: t(STATUS_LABEL[s]), count: fmt.number(counts.get(s) ?? 0) }),
            ),
          )
        : null,
      h(
        'button',
        { type: 'button', class: 'btn small', onClick: reload, 'data-testid': 'record-refresh' },
        t('notify.refresh'),
      ),
    ),
    page.kind === 'loading'
      ? h(AdminLoading, {})
      : page.kind === 'error'
        ? h(AdminError, { error: page.error, retry: reload })
        : h(NotificationTable, { items: page.data.notifications, testid: 'rule-notifications' }),
  )
}
