import type { Role } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { MessageKey } from '../i18n/catalogue.js'
import { useI18n } from '../i18n/use-i18n.js'
import { useStore } from '../lib/store.js'
import { hrefOf, type Route } from '../router.js'
import { useServices } from '../services.js'
import { ConnectionStatus } from './connection-status.js'
import { LanguageSwitch } from './language-switch.js'
import { useNarrow } from './narrow.js'

interface NavItem {
  route: Route
  label: MessageKey
  match: Route['name'][]
  /** Who sees the link; the gateway checks the same roles on every route behind the page. */
  roles: readonly Role[]
  /** Only where the feed has no place beside the page. */
  narrowOnly?: boolean
  /** The link's test id when not `nav-<route>`. */
  testid?: string
}

const STAFF: readonly Role[] = ['admin', 'ops', 'investigator']
const OWNER: readonly Role[] = ['owner']
const INVESTIGATORS: readonly Role[] = ['admin', 'investigator']
const ADMIN: readonly Role[] = ['admin']
const FLEET: readonly Role[] = ['admin', 'ops']

const NAV: NavItem[] = [
  {
    route: { name: 'fleet' },
    label: 'shell.nav.fleet',
    match: ['fleet', 'district', 'devices', 'device'],
    roles: STAFF,
  },
  { route: { name: 'alerts' }, label: 'shell.liveAlerts', match: ['alerts'], roles: STAFF, narrowOnly: true },
  { route: { name: 'map' }, label: 'map.nav.map', match: ['map'], roles: STAFF },
  { route: { name: 'offline' }, label: 'shell.nav.offline', match: ['offline'], roles: STAFF },
  { route: { name: 'events' }, label: 'shell.nav.events', match: ['events', 'event'], roles: STAFF },
  {
    route: { name: 'cases' },
    label: 'cases.nav.cases',
    match: ['cases', 'case-new', 'case'],
    roles: INVESTIGATORS,
  },
  // An owner's #/ is their home, so the link to it is current there too.
  { route: { name: 'my' }, label: 'owner.nav.home', match: ['my', 'my-device', 'fleet'], roles: OWNER },
  { route: { name: 'consents' }, label: 'owner.nav.consents', match: ['consents'], roles: OWNER },
  { route: { name: 'admin-people' }, label: 'admin.nav.people', match: ['admin-people'], roles: ADMIN },
  { route: { name: 'admin-units' }, label: 'admin.nav.units', match: ['admin-units'], roles: ADMIN },
  { route: { name: 'admin-audit' }, label: 'admin.nav.audit', match: ['admin-audit'], roles: ADMIN },
  // Configuration, firmware and notifications: one link, their pages tabs under it (views/ops-tabs.ts).
  {
    route: { name: 'config', device: null },
    label: 'shell.nav.ops',
    match: ['config', 'firmware', 'campaigns', 'campaign-new', 'campaign', 'notify'],
    roles: FLEET,
    testid: 'nav-ops',
  },
  // Investigators may have their browser notified; the other tabs are not theirs.
  { route: { name: 'notify' }, label: 'notify.nav.notify', match: ['notify'], roles: ['investigator'] },
]

function useNavLinks(route: Route, narrow: boolean, onPick?: () => void): JSX.Element[] {
  const { t } = useI18n()
  const role = useStore(useServices().session).me?.role
  return NAV.filter((n) => (narrow || !n.narrowOnly) && role !== undefined && n.roles.includes(role)).map(
    (n) =>
      h(
        'a',
        {
          href: hrefOf(n.route),
          'aria-current': n.match.includes(route.name) ? 'page' : undefined,
          'data-testid': n.testid ?? `nav-${n.route.name}`,
          // The current page's link changes no hash, so no route change would close the menu.
          onClick: onPick,
        },
        t(n.label),
      ),
  )
}

/**
 * On a phone the links and "Sign out" move into a menu behind one button: a
 * disclosure (button with aria-expanded + the list it shows), the pattern
 * WAI-ARIA recommends for site navigation, rather than role=menu, which
 * promises arrow-key handling that a list of links does not need. Tab moves
 * through the links; Escape closes and gives focus back to the button; so do
 * a tap outside and any navigation.
 */
