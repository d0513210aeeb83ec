import { h, type JSX } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import { useStore } from '../lib/store.js'
import { type Route, useRoute } from '../router.js'
import { useServices } from '../services.js'
import { AlertFeed } from './alert-feed.js'
import { DevicePage } from './device-page.js'
import { DeviceTable } from './device-table.js'
import { EventPage } from './event-page.js'
import { EventsView } from './events-view.js'
import { FleetGrid } from './fleet-grid.js'
import { Header } from './header.js'
import { useNarrow } from './narrow.js'
import { NoticesBar } from './notices-bar.js'
import { OfflineView } from './offline-view.js'
import { SignIn } from './sign-in.js'

function titleOf(r: Route): string {
  switch (r.name) {
    case 'fleet':
      return 'Fleet health'
    case 'district':
      return `District ${r.district}`
    case 'devices':
      return 'All units'
    case 'device':
      return r.id
    case 'offline':
      return 'Offline units'
    case 'alerts':
      return 'Live alerts'
    case 'events':
      return 'Events'
    case 'event':
      return `Event ${r.id.slice(0, 8)}`
    case 'not-found':
      return 'Not found'
  }
}

function Page(props: { route: Route; narrow: boolean }): JSX.Element {
  const r = props.route
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
    case 'events':
      return h(EventsView, {})
    case 'event':
      return h(EventPage, { key: r.id, id: r.id })
    case 'not-found':
      return h(
        'section',
        { class: 'panel' },
        h('h1', { tabIndex: -1 }, 'Not found'),
        h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Back to the fleet')),
      )
  }
}

function SignedIn(): JSX.Element {
  const route = useRoute()
  const narrow = useNarrow()
  const main = useRef<HTMLElement>(null)
  const first = useRef(true)

  // On navigation, move focus to the new page's heading so keyboard and screen-reader users land on it.
  useEffect(() => {
    document.title = `${titleOf(route)} · Doorstep`
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
      'Skip to content',
    ),
    h(Header, { route }),
    h(
      'div',
      { class: narrow ? 'layout narrow' : 'layout' },
      h(
        'main',
        { id: 'main', ref: main, tabIndex: -1, class: 'content' },
        h(NoticesBar, {}),
        h(Page, { route, narrow }),
      ),
      // On a phone the feed is a page of its own (#/alerts): beside or under the page it leaves no room.
      narrow
        ? null
        : h('aside', { class: 'side', 'aria-label': 'Live alerts' }, h(AlertFeed, { page: false })),
    ),
  )
}

/** Signed in: the dashboard; otherwise the sign-in form. */
export function App(): JSX.Element {
  const { session } = useServices()
  const s = useStore(session)
  return s.token ? h(SignedIn, {}) : h(SignIn, {})
}
