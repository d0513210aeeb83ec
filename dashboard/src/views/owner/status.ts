import { h, type JSX } from 'preact'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'

export function OwnerLoading(): JSX.Element {
  const { t } = useI18n()
  return h('p', { class: 'muted', role: 'status', 'data-testid': 'loading' }, t('owner.loading'))
}

export function OwnerError(props: { error: unknown; retry: () => void }): JSX.Element {
  const { t } = useI18n()
  return h(
    'div',
    { class: 'error-box', role: 'alert', 'data-testid': 'error' },
    h('span', null, t('owner.error', { message: messageOf(props.error, t) })),
    h('button', { type: 'button', class: 'btn small', onClick: props.retry }, t('owner.retry')),
  )
}
