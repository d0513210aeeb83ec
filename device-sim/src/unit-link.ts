import net from 'node:net'
import { topicFor } from '@doorstep/proto'
import mqtt, { type IClientOptions, MqttClient } from 'mqtt'
import { type BackoffPolicy, backoffDelay } from './backoff.js'
import { nextGateway, pointClientAt } from './gateway-list.js'
import type { Scheduler, Task } from './scheduler.js'
import { causeOf, countCause, countError, type FleetStats } from './stats.js'

/**
 * A unit's MQTT link: one mqtt.js client, never reconnecting by itself
 * (`reconnectPeriod: 0`). Reconnects are ours: capped exponential backoff with
 * full jitter, on the fleet's scheduler, so a power-cut storm meeting the
 * gateway's admission limit (CONNACK 3) spreads out instead of hammering.
 */
export type LinkState = 'idle' | 'connecting' | 'online' | 'waiting' | 'down' | 'stopped'

export interface LinkEnv {
  scheduler: Scheduler
  /** The gateways this unit knows, in its order; it tries the next one after a connect that fails. */
  mqttUrls: readonly string[]
  /** Where in `mqttUrls` it starts. */
  firstUrl: number
  stats: FleetStats
  random: () => number
  backoff: BackoffPolicy
  connectTimeoutMs: number
  keepaliveS: number
  /** The address its connections leave from; null: the system's choice. */
  localAddress: string | null
}

export interface LinkHooks {
  /** CONNACK 0. `sessionPresent`: the broker kept our subscription. */
  online(sessionPresent: boolean): void
  /** The session ended (drop, power cut, stop); the unit stops its timers. */
  offline(): void
  message(topic: string, payload: Buffer): void
  /** CONNACK 2, 4 or 5. */
  refused(returnCode: number): void
  /** The retained status payload for the will and for a clean stop. */
  offlineStatus(): string
}

const noop = () => {}

/**
 * A QoS 0 publish this close before its session ended unasked is counted at risk (`heartbeatsAtRisk`):
 * time for the gateway to have decided to close while the bytes were on their way or unread.
 */
export const AT_RISK_MS = 5000

export class UnitLink {
  readonly #id: string
  readonly #secret: string
  readonly #env: LinkEnv
  readonly #hooks: LinkHooks
  #client: MqttClient | null = null
  #state: LinkState = 'idle'
  #attempt = 0
  /** The place in `mqttUrls` of the gateway it connects (or last connected) to. */
  #at: number
  #retry: Task | null = null
  /** Why the current connection is ending, when something said so before its close. */
  #endCause: string | null = null
  /** When the last QoS 0 publish of this session went out (the scheduler's clock). */
  #lastQos0At = Number.NEGATIVE_INFINITY

  constructor(id: string, secret: string, env: LinkEnv, hooks: LinkHooks) {
    this.#id = id
    this.#secret = secret
    this.#env = env
    this.#hooks = hooks
    this.#at = env.firstUrl
  }

  /** The gateway URL it connects (or last connected) to. */
  get url(): string {
    return this.#env.mqttUrls[this.#at] ?? ''
  }

  get state(): LinkState {
    return this.#state
  }

  /** The first connect after `delayMs` (the fleet's ramp). */
  start(delayMs: number): void {
    if (this.#state !== 'idle') return
    this.#wait(delayMs)
  }

  /** Publishes when a client exists; QoS 1 ones made while away are kept and resent on reconnect. */
  publish(
    topic: string,
    body: string | Buffer,
    qos: 0 | 1,
    retain: boolean,
    cb: (err?: Error) => void,
  ): boolean {
    const c = this.#client
    if (!c || (qos === 0 && this.#state !== 'online')) return false
    c.publish(topic, body, { qos, retain }, (err) => cb(err ?? undefined))
    if (qos === 0) this.#lastQos0At = this.#env.scheduler.now()
    return true
  }

  subscribe(topic: string, cb: (ok: boolean) => void): void {
    this.#client?.subscribe(topic, { qos: 1 }, (err, granted) =>
      cb(!err && !granted?.some((g) => g.qos === 128)),
    )
  }

  /** Link loss: the socket dies without DISCONNECT (the broker publishes the will). */
  drop(): boolean {
    if (this.#state !== 'online' || !this.#client) return false
    this.#endCause = 'drop'
    this.#client.stream.destroy()
    return true
  }

  /** Power cut: the client and its unacknowledged publishes are gone; a fresh one boots at `backAt`. */
  powerCut(backAt: number): boolean {
    if (this.#state === 'stopped' || this.#state === 'idle' || this.#state === 'down') return false
    this.#leave('down', 'power cut')
    this.#discard()
    this.#attempt = 0
    this.#retry = this.#env.scheduler.schedule(backAt, () => this.#wait(0))
    return true
  }

  /**
   * Graceful: retained `offline`, then DISCONNECT (so the will is not used),
   * bounded by `timeoutMs`, after which the socket is simply closed.
   */
  async stop(timeoutMs = 2000): Promise<void> {
    const wasOnline = this.#state === 'online'
    this.#leave('stopped')
    const c = this.#client
    this.#client = null
    if (!c) return
    c.removeAllListeners('close')
    c.removeAllListeners('connect')
    c.removeAllListeners('message')
    if (!wasOnline) {
      c.end(true)
      return
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        c.end(true)
        resolve()
      }, timeoutMs)
      c.publish(topicFor('status', this.#id), this.#hooks.offlineStatus(), { qos: 1, retain: true }, () => {
        c.end(false, {}, () => {
          clearTimeout(timer)
          resolve()
        })
      })
    })
  }

  #wait(delayMs: number): void {
    this.#state = 'waiting'
    this.#retry = this.#env.scheduler.after(delayMs, () => this.#connect())
  }

