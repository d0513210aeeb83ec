import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import redisPersistence from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import mqemitterRedis, { type MQEmitterRedis } from 'mqemitter-redis'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'

/** How long the start waits for Redis before it refuses to run half-shared. */
const CONNECT_TIMEOUT_MS = 5000
/** Reconnects once running: quickly at first, then every second while Redis is down. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 1000)
/**
 * ioredis fails the commands waiting for a reconnect every this many + 1 failed attempts: within about
 * 0.6 s of an outage's start, then every 3 s, so a command to a unit fails with an error while Redis is
 * down instead of hanging (ioredis' default, 20, held them through 21 attempts), and a stop does not
 * wait on a Redis that is gone.
 */
const MAX_RETRIES_PER_REQUEST = 2

/** How every gateway connection to Redis reconnects and fails its commands while Redis is down (above). */
export const REDIS_RECONNECT = { retryStrategy, maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST } as const

/**
 * Gives every command sent on `conn` a handler for its failure; a caller that awaits one still sees it
 * fail. Some commands are sent with nobody waiting: ioredis restores a connection's subscriptions and
 * database by itself once it is ready after a reconnect (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, SELECT),
 * and aedes' Redis persistence updates its list of wills (LREM, RPUSH) without waiting for the answer.
 * When such a command fails (Redis went away before it was answered, or the gateway closed its
 * connections at stop) the rejection was unhandled and the process ended: seen with Redis flapping
 * under a test, a unit with a will losing its link while Redis was away, and a loaded gateway's stop.
 * What such a write leaves undone is harmless: a will key listed twice, or listed after it was
 * deleted, is skipped when the wills are read. Commands sent through auto-pipelining get the pipeline's
 * promise, not this one: the only connection with it, the emitter's publisher, waits on all it sends.
 */
export function handleUnawaited(conn: Redis): Redis {
  const send = conn.sendCommand.bind(conn)
  conn.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    const p = send(...args)
    if (p instanceof Promise) p.catch(() => {})
    return p
  }
  return conn
}

/** What aedes needs to share routing and sessions with the other gateways, and how to let go of it. */
export interface RedisShare {
  /** aedes' emitter: every publish goes through Redis pub/sub and reaches every node's subscribers. */
  readonly mq: MQEmitterRedis
  /** Subscriptions, retained messages, wills and persistent sessions' queues, kept in Redis. */
  readonly persistence: ReturnType<typeof redisPersistence>
  /**
   * The broker's id among the nodes: the node id and a random part. aedes keys queued packets by broker
   * id and a counter that starts at 0 with the process, so a node restarted under the same id would
   * overwrite packets its previous run left queued for units away.
   */
  readonly brokerId: string
  /** The store's connection, for the gateway's own keys beside aedes' (`doorstep:` prefix). */
  readonly redis: Redis
  /** Every connection is up: otherwise what is sent waits for a reconnect. */
  up(): boolean
  /** Where Redis is, without credentials: for logs and errors. */
  readonly target: string
  /** After aedes has closed: lets pending writes land, then closes the connections. */
  close(): Promise<void>
}

export interface RedisShareOptions {
  url: string
  nodeId: string
  log: Logger
  /** aedes' `concurrency`, which its default in-memory emitter gets too. */
  concurrency?: number
  connectTimeoutMs?: number
}

