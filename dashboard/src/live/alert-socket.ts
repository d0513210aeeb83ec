import { type Alert, type ClientFrame, ServerFrame } from '@doorstep/proto'
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.js'

/** What the header shows about the live feed. */
export type ConnState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; since: number }
  /** Closed; the next attempt is at `retryAt` (ms, page clock). */
  | { kind: 'waiting'; retryAt: number; attempt: number }
  /** The browser says there is no network; we try again when it says there is. */
  | { kind: 'offline' }
  | { kind: 'stopped' }

export interface ReadyInfo {
  serverLastId: number
  serverTime: number
  /** The gateway restarted (new boot id, or its numbering went backwards): its old ids mean nothing now. */
  restarted: boolean
  /** This socket resumes from an alert id seen on an earlier socket. */
  resumed: boolean
}

export interface AlertSocketHandlers {
  state(s: ConnState): void
  /** New alerts, in arrival order, batched so a burst costs one render. */
  alerts(alerts: Alert[], epoch: number): void
  ready(info: ReadyInfo): void
  /** Alerts after `afterId` up to `untilId` are gone; the caller should refetch state over HTTP. */
  gap(afterId: number, untilId: number): void
  dropped(count: number): void
  serverError(code: string, message: string): void
  /** An event's clip and thumbnail are ready (a live hint; not replayed after a reconnect). */
  clip(eventId: string): void
  /** The socket closed without ever opening: maybe the token is refused (the upgrade answers 401). */
  failedOpen(): void
  /**
   * A case opened or closed, or a pull moved on (investigators and admins only); a firmware campaign
   * or one of its units moved on (admins and ops only). Not replayed.
   */
  progress(frame: ProgressFrame): void
}

export type ProgressFrame = Extract<ServerFrame, { type: 'pull' | 'case' | 'campaign' }>

interface NetworkWatch {
  isOnline(): boolean
  onChange(cb: () => void): () => void
}

export type WebSocketLike = Pick<WebSocket, 'send' | 'close'> & {
  onopen: ((ev: Event) => unknown) | null
  onmessage: ((ev: MessageEvent) => unknown) | null
  onclose: ((ev: CloseEvent) => unknown) | null
  onerror: ((ev: Event) => unknown) | null
}

export interface AlertSocketOptions {
  /** The WebSocket URL, with the current token (browsers cannot set headers on a WebSocket). */
  url: () => string
  handlers: AlertSocketHandlers
  /** How many recent alerts to ask for on a first connection, to fill the feed. */
  backfill?: number
  backoff?: BackoffOptions
  /** How long alerts are gathered before `handlers.alerts` is called, ms. */
  batchMs?: number
  createSocket?: (url: string) => WebSocketLike
  network?: NetworkWatch
  now?: () => number
  random?: () => number
}

function browserNetwork(): NetworkWatch {
  return {
    isOnline: () => navigator.onLine !== false,
    onChange(cb) {
      window.addEventListener('online', cb)
      window.addEventListener('offline', cb)
      return () => {
        window.removeEventListener('online', cb)
        window.removeEventListener('offline', cb)
      }
    },
  }
}

/**
 * The `/api/v1/alerts` WebSocket, kept open. It reconnects with jittered
 * exponential backoff, resumes from the last alert id it saw (the gateway
 * replays what it still holds, or says `gap`), and notices a gateway restart
 * by the id numbering going backwards. Framework-free: views see it only
 * through the handlers.
 */
export class AlertSocket {
  readonly #o: Required<Omit<AlertSocketOptions, 'network'>> & { network: NetworkWatch | null }
  #ws: WebSocketLike | null = null
  #state: ConnState = { kind: 'stopped' }
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  #batchTimer: ReturnType<typeof setTimeout> | null = null
  #pending: Alert[] = []
  /** Highest alert id received in the current epoch; null before the first. */
  #lastId: number | null = null
  #bootId: string | null = null
  #epoch = 0
  #offNetwork: (() => void) | null = null

