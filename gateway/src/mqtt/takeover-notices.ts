import { DeviceId } from '@doorstep/proto'
import type { MQEmitterRedis } from 'mqemitter-redis'
import { z } from 'zod'
import type { Logger } from '../log.js'

/**
 * Between gateways only: units may not publish or subscribe under `$SYS/` (the broker refuses both), and
 * aedes' own cluster topics live under `$SYS/{broker id}/`, which a node id cannot clash with.
 */
export const TAKEOVER_TOPIC = '$SYS/doorstep/takeover'

/** A unit got a session on `brokerId`: any older connection of it on another node must go. */
const TakeoverNotice = z.object({ clientId: DeviceId, brokerId: z.string().min(1).max(128) })
type TakeoverNotice = z.infer<typeof TakeoverNotice>

/** The part of the shared emitter the notices use. */
export type NoticeChannel = Pick<MQEmitterRedis, 'on' | 'emit' | 'removeListener'>
type Listener = Parameters<NoticeChannel['on']>[1]

/** Well inside a unit's connect timeout, so it hears CONNACK 3 rather than nothing. */
const ANNOUNCE_TIMEOUT_MS = 3000

/**
 * aedes closes a client id's connection on other nodes when it sees the id connect elsewhere (its
 * `$SYS/{id}/new/clients`), but closes it as a lost link: the unit's will, its own status `offline`,
 * is published and retained while the unit is online on the other node. So the node that admits a
 * unit tells the others first, on this topic through the same Redis connection; Redis delivers one
 * connection's messages in order, so the node holding the old connection closes it on this notice,
 * with its will suppressed, before aedes' own notice arrives.
 */
export class TakeoverNotices {
  readonly #mq: NoticeChannel
  readonly #brokerId: string
  readonly #onTakenOver: (clientId: string) => void
  readonly #log: Logger
  readonly #up: () => boolean
  #listener: Listener | null = null

  constructor(opts: {
    mq: NoticeChannel
    brokerId: string
    onTakenOver: (clientId: string) => void
    log: Logger
    /** Redis is connected: otherwise a notice would wait for a reconnect. */
    up: () => boolean
  }) {
    this.#mq = opts.mq
    this.#brokerId = opts.brokerId
    this.#onTakenOver = opts.onTakenOver
    this.#log = opts.log
    this.#up = opts.up
  }

  async start(): Promise<void> {
    const listener: Listener = (message, done) => {
      const notice = parse(message.payload)
      if (notice === null) this.#log.warn({ topic: TAKEOVER_TOPIC }, 'malformed takeover notice ignored')
      else if (notice.brokerId !== this.#brokerId) this.#onTakenOver(notice.clientId)
      done()
    }
    this.#listener = listener
    await new Promise<void>((resolve) => this.#mq.on(TAKEOVER_TOPIC, listener, () => resolve()))
  }

  async stop(): Promise<void> {
    const listener = this.#listener
    this.#listener = null
    if (listener)
      await new Promise<void>((resolve) => this.#mq.removeListener(TAKEOVER_TOPIC, listener, () => resolve()))
  }

  /** Resolves once Redis has taken the notice; rejects at once when Redis is down, or in time. */
  announce(clientId: string): Promise<void> {
    if (!this.#up()) return Promise.reject(new Error('Redis is not connected'))
    const notice: TakeoverNotice = { clientId, brokerId: this.#brokerId }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('takeover notice not taken by Redis in time')),
        ANNOUNCE_TIMEOUT_MS,
      )
      this.#mq.emit({ topic: TAKEOVER_TOPIC, payload: JSON.stringify(notice) }, (err) => {
        clearTimeout(timer)
        if (err) reject(err)
        else resolve()
      })
    })
  }
}

function parse(payload: unknown): TakeoverNotice | null {
  try {
    const text = Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload)
    const r = TakeoverNotice.safeParse(JSON.parse(text))
    return r.success ? r.data : null
  } catch {
    return null
  }
}
