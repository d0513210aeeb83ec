import type { ConsentRequests, DeviceListResponse } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { useLoad } from './load.js'
import { OwnerError, OwnerLoading } from './status.js'
import { UnitCard } from './unit-card.js'

function PendingNotice(props: { consents: ConsentRequests }): JSX.Element {
  const { t } = useI18n()
  const waiting = props.consents.requests.filter((r) => r.state === 'waiting').length
  return h(
    'div',
    { class: waiting > 0 ? 'owner-pending attention' : 'owner-pending', 'data-testid': 'pending-count' },
    h(
      'p',
      { 'data-count': String(waiting) },
      waiting > 0 ? t('owner.pending.some', { count: waiting }) : t('owner.pending.none'),
    ),
    h('a', { class: 'btn small', href: hrefOf({ name: 'consents' }) }, t('owner.pending.open')),
  )
}

/** The owner's start page: requests waiting for them, then their units and how each is. */
export function OwnerHome(): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [units, reloadUnits] = useLoad<DeviceListResponse>((s) => api.myDevices(s), [])
  const [consents, reloadConsents] = useLoad<ConsentRequests>((s) => api.myConsents(s), [])
  const now = Date.now()
  return h(
    'section',
    { class: 'panel owner-page', 'data-testid': 'owner-home' },
    h('h1', { tabIndex: -1 }, t('owner.title.home')),
    h('p', { class: 'muted' }, t('owner.intro')),
    consents.kind === 'ok'
      ? h(PendingNotice, { consents: consents.data })
      : consents.kind === 'error'
        ? h(OwnerError, { error: consents.error, retry: reloadConsents })
        : null,
    h('h2', null, t('owner.units.heading')),
    units.kind === 'loading'
      ? h(OwnerLoading, {})
      : units.kind === 'error'
        ? h(OwnerError, { error: units.error, retry: reloadUnits })
        : units.data.devices.length === 0
          ? h('p', { class: 'muted' }, t('owner.units.none'))
          : h(
              'ul',
              { class: 'owner-cards', 'data-testid': 'my-units' },
              units.data.devices.map((d) => h(UnitCard, { key: d.id, device: d, now })),
            ),
  )
}
