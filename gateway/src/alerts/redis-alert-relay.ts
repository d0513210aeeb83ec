import { randomUUID } from 'node:crypto'
import { Alert } from '@doorstep/proto'
import type { Redis } from 'ioredis'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { openRedisPair } from '../mqtt/index.js'
import type { AlertHub } from './alert-hub.js'

/** The cluster's alerts, oldest first; every node reads it and numbers nothing itself. */
const STREAM = 'doorstep:alerts'
/** The last alert id handed out in the cluster. */
const LAST_ID = 'doorstep:alerts:id'
/** Changes only when Redis lost the cluster's alerts: ids from before mean nothing after it. */
const BOOT = 'doorstep:alerts:boot'
/** Alerts raised while Redis is away, kept to be sent when it is back; past it the oldest go. */
const PENDING_MAX = 10_000
/** How long one read waits for new alerts before it asks again (and sees a stop). */
const BLOCK_MS = 2_000

/**
 * Numbers an alert and appends it in one step, so ids follow the stream's order with no hole. A Redis
 * that lost its data starts the count again from the time (ms × 1000), above every id handed out
 * before, so no id is ever given twice. Ids go in and out as text written with `%d`: Lua's own number
 * formatting keeps 14 digits, and ids of 16 would lose their last ones (two alerts, one id).
 */
const APPEND = `
local id = redis.call('INCR', KEYS[2])
if id == 1 then
  redis.call('SET', KEYS[2], ARGV[2])
  id = tonumber(ARGV[2])
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'id', string.format('%d', id), 'a', ARGV[1])
return id
`

/**
 * Alerts across the gateways sharing Redis (DOORSTEP_REDIS_URL): a node's alert is appended to one
 * Redis stream with an id from one counter, and every node, its own included, reads the stream and
 * hands each alert to its hub, which rings and delivers it as a local one. So every dashboard sees every
 * alert whichever node its browser and the unit are on, ids are unique and in order across the cluster,
 * and a browser that reconnects to another node resumes from the last id it saw. While Redis is away
 * alerts wait here (at most PENDING_MAX, the oldest dropped and counted in the log) and go out in order
 * once it is back: late, not lost.
 */
export class RedisAlertRelay implements Feature {
  readonly name = 'alert-relay'
  readonly #url: string
  readonly #nodeId: string
  readonly #hub: AlertHub
  readonly #log: Logger
  readonly #capacity: number
  #writer: Redis | null = null
  #reader: Redis | null = null
  /** Alerts raised here, not yet in the stream (their id is 0 until the cluster numbers them). */
  #pending: Alert[] = []
  #dropped = 0
  #sending = false
  #stopped = false
  #reading: Promise<void> | null = null
  #lastEntry = '0-0'
  #retry: NodeJS.Timeout | null = null
  /** The outage is logged once, at its first failed append, not at every retry. */
  #outage = false

  constructor(o: { url: string; nodeId: string; hub: AlertHub; log: Logger; capacity: number }) {
    this.#url = o.url
    this.#nodeId = o.nodeId
    this.#hub = o.hub
    this.#log = o.log.child({ feature: 'alert-relay' })
    this.#capacity = o.capacity
  }

  /** Alerts raised here that wait for Redis. */
  get waiting(): number {
    return this.#pending.length
  }

