import { h, type JSX } from 'preact'
import { hrefOf, type Route } from '../router.js'
import { useServices } from '../services.js'
import { ConnectionStatus } from './connection-status.js'

const NAV: Array<{ route: Route; label: string; match: Route['name'][] }> = [
  { route: { name: 'fleet' }, label: 'Fleet', match: ['fleet', 'district', 'devices', 'device'] },
  { route: { name: 'offline' }, label: 'Offline units', match: ['offline'] },
  { route: { name: 'events' }, label: 'Events', match: ['events', 'event'] },
]

export function Header(props: { route: Route }): JSX.Element {
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
    h(
      'nav',
      { 'aria-label': 'Main' },
      NAV.map((n) =>
        h(
          'a',
          {
            href: hrefOf(n.route),
            'aria-current': n.match.includes(props.route.name) ? 'page' : undefined,
            'data-testid': `nav-${n.route.name}`,
          },
          n.label,
        ),
      ),
    ),
    h('div', { class: 'spacer' }),
    h(ConnectionStatus, {}),
    h(
      'button',
      { type: 'button', class: 'btn ghost', onClick: () => services.signOut(), 'data-testid': 'sign-out' },
      'Sign out',
    ),
  )
}
