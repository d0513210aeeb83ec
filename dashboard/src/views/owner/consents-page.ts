import type { ConsentRequests } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { useServices } from '../../services.js'
import { ConsentCard } from './consent-card.js'
import { useLoad } from './load.js'
import { OwnerError, OwnerLoading } from './status.js'

/** Requests for the owner's footage: the waiting ones first, then the decided ones with who and when. */
export function ConsentsPage(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [loaded, reload] = useLoad<ConsentRequests>((s) => api.myConsents(s), [])
  const head = [h('h1', { tabIndex: -1 }, t('owner.title.consents'))]
  if (loaded.kind === 'loading') return h('section', { class: 'panel owner-page' }, head, h(OwnerLoading, {}))
  if (loaded.kind === 'error')
    return h(
      'section',
      { class: 'panel owner-page' },
      head,
      h(OwnerError, { error: loaded.error, retry: reload }),
    )
  const all = loaded.data.requests
  const waiting = all.filter((r) => r.state === 'waiting')
  const decided = all
    .filter((r) => r.state !== 'waiting')
    .sort((a, b) => (b.decidedAt ?? 0) - (a.decidedAt ?? 0))
  const list = (rs: typeof all, id: string) =>
    h(
      'ul',
      { class: 'owner-cards', 'data-testid': id },
      rs.map((r) => h(ConsentCard, { key: r.pullId, request: r, onDecided: reload })),
    )
  return h(
    'section',
    { class: 'panel owner-page', 'data-testid': 'consents-page' },
    head,
    all.length === 0 ? h('p', { class: 'muted' }, t('owner.consents.none')) : null,
    all.length === 0 ? null : h('h2', null, t('owner.consents.waiting')),
    all.length === 0
      ? null
      : waiting.length === 0
        ? h('p', { class: 'muted' }, t('owner.consents.noneWaiting'))
        : list(waiting, 'consents-waiting'),
    decided.length === 0 ? null : h('h2', null, t('owner.consents.decided')),
    decided.length === 0 ? null : list(decided, 'consents-decided'),
  )
}