/** `redis://host:port/db` with any user name and password left out. */
export function redisTarget(url: string): string {
  const u = new URL(url)
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`
}

/**
 * Opens the three connections the shared broker needs (Redis pub/sub takes a connection of its own, and
 * publishing on the persistence's would queue behind its session writes) and checks Redis answers. Throws
 * DOORSTEP_ERR_REDIS_UNAVAILABLE, naming host and port only, when it does not.
 */
export async function openRedisShare(opts: RedisShareOptions): Promise<RedisShare> {
  const target = redisTarget(opts.url)
  const log = opts.log.child({ redis: target })
  const open = (role: 'pub' | 'sub' | 'store') => {
    const conn = handleUnawaited(
      new Redis(opts.url, {
        lazyConnect: true,
        connectTimeout: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        ...REDIS_RECONNECT,
        // Publishes of many units at once go out in one write.
        enableAutoPipelining: role === 'pub',
        connectionName: `doorstep-${opts.nodeId}-${role}`,
      }),
    )
    // ioredis reports each failed reconnect; without a listener it prints them to the console. Before
    // the first `ready` the start reports the failure itself.
    let ready = false
    let down = false
    conn.on('error', (err: Error) => {
      firstError ??= err
      if (ready && !down) log.warn({ role, err: err.message }, 'Redis connection lost; reconnecting')
      down = true
    })
    conn.on('ready', () => {
      if (ready && down) log.info({ role }, 'Redis connection back')
      ready = true
      down = false
    })
    return conn
  }
  /** ioredis rejects `connect` with "Connection is closed."; the socket's own error says why. */
  let firstError: Error | undefined
  const pub = open('pub')
  const sub = open('sub')
  const store = open('store')
  const conns = [pub, sub, store]
  try {
    await Promise.all(conns.map((c) => c.connect()))
  } catch (err) {
    for (const c of conns) c.disconnect()
    throw new DoorstepError(
      'DOORSTEP_ERR_REDIS_UNAVAILABLE',
      `Redis at ${target} is not answering (${(firstError ?? (err as Error)).message}); MQTT cannot be shared with the other gateways`,
      { target },
      { cause: err },
    )
  }
  // [MQTT-4.7.1-3]: as aedes' own emitter, `#` also matches the parent level.
  const mq = mqemitterRedis({
    pubConn: pub,
    subConn: sub,
    matchEmptyLevels: true,
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
  })
  const internals = mq as MQEmitterRedis & { state: EventEmitter; closed: boolean }
  // mqemitter-redis re-emits its connections' errors on `state`, an EventEmitter with no listener by
  // default: the first failed reconnect would throw out of ioredis' error handler and end the process.
  // Our own listeners above log them.
  internals.state.on('error', () => {})
  // mqemitter-redis closes by QUIT and waits for each connection's 'end'; ioredis answers a QUIT on a
  // connection that is reconnecting by dropping it without an 'end', and the close (and aedes' with
  // it) would never finish. With Redis away, the connections are simply dropped.
  const quit = mq.close.bind(mq)
  mq.close = (cb: () => void) => {
    if (conns.every((c) => c.status === 'ready')) return quit(cb)
    for (const c of conns) c.disconnect()
    internals.closed = true
    cb()
  }
  const persistence = redisPersistence({ conn: store })
  const brokerId = `${opts.nodeId}.${randomBytes(4).toString('hex')}`
  log.info({ brokerId }, 'MQTT routing and sessions shared through Redis')
  return {
    mq,
    persistence,
    brokerId,
    redis: store,
    target,
    up: () => conns.every((c) => c.status === 'ready'),
    async close() {
      // Closing clients leaves writes (a will deleted, a session's queue) pipelined on the store's
      // connection; a reply to a later command means they have landed. Two rounds: a write may be
      // issued only when the reply to the read before it arrives.
      for (let i = 0; i < 2 && store.status === 'ready'; i++) await store.ping().catch(() => undefined)
      // A broker that failed to start never set the store up, and its destroy would throw. With Redis
      // away, its unsubscribes would wait for a reconnect that no longer comes.
      const inner = persistence.asyncPersistence
      if (inner.broker !== undefined && conns.every((c) => c.status === 'ready'))
        await inner.destroy().catch((err: Error) => log.warn({ err: err.message }, 'Redis close'))
      // aedes closes the emitter itself; a broker that failed to start did not.
      await new Promise<void>((resolve) => mq.close(() => resolve()))
      for (const c of conns) c.disconnect()
    },
  }
}

/**
 * A feature's own writer and reader connections to the cluster's Redis (a reader blocks or subscribes,
 * so it cannot share the writer), both up, or DOORSTEP_ERR_REDIS_UNAVAILABLE naming host and port only
 * and what cannot be shared (`what`).
 */
export async function openRedisPair(o: {
  url: string
  nodeId: string
  feature: string
  what: string
}): Promise<{ writer: Redis; reader: Redis }> {
  /** ioredis rejects `connect` with "Connection is closed."; the socket's own error says why. */
  let firstError: Error | undefined
  const open = (role: string) => {
    const r = handleUnawaited(
      new Redis(o.url, {
        lazyConnect: true,
        // As the broker's connections: commands fail within about a second of an outage, never hang.
        ...REDIS_RECONNECT,
        connectionName: `doorstep-${o.nodeId}-${o.feature}-${role}`,
      }),
    )
    // Reported by the broker's own connections; without a listener ioredis prints each retry.
    r.on('error', (err: Error) => {
      firstError ??= err
    })
    return r
  }
  const writer = open('write')
  const reader = open('read')
  try {
    await Promise.all([writer.connect(), reader.connect()])
  } catch (err) {
    writer.disconnect()
    reader.disconnect()
    throw new DoorstepError(
      'DOORSTEP_ERR_REDIS_UNAVAILABLE',
      `Redis at ${redisTarget(o.url)} is not answering (${(firstError ?? (err as Error)).message}); ${o.what} cannot be shared with the other gateways`,
      { target: redisTarget(o.url) },
      { cause: err },
    )
  }
  return { writer, reader }
}
