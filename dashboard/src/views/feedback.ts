import { h, type JSX } from 'preact'
import { isMissingRoute, messageOf } from '../api/errors.js'
import { useI18n } from '../i18n/use-i18n.js'

/** Loading, error and "not available" messages, worded and styled the same everywhere. */

export function Loading(props: { label: string }): JSX.Element {
  return h('p', { class: 'muted', role: 'status', 'data-testid': 'loading' }, props.label)
}

export function ErrorMessage(props: { error: unknown; retry?: () => void }): JSX.Element {
  const { t } = useI18n()
  return h(
    'div',
    { class: 'error-box', role: 'alert', 'data-testid': 'error' },
    h('span', null, messageOf(props.error, t)),
    props.retry
      ? h('button', { type: 'button', class: 'btn small', onClick: props.retry }, t('fleet.retry'))
      : null,
  )
}

/** For features the gateway does not serve yet (their routes answer "No route"). `what` comes translated. */
export function NotAvailable(props: { what: string }): JSX.Element {
  const { t } = useI18n()
  return h(
    'p',
    { class: 'muted not-available', 'data-testid': 'not-available' },
    t('fleet.notAvailable', { what: props.what }),
  )
}

/** An error, or "not available" when the route does not exist at all. */
export function Failure(props: { error: unknown; what: string; retry?: () => void }): JSX.Element {
  if (isMissingRoute(props.error)) return h(NotAvailable, { what: props.what })
  return h(ErrorMessage, props.retry ? { error: props.error, retry: props.retry } : { error: props.error })
}