  /** Leaves `online`/`connecting` for `next`, accounting for the session or attempt that ends and why. */
  #leave(next: LinkState, cause = 'closed'): void {
    const was = this.#state
    const stats = this.#env.stats
    this.#state = next
    this.#env.scheduler.cancel(this.#retry)
    this.#retry = null
    this.#endCause = null
    if (was === 'online') {
      stats.connected--
      if (next !== 'stopped') {
        stats.disconnects++
        countCause(stats.sessionEnds, cause)
        if (this.#env.scheduler.now() - this.#lastQos0At <= AT_RISK_MS) stats.heartbeatsAtRisk++
      }
      this.#lastQos0At = Number.NEGATIVE_INFINITY
      this.#hooks.offline()
    } else if (was === 'connecting' && next !== 'stopped') {
      countCause(stats.connectFailures, cause)
    }
  }

  #connect(): void {
    if (this.#state !== 'waiting') return
    this.#retry = null
    this.#state = 'connecting'
    const will = {
      topic: topicFor('status', this.#id),
      payload: Buffer.from(this.#hooks.offlineStatus()),
      qos: 1 as const,
      retain: true,
    }
    this.#endCause = null
    const existing = this.#client
    if (existing) {
      existing.options.will = will
      pointClientAt(existing.options, this.url)
      // Keep the stores: unacknowledged QoS 1 publishes are resent on the new connection, as firmware does.
      existing.reconnect({ incomingStore: existing.incomingStore, outgoingStore: existing.outgoingStore })
      return
    }
    const opts: IClientOptions = {
      clientId: this.#id,
      username: this.#id,
      password: this.#secret,
      // aedes speaks MQTT 3.1.1 only; a v5 CONNECT is refused.
      protocolVersion: 4,
      // A persistent session: commands sent while the unit is away wait for it (QoS 1).
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: this.#env.connectTimeoutMs,
      keepalive: this.#env.keepaliveS,
      resubscribe: false,
      // Heartbeats are worthless late: never queue QoS 0 while offline.
      queueQoSZero: false,
      will,
    }
    const c = this.#open(opts)
    this.#client = c
    c.on('connect', (connack) => this.#onConnect(connack.sessionPresent))
    c.on('close', () => this.#onClose())
    c.on('error', (err) => this.#onError(err))
    c.on('message', (topic, payload) => this.#hooks.message(topic, payload))
  }

  /**
   * A new mqtt.js client for `opts`. From a chosen source address: mqtt.js's plain TCP connector passes
   * only host and port to the socket, so the connection is built here, from the client's own options at
   * each (re)connect, as its connector does; its TLS connector passes every option on, the address too.
   */
  #open(opts: IClientOptions): MqttClient {
    const localAddress = this.#env.localAddress
    if (!localAddress) return mqtt.connect(this.url, opts)
    const withUrl: IClientOptions = { ...opts }
    pointClientAt(withUrl, this.url)
    if (withUrl.protocol !== 'mqtt' && withUrl.protocol !== 'tcp') {
      return mqtt.connect(this.url, { ...opts, localAddress } as IClientOptions)
    }
    return new MqttClient(
      (client) =>
        net.createConnection({
          host: client.options.hostname ?? '127.0.0.1',
          port: client.options.port ?? 1883,
          localAddress,
        }),
      withUrl,
    )
  }

  #onConnect(sessionPresent: boolean): void {
    if (this.#state !== 'connecting') return
    this.#state = 'online'
    this.#attempt = 0
    this.#env.stats.connects++
    this.#env.stats.connected++
    this.#hooks.online(sessionPresent)
  }

  #onError(err: Error): void {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'number') {
      const cause = causeOf(err)
      this.#endCause ??= cause
      countError(this.#env.stats, cause)
      return
    }
    this.#endCause ??= `CONNACK ${code}`
    // A CONNACK refusal [MQTT-3.2.2.3]; mqtt.js closes the socket next and #onClose retries.
    if (code === 3) this.#env.stats.refusedConnects++
    else {
      this.#env.stats.authFailures++
      this.#hooks.refused(code)
    }
  }

  #onClose(): void {
    if (this.#state !== 'online' && this.#state !== 'connecting') return
    // A FIN read from the gateway without an error first: the gateway chose to close.
    const ended = (this.#client?.stream as { readableEnded?: boolean } | undefined)?.readableEnded === true
    // A connect that failed (refused, unreachable, CONNACK 3): that gateway may be gone, try the next.
    // A session that ended after CONNACK comes back to the same one first.
    if (this.#state === 'connecting') this.#at = nextGateway(this.#at, this.#env.mqttUrls.length)
    this.#leave('waiting', this.#endCause ?? (ended ? 'server closed' : 'closed'))
    this.#wait(backoffDelay(this.#attempt++, this.#env.backoff, this.#env.random))
  }

  #discard(): void {
    const c = this.#client
    this.#client = null
    if (!c) return
    c.removeAllListeners()
    // An 'error' without a listener would throw; the client is being thrown away anyway.
    c.on('error', noop)
    c.end(true)
  }
}
