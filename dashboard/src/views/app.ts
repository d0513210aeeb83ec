import type { Role } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import type { Translator } from '../i18n/translator.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useStore } from '../lib/store.js'
import { type Route, rolesOf, useRoute } from '../router.js'
import { useServices } from '../services.js'
import { AuditPage } from './admin/audit-page.js'
import { PeoplePage } from './admin/people-page.js'
import { UnitsPage } from './admin/units-page.js'
import { AlertFeed } from './alert-feed.js'
import { CasePage } from './cases/case-page.js'
import { CasesList } from './cases/cases-list.js'
import { NewCase } from './cases/new-case.js'
import { ConfigPage } from './config/config-page.js'
import { DevicePage } from './device-page.js'
import { DeviceTable } from './device-table.js'
import { EventPage } from './event-page.js'
import { EventsView } from './events-view.js'
import { CampaignForm } from './firmware/campaign-form.js'
import { CampaignPage } from './firmware/campaign-page.js'
import { CampaignsPage } from './firmware/campaigns-page.js'
import { ImagesPage } from './firmware/images-page.js'
import { FleetGrid } from './fleet-grid.js'
import { Header } from './header.js'
import { MapPage } from './map/map-page.js'
import { useNarrow } from './narrow.js'
import { NoticesBar } from './notices-bar.js'
import { NotifyPage } from './notify/notify-page.js'
import { OfflineView } from './offline-view.js'
import { ConsentsPage } from './owner/consents-page.js'
import { OwnerDevice } from './owner/owner-device.js'
import { OwnerHome } from './owner/owner-home.js'
import { SignIn } from './sign-in.js'

function titleOf(r: Route, t: Translator['t'], role: Role): string {
  switch (r.name) {
    case 'fleet':
      return role === 'owner' ? t('owner.title.home') : t('shell.title.fleet')
    case 'district':
      return t('shell.title.district', { district: r.district })
    case 'devices':
      return t('shell.title.devices')
    case 'device':
      return r.id
    case 'offline':
      return t('shell.title.offline')
    case 'map':
      return t('map.title')
    case 'alerts':
      return t('shell.liveAlerts')
    case 'events':
      return t('shell.title.events')
    case 'event':
      return t('shell.title.event', { id: r.id.slice(0, 8) })
    case 'my':
      return t('owner.title.home')
    case 'my-device':
      return t('owner.title.device', { id: r.id })
    case 'consents':
      return t('owner.title.consents')
    case 'cases':
      return t('cases.title.list')
    case 'case-new':
      return t('cases.title.new')
    case 'case':
      return t('cases.title.case', { number: r.id.slice(0, 8) })
    case 'admin-people':
      return t('admin.title.people')
    case 'admin-units':
      return t('admin.title.units')
    case 'admin-audit':
      return t('admin.title.audit')
    case 'firmware':
      return t('firmware.title.images')
    case 'campaigns':
      return t('firmware.title.campaigns')
    case 'campaign-new':
      return t('firmware.title.new')
    case 'campaign':
      return t('firmware.title.campaign', { id: r.id.slice(0, 8) })
    case 'config':
      return t('config.title')
    case 'notify':
      return t('notify.title')
    case 'not-found':
      return t('shell.notFound')
  }
}

function Forbidden(): JSX.Element {
  const { t } = useI18n()
  return h(
    'section',
    { class: 'panel', 'data-testid': 'forbidden' },
    h('h1', { tabIndex: -1 }, t('shell.forbidden')),
    h('p', null, t('shell.forbiddenBody')),
  )
}