function CompactHeader(props: { route: Route; narrow: boolean }): JSX.Element {
  const services = useServices()
  const { t } = useI18n()
  const conn = useStore(services.feed.conn)
  const [open, setOpen] = useState(false)
  const links = useNavLinks(props.route, props.narrow, () => setOpen(false))
  const staff = useStore(services.session).me?.role !== 'owner'
  const button = useRef<HTMLButtonElement>(null)
  const bar = useRef<HTMLElement>(null)

  useEffect(() => setOpen(false), [props.route])

  // A layout effect, so the listeners are in place before the open menu is painted: with a plain
  // effect (run after the paint) a tap outside in the first frame found nobody listening.
  useLayoutEffect(() => {
    if (!open) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return
      setOpen(false)
      button.current?.focus()
    }
    const onPointer = (e: PointerEvent) => {
      if (!bar.current?.contains(e.target as Node)) setOpen(false)
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('pointerdown', onPointer)
    return () => {
      document.removeEventListener('keydown', onKey)
      document.removeEventListener('pointerdown', onPointer)
    }
  }, [open])

  return h(
    'header',
    // Not live, the status grows ("Reconnecting in 12 s" and "Retry now"): the brand and the menu
    // button keep only their marks (their names stay for screen readers).
    { class: conn.kind === 'connected' || !staff ? 'topbar compact' : 'topbar compact busy', ref: bar },
    h(
      'a',
      { class: 'brand', href: '#/' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      h('span', { class: 'brand-name' }, t('shell.brand')),
    ),
    h('div', { class: 'spacer' }),
    staff ? h(ConnectionStatus, {}) : null,
    h(
      'button',
      {
        type: 'button',
        ref: button,
        class: 'btn ghost menu-button',
        'aria-expanded': open ? 'true' : 'false',
        'aria-controls': 'main-menu',
        'data-testid': 'menu-button',
        onClick: () => setOpen((o) => !o),
      },
      h('span', { class: 'menu-icon', 'aria-hidden': 'true' }),
      h('span', { class: 'menu-label' }, t('shell.menu')),
    ),
    h(
      'nav',
      {
        id: 'main-menu',
        class: 'menu-panel',
        'aria-label': t('shell.mainNav'),
        hidden: !open,
        'data-testid': 'main-menu',
      },
      links,
      h(LanguageSwitch, {}),
      h(
        'button',
        {
          type: 'button',
          class: 'menu-signout',
          onClick: () => services.signOut(),
          'data-testid': 'sign-out',
        },
        t('shell.signOut'),
      ),
    ),
  )
}

/**
 * The bar with every link in a row. When they do not fit (an admin's eight links in Chinese or English
 * on a 1024 px screen), it reports the window width it would need and the header falls back to the menu.
 */
function WideHeader(props: { route: Route; onOverflow: (neededWidth: number) => void }): JSX.Element {
  const services = useServices()
  const { t } = useI18n()
  const links = useNavLinks(props.route, false)
  const staff = useStore(services.session).me?.role !== 'owner'
  const bar = useRef<HTMLElement>(null)
  useLayoutEffect(() => {
    const el = bar.current
    if (!el) return
    const check = () => {
      const over = el.scrollWidth - el.clientWidth
      if (over > 0) props.onOverflow(window.innerWidth + over)
    }
    check()
    const watch = new ResizeObserver(check)
    watch.observe(el)
    return () => watch.disconnect()
  })
  return h(
    'header',
    { class: 'topbar wide', ref: bar },
    h(
      'a',
      { class: 'brand', href: '#/' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      t('shell.brand'),
    ),
    h('nav', { 'aria-label': t('shell.mainNav') }, links),
    h('div', { class: 'spacer' }),
    // Owners have no alert feed, so no connection to report.
    staff ? h(ConnectionStatus, {}) : null,
    h(LanguageSwitch, {}),
    h(
      'button',
      { type: 'button', class: 'btn ghost', onClick: () => services.signOut(), 'data-testid': 'sign-out' },
      t('shell.signOut'),
    ),
  )
}

function useWindowWidth(): number {
  const [width, setWidth] = useState(() => window.innerWidth)
  useEffect(() => {
    const on = () => setWidth(window.innerWidth)
    window.addEventListener('resize', on)
    return () => window.removeEventListener('resize', on)
  }, [])
  return width
}

export function Header(props: { route: Route }): JSX.Element {
  const narrow = useNarrow()
  const width = useWindowWidth()
  const { locale } = useI18n()
  const role = useStore(useServices().session).me?.role
  // The window width the full bar needs, learnt when it overflowed; forgotten when its words change.
  const [needs, setNeeds] = useState<number | null>(null)
  useEffect(() => setNeeds(null), [locale, role])
  if (narrow || (needs !== null && width < needs)) return h(CompactHeader, { route: props.route, narrow })
  return h(WideHeader, { route: props.route, onOverflow: setNeeds })
}
