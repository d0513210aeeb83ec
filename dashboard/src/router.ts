import { DeviceId, DISTRICT_COUNT, type Role } from '@doorstep/proto'
import { useEffect, useState } from 'preact/hooks'

/*
 * Hash routes: the gateway serves only the files of dist/ (no fallback to
 * index.html), so a path like /device/x would 404 on reload; #/device/x never
 * leaves the page.
 */
export type Route =
  | { name: 'fleet' }
  | { name: 'district'; district: number }
  | { name: 'devices' }
  | { name: 'device'; id: string }
  | { name: 'offline' }
  /** Units where they are installed, coloured by live state. */
  | { name: 'map' }
  /** The live alert feed as a page of its own: on a phone there is no room beside the page for it. */
  | { name: 'alerts' }
  | { name: 'events' }
  | { name: 'event'; id: string }
  /** The homeowner's pages: their units, one unit, and the requests for their footage. */
  | { name: 'my' }
  | { name: 'my-device'; id: string }
  | { name: 'consents' }
  /** The investigators' room: cases, opening one, and one case with its pulls and export. */
  | { name: 'cases' }
  | { name: 'case-new' }
  | { name: 'case'; id: string }
  /** The admins' room: people's tokens, provisioning units, the audit log. */
  | { name: 'admin-people' }
  | { name: 'admin-units' }
  | { name: 'admin-audit' }
  /** Firmware: the signed images, update campaigns, making one, and one campaign's units live. */
  | { name: 'firmware' }
  | { name: 'campaigns' }
  | { name: 'campaign-new' }
  | { name: 'campaign'; id: string }
  /** Remote configuration: desired against reported, and setting it; `device` preselects one unit. */
  | { name: 'config'; device: string | null }
  /** Notification channels, rules and their record, and this browser's push subscription. */
  | { name: 'notify' }
  | { name: 'not-found'; path: string }

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+/, '')
  const [head = '', arg, ...rest] = path.split('/').map((p) => decodeURIComponent(p))
  if (head === 'my' && arg === 'device' && rest.length === 1 && DeviceId.safeParse(rest[0]).success)
    return { name: 'my-device', id: rest[0] as string }
  if (rest.length > 0) return { name: 'not-found', path }
  switch (head) {
    case '':
    case 'fleet':
      if (arg === undefined) return { name: 'fleet' }
      break
    case 'district': {
      const n = Number(arg)
      if (Number.isInteger(n) && n >= 1 && n <= DISTRICT_COUNT) return { name: 'district', district: n }
      break
    }
    case 'devices':
      if (arg === undefined) return { name: 'devices' }
      break
    case 'device':
      if (DeviceId.safeParse(arg).success) return { name: 'device', id: arg as string }
      break
    case 'offline':
      if (arg === undefined) return { name: 'offline' }
      break
    case 'map':
      if (arg === undefined) return { name: 'map' }
      break
    case 'alerts':
      if (arg === undefined) return { name: 'alerts' }
      break
    case 'events':
      if (arg === undefined) return { name: 'events' }
      break
    case 'event':
      if (arg && /^[0-9A-Za-z-]{1,64}$/.test(arg)) return { name: 'event', id: arg }
      break
    case 'my':
      if (arg === undefined) return { name: 'my' }
      break
    case 'consents':
      if (arg === undefined) return { name: 'consents' }
      break
    case 'cases':
      if (arg === undefined) return { name: 'cases' }
      if (arg === 'new') return { name: 'case-new' }
      break
    case 'case':
      if (arg && /^[0-9a-f-]{36}$/i.test(arg)) return { name: 'case', id: arg }
      break
    case 'admin':
      if (arg === 'people' || arg === 'units' || arg === 'audit') return { name: `admin-${arg}` }
      break
    case 'firmware':
      if (arg === undefined) return { name: 'firmware' }
      break
    case 'campaigns':
      if (arg === undefined) return { name: 'campaigns' }
      if (arg === 'new') return { name: 'campaign-new' }
      break
    case 'campaign':
      if (arg && /^[0-9a-f-]{36}$/i.test(arg)) return { name: 'campaign', id: arg }
      break
    case 'config':
      if (arg === undefined) return { name: 'config', device: null }
      if (DeviceId.safeParse(arg).success) return { name: 'config', device: arg as string }
      break
    case 'notify':
      if (arg === undefined) return { name: 'notify' }
      break
  }
  return { name: 'not-found', path }
}

const STAFF: readonly Role[] = ['admin', 'ops', 'investigator']
const EVERYONE: readonly Role[] = ['admin', 'ops', 'investigator', 'owner']
const OWNER: readonly Role[] = ['owner']
const INVESTIGATORS: readonly Role[] = ['admin', 'investigator']
const ADMIN: readonly Role[] = ['admin']
/** The firmware routes' readers: admins run campaigns, ops watch them. */
const FLEET: readonly Role[] = ['admin', 'ops']

/** Who may open a page. The gateway checks every route's role itself; this spares a page of 403s. */
export function rolesOf(route: Route): readonly Role[] {
  switch (route.name) {
    case 'not-found':
      return EVERYONE
    case 'my':
    case 'my-device':
    case 'consents':
      return OWNER
    case 'cases':
    case 'case-new':
    case 'case':
      return INVESTIGATORS
    case 'admin-people':
    case 'admin-units':
    case 'admin-audit':
      return ADMIN
    case 'firmware':
    case 'campaigns':
    case 'campaign':
      return FLEET
    case 'campaign-new':
      return ADMIN
    case 'config':
      return FLEET
    case 'notify':
      return STAFF
    default:
      return STAFF
  }
}

export function hrefOf(route: Route): string {
  switch (route.name) {
    case 'fleet':
      return '#/'
    case 'district':
      return `#/district/${route.district}`
    case 'devices':
      return '#/devices'
    case 'device':
      return `#/device/${encodeURIComponent(route.id)}`
    case 'offline':
      return '#/offline'
    case 'map':
      return '#/map'
    case 'alerts':
      return '#/alerts'
    case 'events':
      return '#/events'
    case 'event':
      return `#/event/${encodeURIComponent(route.id)}`
    case 'my':
      return '#/my'
    case 'my-device':
      return `#/my/device/${encodeURIComponent(route.id)}`
    case 'consents':
      return '#/consents'
    case 'cases':
      return '#/cases'
    case 'case-new':
      return '#/cases/new'
    case 'case':
      return `#/case/${encodeURIComponent(route.id)}`
    case 'admin-people':
      return '#/admin/people'
    case 'admin-units':
      return '#/admin/units'
    case 'admin-audit':
      return '#/admin/audit'
    case 'firmware':
      return '#/firmware'
    case 'campaigns':
      return '#/campaigns'
    case 'campaign-new':
      return '#/campaigns/new'
    case 'campaign':
      return `#/campaign/${encodeURIComponent(route.id)}`
    case 'config':
      return route.device === null ? '#/config' : `#/config/${encodeURIComponent(route.device)}`
    case 'notify':
      return '#/notify'
    case 'not-found':
      return `#/${route.path}`
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash))
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash))
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return route
}