  async start(): Promise<void> {
    const { writer, reader } = await openRedisPair({
      url: this.#url,
      nodeId: this.#nodeId,
      feature: 'alerts',
      what: 'alerts',
    })
    writer.defineCommand('doorstepAlertAppend', { numberOfKeys: 2, lua: APPEND })
    this.#writer = writer
    this.#reader = reader
    await writer.set(BOOT, randomUUID(), 'NX')
    this.#hub.relayTo((a) => this.#send(a), (await writer.get(BOOT)) ?? randomUUID())
    // The newest alerts the cluster holds, so a browser moving to this node can resume from them.
    const recent = await writer.xrevrange(STREAM, '+', '-', 'COUNT', this.#capacity)
    for (const [entryId, fields] of recent.reverse()) this.#accept(entryId, fields)
    this.#reading = this.#readLoop()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#retry) clearTimeout(this.#retry)
    this.#hub.relayTo(null)
    if (this.#pending.length > 0)
      this.#log.warn({ alerts: this.#pending.length }, 'alerts not sent to Redis before the stop')
    // Disconnecting ends a blocked read at once, but not a read queued while ioredis waits to reconnect
    // (Redis down): that one is never answered. The loop ends when its read settles, if ever; the stop
    // waits for it only briefly, so a gateway stops without Redis.
    this.#reader?.disconnect()
    await Promise.race([
      this.#reading?.catch(() => undefined),
      new Promise((done) => setTimeout(done, 200).unref()),
    ])
    this.#writer?.disconnect()
    this.#writer = null
    this.#reader = null
  }

  #send(a: Alert): void {
    this.#pending.push(a)
    this.#bound()
    void this.#flush()
  }

  #bound(): void {
    while (this.#pending.length > PENDING_MAX) {
      this.#pending.shift()
      this.#dropped++
    }
  }

  /**
   * Appends the waiting alerts in order, one at a time; on failure tries again in a second. The alert
   * in flight is out of the line, so the bound never drops it unsent; a failed one goes back in front.
   */
  async #flush(): Promise<void> {
    const writer = this.#writer
    if (this.#sending || !writer) return
    this.#sending = true
    const cmd = writer as unknown as {
      doorstepAlertAppend(k1: string, k2: string, json: string, seed: string, cap: number): Promise<number>
    }
    let a: Alert | undefined
    try {
      while (!this.#stopped && this.#pending.length > 0) {
        a = this.#pending.shift() as Alert
        await cmd.doorstepAlertAppend(
          STREAM,
          LAST_ID,
          JSON.stringify(a),
          String(Date.now() * 1000),
          this.#capacity,
        )
        a = undefined
      }
      if (this.#dropped > 0) {
        this.#log.warn({ dropped: this.#dropped }, 'alerts dropped while Redis was away (oldest first)')
        this.#dropped = 0
      }
      if (this.#outage) this.#log.info('alerts reach Redis again')
      this.#outage = false
    } catch (err) {
      if (a) {
        this.#pending.unshift(a)
        this.#bound()
      }
      if (!this.#stopped) {
        if (!this.#outage)
          this.#log.warn(
            { err: (err as Error).message, waiting: this.#pending.length },
            'alerts wait for Redis; sent when it is back',
          )
        this.#outage = true
        this.#retry = setTimeout(() => void this.#flush(), 1000)
      }
    } finally {
      this.#sending = false
    }
  }

  async #readLoop(): Promise<void> {
    while (!this.#stopped) {
      const reader = this.#reader
      if (!reader) return
      try {
        const r = await reader.xread('COUNT', 500, 'BLOCK', BLOCK_MS, 'STREAMS', STREAM, this.#lastEntry)
        for (const [, entries] of r ?? [])
          for (const [entryId, fields] of entries) this.#accept(entryId, fields)
      } catch (err) {
        if (this.#stopped) return
        this.#log.debug({ err: (err as Error).message }, 'alert stream read failed; retrying')
        await new Promise((done) => setTimeout(done, 1000))
      }
    }
  }

  /** One stream entry: its fields alternate names and values (`id`, `a`). */
  #accept(entryId: string, fields: string[]): void {
    this.#lastEntry = entryId
    const id = Number(fields[fields.indexOf('id') + 1])
    let json: unknown
    try {
      json = JSON.parse(fields[fields.indexOf('a') + 1] ?? '')
    } catch {
      json = null
    }
    const parsed = Alert.safeParse(typeof json === 'object' && json !== null ? { ...json, id } : null)
    if (!parsed.success) {
      this.#log.warn({ entryId }, 'alert stream entry is not an alert; skipped')
      return
    }
    this.#hub.accept(parsed.data)
  }
}
