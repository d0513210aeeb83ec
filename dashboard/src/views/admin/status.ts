import { h, type JSX } from 'preact'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'

export function AdminLoading(): JSX.Element {
  const { t } = useI18n()
  return h('p', { class: 'muted', role: 'status', 'data-testid': 'loading' }, t('admin.loading'))
}

/** A page's data could not be loaded: why, and a way to ask again. */
export function AdminError(props: { error: unknown; retry: () => void }): JSX.Element {
  const { t } = useI18n()
  return h(
    'div',
    { class: 'error-box', role: 'alert', 'data-testid': 'error' },
    h('span', null, t('admin.error', { message: messageOf(props.error, t) })),
    h('button', { type: 'button', class: 'btn small', onClick: props.retry }, t('admin.retry')),
  )
}

/** An action that failed; the form stays as it was, so it can be sent again. */
export function AdminFailed(props: { error: unknown; testid?: string }): JSX.Element {
  const { t } = useI18n()
  return h(
    'p',
    { class: 'form-error', role: 'alert', 'data-testid': props.testid ?? 'action-error' },
    t('admin.failed', { message: messageOf(props.error, t) }),
  )
}
