import type { CaseView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'

export function CasesLoading(): JSX.Element {
  const { t } = useI18n()
  return h('p', { class: 'muted', role: 'status', 'data-testid': 'loading' }, t('cases.loading'))
}

export function CasesError(props: { error: unknown; retry: () => void }): JSX.Element {
  const { t } = useI18n()
  return h(
    'div',
    { class: 'error-box', role: 'alert', 'data-testid': 'error' },
    h('span', null, t('cases.error', { message: messageOf(props.error, t) })),
    h('button', { type: 'button', class: 'btn small', onClick: props.retry }, t('cases.retry')),
  )
}

/** "from – to" of a case's window, in the reader's time zone and language. */
export function useWindowText(): (c: Pick<CaseView, 'from' | 'to'>) => string {
  const { t, fmt } = useI18n()
  return (c) => t('cases.window', { from: fmt.dateTime(c.from), to: fmt.dateTime(c.to) })
}