function Page(props: { route: Route; narrow: boolean; role: Role }): JSX.Element {
  const r = props.route
  const { t } = useI18n()
  // The start page (#/) is the fleet for staff; an owner starting there gets their own home instead.
  if (props.role === 'owner' && r.name === 'fleet') return h(OwnerHome, {})
  // The gateway refuses these roles' data anyway; this only spares them a page of errors.
  if (!rolesOf(r).includes(props.role)) return h(Forbidden, {})
  switch (r.name) {
    case 'alerts':
      // On a wide screen the feed is always beside the page: a link to it shows the fleet next to it.
      return props.narrow ? h(AlertFeed, { page: true }) : h(FleetGrid, {})
    case 'fleet':
      return h(FleetGrid, {})
    case 'district':
      // Keyed: a new district is a new list (scroll position, filters).
      return h(DeviceTable, { key: `d${r.district}`, district: r.district })
    case 'devices':
      return h(DeviceTable, { key: 'all', district: null })
    case 'device':
      return h(DevicePage, { key: r.id, id: r.id })
    case 'offline':
      return h(OfflineView, {})
    case 'map':
      return h(MapPage, {})
    case 'events':
      return h(EventsView, {})
    case 'event':
      return h(EventPage, { key: r.id, id: r.id })
    case 'my':
      return h(OwnerHome, {})
    case 'my-device':
      return h(OwnerDevice, { key: r.id, id: r.id })
    case 'consents':
      return h(ConsentsPage, {})
    case 'cases':
      return h(CasesList, {})
    case 'case-new':
      return h(NewCase, {})
    case 'case':
      return h(CasePage, { key: r.id, id: r.id })
    case 'admin-people':
      return h(PeoplePage, {})
    case 'admin-units':
      return h(UnitsPage, {})
    case 'admin-audit':
      return h(AuditPage, {})
    case 'firmware':
      return h(ImagesPage, {})
    case 'campaigns':
      return h(CampaignsPage, {})
    case 'campaign-new':
      return h(CampaignForm, {})
    case 'campaign':
      return h(CampaignPage, { key: r.id, id: r.id })
    case 'config':
      return h(ConfigPage, { key: r.device ?? '', device: r.device })
    case 'notify':
      return h(NotifyPage, {})
    case 'not-found':
      return h(
        'section',
        { class: 'panel' },
        h('h1', { tabIndex: -1 }, t('shell.notFound')),
        h('p', null, `${t('shell.notFoundBody')} `, h('a', { href: '#/' }, t('shell.backHome'))),
      )
  }
}

function SignedIn(props: { role: Role }): JSX.Element {
  const route = useRoute()
  const narrow = useNarrow()
  const { t } = useI18n()
  const main = useRef<HTMLElement>(null)
  const first = useRef(true)
  const staff = props.role !== 'owner'

  useEffect(() => {
    document.title = `${titleOf(route, t, props.role)} · ${t('shell.brand')}`
  }, [route, t, props.role])

  // On navigation, move focus to the new page's heading so keyboard and screen-reader users land on it.
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus({ preventScroll: false })
  }, [route])

  return h(
    'div',
    { class: 'shell' },
    h(
      'a',
      {
        class: 'skip',
        href: '#main',
        onClick: (e: Event) => {
          e.preventDefault()
          main.current?.focus()
        },
      },
      t('shell.skipToContent'),
    ),
    h(Header, { route }),
    h(
      'div',
      { class: narrow ? 'layout narrow' : 'layout' },
      h(
        'main',
        { id: 'main', ref: main, tabIndex: -1, class: 'content' },
        h(NoticesBar, {}),
        h(Page, { route, narrow, role: props.role }),
      ),
      // On a phone the feed is a page of its own (#/alerts): beside or under the page it leaves no room.
      // Owners have no alert feed: the socket is for staff.
      narrow || !staff
        ? null
        : h('aside', { class: 'side', 'aria-label': t('shell.liveAlerts') }, h(AlertFeed, { page: false })),
    ),
  )
}

function Loading(): JSX.Element {
  const { t } = useI18n()
  return h(
    'main',
    { class: 'signin', id: 'main', 'aria-busy': 'true' },
    h('p', { class: 'muted' }, t('shell.loading')),
  )
}

/** Signed in: the dashboard for the token's role; otherwise the sign-in form. */
export function App(): JSX.Element {
  const { session } = useServices()
  const s = useStore(session)
  if (!s.token) return h(SignIn, {})
  // A resumed session learns its role first: the header and the pages depend on it.
  return s.me ? h(SignedIn, { role: s.me.role }) : h(Loading, {})
}
