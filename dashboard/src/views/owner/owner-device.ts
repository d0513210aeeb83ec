import type { DeviceListResponse, EventView } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { isAbort } from '../../api/http.js'
import { useI18n } from '../../i18n/use-i18n.js'
import { hrefOf } from '../../router.js'
import { useServices } from '../../services.js'
import { EventItem } from './event-item.js'
import { useLoad } from './load.js'
import { OwnerError, OwnerLoading } from './status.js'
import { UnitHealth } from './unit-health.js'
import { UnitState } from './unit-state.js'

const PAGE = 20

type Events =
  | { kind: 'loading' }
  | { kind: 'error'; error: unknown }
  | { kind: 'ok'; events: EventView[]; next: string | null; more: boolean }

/** The unit's events, newest first, a page at a time. */
function UnitEvents(props: { id: string }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  const [state, setState] = useState<Events>({ kind: 'loading' })
  const [cursor, setCursor] = useState<string | null>(null)

  useEffect(() => {
    const ctl = new AbortController()
    api.myEvents(props.id, { limit: PAGE, ...(cursor ? { cursor } : {}) }, ctl.signal).then(
      (page) =>
        setState((s) => ({
          kind: 'ok',
          events: [...(s.kind === 'ok' && cursor ? s.events : []), ...page.events],
          next: page.nextCursor,
          more: false,
        })),
      (error: unknown) => {
        if (!isAbort(error)) setState({ kind: 'error', error })
      },
    )
    return () => ctl.abort()
  }, [api, props.id, cursor])

  if (state.kind === 'loading') return h(OwnerLoading, {})
  if (state.kind === 'error')
    return h(OwnerError, {
      error: state.error,
      retry: () => {
        setState({ kind: 'loading' })
        setCursor(null)
      },
    })
  if (state.events.length === 0) return h('p', { class: 'muted' }, t('owner.device.noEvents'))
  return h(
    'div',
    null,
    h(
      'ul',
      { class: 'owner-cards', 'data-testid': 'my-events' },
      state.events.map((e) => h(EventItem, { key: e.id, event: e })),
    ),
    state.next
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn small',
            disabled: state.more,
            onClick: () => {
              setState({ ...state, more: true })
              setCursor(state.next)
            },
          },
          t('owner.device.more'),
        )
      : null,
  )
}

/** One of the owner's units: its health and its events with their clips. */
export function OwnerDevice(props: { id: string }): JSX.Element {
  const { api } = useServices()
  const { t } = useI18n()
  // Owners have no single-unit route: their list is short, and it says which units are theirs.
  const [units, reload] = useLoad<DeviceListResponse>((s) => api.myDevices(s), [])
  const back = h('p', null, h('a', { href: hrefOf({ name: 'my' }) }, t('owner.device.back')))
  if (units.kind === 'loading') return h('section', { class: 'panel owner-page' }, back, h(OwnerLoading, {}))
  if (units.kind === 'error')
    return h(
      'section',
      { class: 'panel owner-page' },
      back,
      h(OwnerError, { error: units.error, retry: reload }),
    )
  const d = units.data.devices.find((u) => u.id === props.id)
  if (!d)
    return h(
      'section',
      { class: 'panel owner-page', 'data-testid': 'owner-device' },
      back,
      h('h1', { tabIndex: -1 }, t('owner.title.device', { id: props.id })),
      h('p', { class: 'muted' }, t('owner.device.notYours')),
    )
  return h(
    'section',
    { class: 'panel owner-page', 'data-testid': 'owner-device' },
    back,
    h('h1', { tabIndex: -1 }, d.address),
    h(
      'p',
      { class: 'owner-card-meta' },
      h(UnitState, { state: d.state }),
      ' ',
      h('span', { class: 'mono' }, d.id),
    ),
    h('h2', null, t('owner.device.health')),
    h(UnitHealth, { device: d }),
    h(
      'dl',
      { class: 'owner-facts' },
      h('div', { class: 'owner-fact' }, h('dt', null, t('owner.unit.model')), h('dd', null, d.model)),
      h('div', { class: 'owner-fact' }, h('dt', null, t('owner.unit.firmware')), h('dd', null, d.firmware)),
      h(
        'div',
        { class: 'owner-fact' },
        h('dt', null, t('owner.unit.policy')),
        h('dd', null, t(`owner.policy.${d.releasePolicy}`)),
      ),
    ),
    h('h2', null, t('owner.device.events')),
    h(UnitEvents, { id: d.id }),
  )
}
