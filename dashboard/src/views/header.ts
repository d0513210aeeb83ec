import { h, type JSX } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { useStore } from '../lib/store.js'
import { hrefOf, type Route } from '../router.js'
import { useServices } from '../services.js'
import { ConnectionStatus } from './connection-status.js'
import { useNarrow } from './narrow.js'

interface NavItem {
  route: Route
  label: string
  match: Route['name'][]
  /** Only where the feed has no place beside the page. */
  narrowOnly?: boolean
}

const NAV: NavItem[] = [
  { route: { name: 'fleet' }, label: 'Fleet', match: ['fleet', 'district', 'devices', 'device'] },
  { route: { name: 'alerts' }, label: 'Live alerts', match: ['alerts'], narrowOnly: true },
  { route: { name: 'offline' }, label: 'Offline units', match: ['offline'] },
  { route: { name: 'events' }, label: 'Events', match: ['events', 'event'] },
]

function navLinks(route: Route, narrow: boolean, onPick?: () => void): JSX.Element[] {
  return NAV.filter((n) => narrow || !n.narrowOnly).map((n) =>
    h(
      'a',
      {
        href: hrefOf(n.route),
        'aria-current': n.match.includes(route.name) ? 'page' : undefined,
        'data-testid': `nav-${n.route.name}`,
        // The current page's link changes no hash, so no route change would close the menu.
        onClick: onPick,
      },
      n.label,
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
function CompactHeader(props: { route: Route }): JSX.Element {
  const services = useServices()
  const conn = useStore(services.feed.conn)
  const [open, setOpen] = useState(false)
  const button = useRef<HTMLButtonElement>(null)
  const bar = useRef<HTMLElement>(null)

  useEffect(() => setOpen(false), [props.route])

  useEffect(() => {
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
    { class: conn.kind === 'connected' ? 'topbar compact' : 'topbar compact busy', ref: bar },
    h(
      'a',
      { class: 'brand', href: '#/' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      h('span', { class: 'brand-name' }, 'Doorstep'),
    ),
    h('div', { class: 'spacer' }),
    h(ConnectionStatus, {}),
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
      h('span', { class: 'menu-label' }, 'Menu'),
    ),
    h(
      'nav',
      {
        id: 'main-menu',
        class: 'menu-panel',
        'aria-label': 'Main',
        hidden: !open,
        'data-testid': 'main-menu',
      },
      navLinks(props.route, true, () => setOpen(false)),
      h(
        'button',
        {
          type: 'button',
          class: 'menu-signout',
          onClick: () => services.signOut(),
          'data-testid': 'sign-out',
        },
        'Sign out',
      ),
    ),
  )
}

function WideHeader(props: { route: Route }): JSX.Element {
  const services = useServices()
  return h(
    'header',
    { class: 'topbar' },
    h(
      'a',
      { class: 'brand', href: '#/' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      'Doorstep',
    ),
    h('nav', { 'aria-label': 'Main' }, navLinks(props.route, false)),
    h('div', { class: 'spacer' }),
    h(ConnectionStatus, {}),
    h(
      'button',
      { type: 'button', class: 'btn ghost', onClick: () => services.signOut(), 'data-testid': 'sign-out' },
      'Sign out',
    ),
  )
}

export function Header(props: { route: Route }): JSX.Element {
  return useNarrow() ? h(CompactHeader, props) : h(WideHeader, props)
}