  constructor(opts: AlertSocketOptions) {
    this.#o = {
      backfill: 200,
      backoff: DEFAULT_BACKOFF,
      batchMs: 50,
      createSocket: (url) => new WebSocket(url),
      now: () => Date.now(),
      random: Math.random,
      ...opts,
      network: opts.network ?? (typeof window === 'undefined' ? null : browserNetwork()),
    }
  }

  get state(): ConnState {
    return this.#state
  }

  get lastId(): number | null {
    return this.#lastId
  }

  get epoch(): number {
    return this.#epoch
  }

  start(): void {
    if (this.#state.kind !== 'stopped') return
    this.#offNetwork = this.#o.network?.onChange(() => this.#networkChanged()) ?? null
    this.#connect()
  }

  stop(): void {
    this.#offNetwork?.()
    this.#offNetwork = null
    this.#clearRetry()
    this.#flush()
    const ws = this.#ws
    this.#ws = null
    if (ws) {
      ws.onclose = null
      ws.close(1000, 'signed out')
    }
    this.#setState({ kind: 'stopped' })
  }

  /** Skips the wait (the "Retry now" button, or the tab coming back into view). */
  reconnectNow(): void {
    if (this.#state.kind === 'waiting' || this.#state.kind === 'offline') {
      this.#clearRetry()
      this.#connect()
    }
  }

  #setState(s: ConnState): void {
    this.#state = s
    this.#o.handlers.state(s)
  }

  #connect(): void {
    if (this.#o.network && !this.#o.network.isOnline()) {
      this.#setState({ kind: 'offline' })
      return
    }
    this.#setState({ kind: 'connecting', attempt: this.#attempt })
    let opened = false
    let ws: WebSocketLike
    try {
      ws = this.#o.createSocket(this.#o.url())
    } catch {
      this.#scheduleRetry()
      return
    }
    this.#ws = ws
    ws.onopen = () => {
      opened = true
    }
    ws.onmessage = (ev) => this.#frame(ev.data)
    ws.onerror = () => {
      // A close event always follows; the retry is scheduled there.
    }
    ws.onclose = () => {
      if (this.#ws !== ws) return
      this.#ws = null
      this.#flush()
      if (!opened) this.#o.handlers.failedOpen()
      // The failedOpen handler may have stopped us (token refused).
      if (this.#state.kind !== 'stopped') this.#scheduleRetry()
    }
  }

  #scheduleRetry(): void {
    const delay = backoffDelay(this.#attempt, this.#o.backoff, this.#o.random)
    this.#attempt++
    this.#clearRetry()
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#connect()
    }, delay)
    this.#setState({ kind: 'waiting', retryAt: this.#o.now() + delay, attempt: this.#attempt })
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
  }

  #networkChanged(): void {
    const online = this.#o.network?.isOnline() ?? true
    if (online && this.#state.kind === 'offline') {
      this.#attempt = 0
      this.#connect()
    } else if (!online && this.#state.kind === 'waiting') {
      this.#clearRetry()
      this.#setState({ kind: 'offline' })
    }
  }

  #frame(data: unknown): void {
    let raw: unknown
    try {
      raw = JSON.parse(String(data))
    } catch {
      return
    }
    // The socket is a trust boundary like any other: frames are checked against proto.
    const parsed = ServerFrame.safeParse(raw)
    if (!parsed.success) return
    const f = parsed.data
    switch (f.type) {
      case 'ready':
        this.#ready(f.lastId, f.serverTime, f.bootId)
        break
      case 'alert':
        if (this.#lastId === null || f.alert.id > this.#lastId) this.#lastId = f.alert.id
        this.#pending.push(f.alert)
        this.#batchTimer ??= setTimeout(() => this.#flush(), this.#o.batchMs)
        break
      case 'gap':
        this.#o.handlers.gap(f.afterId, f.untilId)
        break
      case 'dropped':
        this.#o.handlers.dropped(f.count)
        break
      case 'error':
        this.#o.handlers.serverError(f.code, f.message)
        break
      case 'clip':
        this.#o.handlers.clip(f.eventId)
        break
      case 'pull':
      case 'case':
      case 'campaign':
        this.#o.handlers.progress(f)
        break
    }
  }

  #ready(serverLastId: number, serverTime: number, bootId: string | undefined): void {
    this.#attempt = 0
    this.#flush()
    // A new boot id says the gateway restarted even when it already raised more alerts than we saw.
    const bootChanged = bootId !== undefined && this.#bootId !== null && bootId !== this.#bootId
    if (bootId !== undefined) this.#bootId = bootId
    const restarted = this.#lastId !== null && (bootChanged || serverLastId < this.#lastId)
    if (restarted) {
      this.#epoch++
      this.#lastId = null
    }
    const resumed = this.#lastId !== null
    // Resume where we were; on a first connection (or after a restart) fill the feed with recent alerts.
    const lastId = this.#lastId ?? Math.max(0, serverLastId - this.#o.backfill)
    const frame: ClientFrame = { type: 'subscribe', lastId }
    this.#ws?.send(JSON.stringify(frame))
    this.#setState({ kind: 'connected', since: this.#o.now() })
    this.#o.handlers.ready({ serverLastId, serverTime, restarted, resumed })
  }

  #flush(): void {
    if (this.#batchTimer !== null) clearTimeout(this.#batchTimer)
    this.#batchTimer = null
    if (this.#pending.length === 0) return
    const batch = this.#pending
    this.#pending = []
    this.#o.handlers.alerts(batch, this.#epoch)
  }
}
