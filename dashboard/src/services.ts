import type { Me, Role } from '@doorstep/proto'
import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import { Api } from './api/endpoints.js'
import { HttpClient } from './api/http.js'
import {
  browserHost,
  clearToken,
  loadToken,
  type SessionHost,
  saveToken,
  takeTokenFromFragment,
} from './auth/session.js'
import { browserLocaleHost, I18n, type LocaleHost } from './i18n/translator.js'
import { Store } from './lib/store.js'
import { FleetHealth } from './live/fleet-health.js'
import { FleetRevision } from './live/fleet-revision.js'
import { LiveFeed } from './live/live-feed.js'
import { Notices } from './live/notices.js'
import { ReadyClips } from './live/ready-clips.js'

export interface SessionState {
  token: string | null
  /** Why the last session ended, shown on the sign-in form. */
  reason: string | null
  /** Who the token says we are; null until the gateway has answered. */
  me: Me | null
}

/** Roles that watch the fleet: the alert socket and fleet health are theirs (the gateway allows them only). */
export function isStaff(role: Role): boolean {
  return role === 'admin' || role === 'ops' || role === 'investigator'
}

/**
 * Everything long-lived, wired in one place: the token, the API client, the
 * live feed and fleet health. Construction does nothing; signIn() starts the
 * feeds, signOut() stops them and forgets the token.
 */
export class Services {
  readonly session: Store<SessionState>
  readonly api: Api
  readonly http: HttpClient
  readonly notices = new Notices()
  readonly health: FleetHealth
  readonly fleet = new FleetRevision()
  readonly feed: LiveFeed
  /** Which events of the feed have a clip (and so a thumbnail worth asking for). */
  readonly clips: ReadyClips
  readonly i18n: I18n
  readonly #host: SessionHost
  #feedsOn = false

  constructor(host: SessionHost = browserHost(), localeHost: LocaleHost = browserLocaleHost()) {
    this.#host = host
    this.i18n = new I18n(localeHost)
    this.session = new Store<SessionState>({ token: null, reason: null, me: null })
    const token = () => this.session.get().token
    this.http = new HttpClient({
      token,
      onUnauthenticated: (err) => this.signOut(err.message),
    })
    this.api = new Api(this.http, token)
    this.health = new FleetHealth(this.api)
    this.fleet.store.subscribe(() => {
      if (this.session.get().token !== null) this.health.refresh()
    })
    this.feed = new LiveFeed({
      http: this.http,
      token,
      notices: this.notices,
      onFleetChanged: (why) => {
        if (why === 'presence') {
          this.fleet.soon()
          return
        }
        this.fleet.now()
        // Clip hints sent while the socket was closed are lost: the events index says which are ready.
        void this.clips.check()
      },
      onClip: (eventId) => this.clips.markReady(eventId),
      // A refused token shows up as a socket that never opens; one HTTP call tells, and signs out on 401.
      probeAuth: () =>
        this.api.health().then(
          () => undefined,
          () => undefined,
        ),
    })
    this.clips = new ReadyClips(this.api, this.feed.alerts)
  }

  /** Resumes a session from the URL fragment or sessionStorage, if there is one. */
  restore(): void {
    const fromFragment = takeTokenFromFragment(this.#host)
    if (fromFragment) saveToken(this.#host, fromFragment)
    const token = fromFragment ?? loadToken(this.#host)
    if (token) this.signIn(token)
  }

  /**
   * A `#token=` link opened in a tab that already runs the dashboard changes
   * only the fragment: no reload, so restore() would not see it. Returns the
   * unsubscribe function.
   */
  watchFragment(target: Pick<Window, 'addEventListener' | 'removeEventListener'> = window): () => void {
    const on = () => {
      const token = takeTokenFromFragment(this.#host)
      if (!token) return
      if (this.session.get().token !== null) this.signOut()
      this.signIn(token)
    }
    target.addEventListener('hashchange', on)
    return () => target.removeEventListener('hashchange', on)
  }

  /**
   * Keeps the token and learns who it belongs to (`me`, from the sign-in form's check, or asked for
   * here when a session resumes). The fleet feeds start only for staff: an owner's token may not open
   * the alert socket, and the owner's pages have their own data.
   */
  signIn(token: string, me: Me | null = null): void {
    saveToken(this.#host, token)
    this.session.set({ token, reason: null, me })
    if (me) {
      this.#startFeeds(me)
      return
    }
    this.api.me().then(
      (who) => {
        if (this.session.get().token !== token) return
        this.session.set({ ...this.session.get(), me: who })
        this.#startFeeds(who)
      },
      // A refused token has already signed out (onUnauthenticated); anything else is retried on reload.
      () => undefined,
    )
  }

  #startFeeds(me: Me): void {
    if (!isStaff(me.role) || this.#feedsOn) return
    this.#feedsOn = true
    this.feed.start()
    this.clips.start()
    this.health.start()
  }

  signOut(reason: string | null = null): void {
    if (this.session.get().token === null) return
    clearToken(this.#host)
    if (this.#feedsOn) {
      this.#feedsOn = false
      this.feed.stop()
      this.clips.stop()
      this.health.stop()
      this.fleet.stop()
    }
    this.notices.clear()
    this.session.set({ token: null, reason, me: null })
  }
}

export const ServicesContext = createContext<Services | null>(null)

export function useServices(): Services {
  const s = useContext(ServicesContext)
  if (!s) throw new Error('ServicesContext is not provided')
  return s
}
