import type { Alert, AlertKind } from '@doorstep/proto'
import type { HttpClient } from '../api/http.js'
import { Store } from '../lib/store.js'
import { AlertSocket, type ConnState } from './alert-socket.js'
import { AlertBuffer, type HeldAlert } from './alert-store.js'
import { CampaignProgress } from './campaign-progress.js'
import { CaseProgress } from './case-progress.js'
import type { Notices } from './notices.js'

/** Alert kinds that mean a unit's presence changed: fleet health is stale after one. */
export const PRESENCE_KINDS: ReadonlySet<AlertKind> = new Set(['online', 'offline', 'stale'])

export interface LiveFeedDeps {
  http: HttpClient
  token: () => string | null
  notices: Notices
  /** Told when what the page shows of the fleet may be out of date (presence alert, gap, reconnect). */
  onFleetChanged: (why: 'presence' | 'gap' | 'reconnect') => void
  /** Told when an event's clip and thumbnail became ready. */
  onClip: (eventId: string) => void
  /** Asked when the socket could not open: resolves once the token was checked over HTTP. */
  probeAuth: () => Promise<void>
  capacity?: number
}

/**
 * The live alert feed of one signed-in session: the socket, the bounded
 * buffer and the stores views read. start() opens the socket; stop() closes
 * it and forgets the alerts (nothing of a session outlives its sign-out).
 */
export class LiveFeed {
  readonly conn = new Store<ConnState>({ kind: 'stopped' })
  readonly alerts = new Store<readonly HeldAlert[]>([])
  /** Case and pull progress, for investigators' and admins' case pages (the gateway sends it to them only). */
  readonly cases = new CaseProgress()
  /** Firmware campaigns and their units, for admins' and ops' campaign pages (sent to them only). */
  readonly campaigns = new CampaignProgress()
  readonly #buffer: AlertBuffer
  readonly #deps: LiveFeedDeps
  #socket: AlertSocket | null = null

  constructor(deps: LiveFeedDeps) {
    this.#deps = deps
    this.#buffer = new AlertBuffer(deps.capacity ?? 1000)
  }

  start(): void {
    if (this.#socket) return
    const { notices } = this.#deps
    const socket = new AlertSocket({
      url: () => this.#wsUrl(),
      handlers: {
        state: (s) => this.conn.set(s),
        alerts: (batch, epoch) => this.#received(batch, epoch),
        ready: (info) => {
          this.cases.reconnected()
          this.campaigns.reconnected()
          if (info.restarted) notices.push('warning', 'fleet.notice.restarted')
          // Whatever happened while the socket was closed, health must be fetched anew.
          this.#deps.onFleetChanged('reconnect')
        },
        gap: (afterId, untilId) => {
          // Ids as strings: they are names of alerts, not amounts, and take no digit grouping.
          if (untilId > afterId) {
            notices.push('warning', 'fleet.notice.gapRange', {
              from: String(afterId + 1),
              until: String(untilId),
            })
          } else {
            notices.push('warning', 'fleet.notice.gapSome')
          }
          this.#deps.onFleetChanged('gap')
        },
        dropped: (count) => notices.push('warning', 'fleet.notice.dropped', { count }),
        serverError: (_code, message) => notices.push('error', 'fleet.notice.server', { message }),
        clip: (eventId) => this.#deps.onClip(eventId),
        progress: (f) => (f.type === 'campaign' ? this.campaigns.apply(f) : this.cases.apply(f)),
        failedOpen: () => {
          void this.#deps.probeAuth()
        },
      },
    })
    this.#socket = socket
    socket.start()
  }

  stop(): void {
    this.#socket?.stop()
    this.#socket = null
    this.#buffer.clear()
    this.alerts.set([])
    this.cases.clear()
    this.campaigns.clear()
    this.conn.set({ kind: 'stopped' })
  }

  reconnectNow(): void {
    this.#socket?.reconnectNow()
  }

  byEventId(eventId: string): HeldAlert | undefined {
    return this.#buffer.byEventId(eventId)
  }

  #received(batch: Alert[], epoch: number): void {
    if (this.#buffer.add(batch, epoch)) this.alerts.set(this.#buffer.list)
    if (batch.some((a) => PRESENCE_KINDS.has(a.kind))) this.#deps.onFleetChanged('presence')
  }

  #wsUrl(): string {
    const url = new URL(this.#deps.http.url('api/v1/alerts', { token: this.#deps.token() }))
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    return url.toString()
  }
}
