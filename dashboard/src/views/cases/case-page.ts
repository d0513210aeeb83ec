import type { CaseDetail, CaseDevice } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useState } from 'preact/hooks'
import type { CustodyAnswer } from '../../api/endpoints.js'
import { messageOf } from '../../api/errors.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { useServices } from '../../services.js'
import { useLoad } from '../owner/load.js'
import { CaseEvents } from './case-events.js'
import { CustodyLog } from './custody-log.js'
import { ExportButton } from './export-button.js'
import type { PullNow } from './pull-cell.js'
import { CasesError, CasesLoading, useWindowText } from './status.js'
import { UnitsTable } from './units-table.js'

interface Loaded {
  detail: CaseDetail
  custody: CustodyAnswer | null
}

/**
 * One case: its units with their pulls (live from the socket over what was fetched), the actions, the
 * events in its window and its custody log. Fetched again after each action and after the socket
 * reconnects (frames missed meanwhile are not replayed).
 */
export function CasePage(props: { id: string }): JSX.Element {
  const services = useServices()
  const { api, feed } = services
  const { t } = useI18n()
  const role = useStore(services.session).me?.role
  const reconnected = useStore(feed.cases.reconnects)
  const frames = useStore(feed.cases.pulls)
  const windowText = useWindowText()
  const [busy, setBusy] = useState<'pulls' | 'close' | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [loaded, reload] = useLoad<Loaded>(
    async (s) => {
      const [detail, custody] = await Promise.all([
        api.case(props.id, s),
        api.custody(props.id, s).catch(() => null),
      ])
      return { detail, custody }
    },
    [props.id, reconnected],
  )

  if (loaded.kind === 'loading')
    return h(
      'section',
      { class: 'panel' },
      h('h1', { tabIndex: -1 }, t('cases.title.list')),
      h(CasesLoading, {}),
    )
  if (loaded.kind === 'error')
    return h(
      'section',
      { class: 'panel' },
      h('h1', { tabIndex: -1 }, t('cases.title.list')),
      h(CasesError, { error: loaded.error, retry: reload }),
    )

  const { detail, custody } = loaded.data
  const c = detail.case
  // The latest frame of this case's pull of each unit: the map keeps the newest last.
  const live = new Map<string, PullNow>()
  for (const f of frames.values()) {
    if (f.caseId === c.id)
      live.set(f.deviceId, { id: f.pullId, state: f.state, bytes: f.bytes, total: f.total, reason: f.reason })
  }
  const pullOf = (d: CaseDevice): PullNow | null => live.get(d.id) ?? d.pull
  const open = c.state === 'open'

  const act = (kind: 'pulls' | 'close', run: () => Promise<unknown>) => {
    setBusy(kind)
    setError(null)
    run().then(
      () => {
        setBusy(null)
        reload()
      },
      (err: unknown) => {
        setBusy(null)
        setError(err)
      },
    )
  }
  const close = () => {
    if (window.confirm(t('cases.action.closeConfirm', { number: c.number })))
      act('close', () => api.closeCase(c.id))
  }

  return h(
    'section',
    { class: 'panel case-page', 'data-testid': 'case-page', 'data-state': c.state },
    h('h1', { tabIndex: -1, 'data-testid': 'case-heading' }, t('cases.title.case', { number: c.number })),
    h(
      'dl',
      { class: 'case-facts' },
      h('dt', null, t('cases.case.state')),
      h('dd', { 'data-testid': 'case-state' }, t(`cases.state.${c.state}`)),
      h('dt', null, t('cases.case.reason')),
      h('dd', null, c.reason),
      h('dt', null, t('cases.case.window')),
      h('dd', null, windowText(c)),
      h('dt', null, t('cases.case.openedBy')),
      h('dd', null, c.createdBy),
      c.closedBy ? h('dt', null, t('cases.case.closedBy')) : null,
      c.closedBy ? h('dd', null, c.closedBy) : null,
    ),
    h(
      'div',
      { class: 'case-actions' },
      open
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn primary',
              disabled: busy !== null,
              onClick: () => act('pulls', () => api.requestPulls(c.id)),
              'data-testid': 'case-pulls',
            },
            busy === 'pulls' ? t('cases.action.pulling') : t('cases.action.pulls'),
          )
        : null,
      open
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn',
              disabled: busy !== null,
              onClick: close,
              'data-testid': 'case-close',
            },
            t('cases.action.close'),
          )
        : null,
      h(ExportButton, { caseId: c.id }),
    ),
    error === null
      ? null
      : h(
          'p',
          { class: 'error-box', role: 'alert' },
          t('cases.action.failed', { message: messageOf(error, t) }),
        ),
    h('h2', null, t('cases.units.heading')),
    h(UnitsTable, { devices: detail.devices, pullOf, admin: role === 'admin', onChanged: reload }),
    h(CaseEvents, { events: detail.events }),
    h('p', { 'data-testid': 'case-holds' }, t('cases.holds', { count: detail.holds.length })),
    h('h2', null, t('cases.custody.heading')),
    h(CustodyLog, { custody }),
  )
}
