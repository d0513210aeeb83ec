import { h, type JSX } from 'preact'
import type { CustodyAnswer } from '../../api/endpoints.js'
import { useI18n } from '../../i18n/use-i18n.js'

/** The case's custody log, folded away: long, and read mostly when something is disputed. */
export function CustodyLog(props: { custody: CustodyAnswer | null }): JSX.Element | null {
  const { t, fmt } = useI18n()
  const c = props.custody
  if (c === null) return null
  return h(
    'details',
    { class: 'custody', 'data-testid': 'custody' },
    h('summary', null, t('cases.custody.show', { count: c.entries.length })),
    h(
      'p',
      { class: c.verify.ok ? 'muted' : 'error-box' },
      c.verify.ok ? t('cases.custody.ok') : t('cases.custody.broken'),
    ),
    h(
      'ol',
      { class: 'custody-list' },
      c.entries.map((e) =>
        h(
          'li',
          { key: e.seq },
          h('time', { dateTime: new Date(e.at).toISOString() }, fmt.dateTime(e.at)),
          ` ${e.actor} · ${e.action} `,
          h('code', { class: 'hash' }, e.hash.slice(0, 12)),
        ),
      ),
    ),
  )
}
