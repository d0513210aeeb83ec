/**
 * Where the dashboard keeps the bearer token. sessionStorage, not
 * localStorage: the token dies with the tab, so a shared ops-room machine
 * does not stay signed in. The token is never logged and never rendered.
 */
const KEY = 'doorstep.token'

/** The parts of `window` this module touches, so tests can pass fakes. */
export interface SessionHost {
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null
  location: Pick<Location, 'hash' | 'pathname' | 'search'>
  history: Pick<History, 'replaceState'>
}

export function browserHost(): SessionHost {
  let storage: Storage | null = null
  try {
    storage = window.sessionStorage
  } catch {
    // Storage can be refused (privacy settings); the token then lives for this page only.
  }
  return { storage, location: window.location, history: window.history }
}

/**
 * Reads `#token=...` (a link handed out by an admin) and removes it from the
 * address bar at once, so it does not stay in history, bookmarks or a
 * screenshot. Returns the token, or null when the fragment has none.
 */
export function takeTokenFromFragment(host: SessionHost): string | null {
  const hash = host.location.hash
  if (!hash.startsWith('#token=') && !hash.includes('&token=')) return null
  const params = new URLSearchParams(hash.slice(1))
  const token = params.get('token')?.trim() ?? ''
  host.history.replaceState(null, '', `${host.location.pathname}${host.location.search}#/`)
  return token === '' ? null : token
}

export function loadToken(host: SessionHost): string | null {
  try {
    return host.storage?.getItem(KEY) ?? null
  } catch {
    return null
  }
}

export function saveToken(host: SessionHost, token: string): void {
  try {
    host.storage?.setItem(KEY, token)
  } catch {
    // Quota or privacy refusal: the in-memory session still works until reload.
  }
}

export function clearToken(host: SessionHost): void {
  try {
    host.storage?.removeItem(KEY)
  } catch {
    // Nothing stored, nothing to clear.
  }
}
