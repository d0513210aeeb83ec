import { h, type JSX } from 'preact'
import { notifyApi } from '../../api/notify-api.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { useLoad } from '../owner/load.js'
import { NotificationTable } from './notification-table.js'

/** Notifications whose last delivery try failed, each with the error it got. */
export function DeadLetters(): JSX.Element {
  const { http } = useServices()
  const { t } = useI18n()
  const [page, reload] = useLoad((s) => notifyApi.deadLetters(http, s), [])
  return h(
    'div',
    { class: 'admin-block', 'data-testid': 'dead-letters' },
    h(
      'div',
      { class: 'panel-head sub' },
      h('h2', null, t('notify.dead.heading')),
      h('button', { type: 'button', class: 'btn small', onClick: reload }, t('notify.refresh')),
    ),
    h('p', { class: 'muted' }, t('notify.dead.intro')),
    page.kind === 'loading'
      ? h(AdminLoading, {})
      : page.kind === 'error'
        ? h(AdminError, { error: page.error, retry: reload })
        : h(NotificationTable, { items: page.data.notifications, testid: 'dead-letter-table' }),
  )
}
