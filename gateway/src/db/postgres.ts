import { Kysely, PostgresDialect, type QueryExecutorProvider, sql } from 'kysely'
import pg from 'pg'
import { DoorstepError } from '../errors.js'
import type { Logger } from '../log.js'
import type { SharedDb } from './shared-db.js'

export interface PostgresOptions {
  /** `postgres://` URL; a password in it is never logged. */
  url: string
  /** Named in `application_name`, so `pg_stat_activity` tells the gateways apart. */
  nodeId: string
  log: Logger
  /** Connections in the pool (default 10): queries are short, and PostgreSQL's own limit is shared by every node. */
  poolSize?: number
  /** How long a connect may take before the start (or a query) fails (default 5 s). */
  connectTimeoutMs?: number
}

const POOL_SIZE = 10
const CONNECT_TIMEOUT_MS = 5000
/** The listening connection retries a lost database after 0.5 s, doubling to at most 10 s. */
const RELISTEN_FIRST_MS = 500
const RELISTEN_MAX_MS = 10_000
/** Channel names go into LISTEN unquoted by a driver: only plain lower-case identifiers. */
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/
const INT8_OID = 20

/**
 * BIGINT comes back as a string by default, since it can exceed 2^53. Ours are milliseconds since
 * 1970 and counters, far below that, and the features expect numbers, as SQLite gives them.
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
}

/**
 * SQLSTATE classes and socket codes that mean the database could not be reached or went away, rather
 * than that a query was wrong: class 08 (connection exception), 57P01-57P03 (shut down, or starting).
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
])

/** Whether `err` says the shared database is away (so a caller may retry), not that a query failed. */
export function isDatabaseUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true
  // node-postgres' own words for a connection it lost or could not get in time.
  return /^Connection terminated|^timeout exceeded when trying to connect|^Client has encountered a connection error/.test(
    err.message,
  )
}

/** Host, port and database of a URL: what a log or an error may say of it. */
export function postgresTarget(url: string): string {
  const u = new URL(url)
  return `${u.hostname}:${u.port || '5432'}${u.pathname || '/'}`
}

/**
 * Connects to the PostgreSQL the gateways share and checks it answers. Throws
 * DOORSTEP_ERR_DATABASE_UNAVAILABLE, naming host, port and database only, when it does not.
 */
export async function openPostgres(o: PostgresOptions): Promise<SharedDb> {
  const target = postgresTarget(o.url)
  const log = o.log.child({ database: target })
  const config: pg.PoolConfig = {
    connectionString: o.url,
    connectionTimeoutMillis: o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    application_name: `doorstep-${o.nodeId}`,
    types: TYPES,
  }
  const pool = new pg.Pool({ ...config, max: o.poolSize ?? POOL_SIZE })
  // An idle pooled connection that the server drops emits here; without a listener it would end the
  // process. The next query takes a new connection.
  pool.on('error', (err) => log.warn({ err: err.message }, 'PostgreSQL connection lost'))
  // The pool listens only to idle connections. One handed out (Kysely checks a connection out for each
  // query and holds it through a transaction) that the server drops emits 'error' with no listener, which
  // would end the process: every PostgreSQL restart under load would take the gateways with it. The
  // query in flight still fails with the error, and its caller answers 503; nothing more to do here.
  pool.on('connect', (client) => client.on('error', () => {}))
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    await pool.end().catch(() => {})
    throw new DoorstepError(
      'DOORSTEP_ERR_DATABASE_UNAVAILABLE',
      `PostgreSQL at ${target} is not answering (${(err as Error).message}); the shared state cannot be reached`,
      { target },
      { cause: err },
    )
  }
  const kysely = new Kysely<Record<never, never>>({ dialect: new PostgresDialect({ pool }) })
  const listener = new Listener(config, log)
  return {
    dialect: 'postgres',
    sqlite: null,
    tables: <T>() => kysely as unknown as Kysely<T>,
    write: <T, R>(fn: (trx: Kysely<T>) => Promise<R>) =>
      (kysely as unknown as Kysely<T>).transaction().execute(fn),
    async notify(channel: string, payload: string, within?: QueryExecutorProvider) {
      await sql`SELECT pg_notify(${channel}, ${payload})`.execute(within ?? kysely)
    },
    listen: (channel, onChange, onResync) => listener.add(channel, onChange, onResync),
    up: () => listener.connected,
    async close() {
      await listener.close()
      await kysely.destroy()
    },
  }
}

interface Subscription {
  onChange: (payload: string) => void
  onResync: () => void
}

/**
 * One connection of its own that LISTENs on every channel asked for (a pooled one would be handed to
 * other queries). When it is lost it reconnects with backoff, LISTENs again, and tells each
 * subscriber to resync: notifications sent while it was away are not kept by PostgreSQL.
 */
class Listener {
  readonly #config: pg.ClientConfig
  readonly #log: Logger
  readonly #subs = new Map<string, Subscription[]>()
  #client: pg.Client | null = null
  #connecting = false
  #closed = false
  #retryMs = RELISTEN_FIRST_MS
  #timer: NodeJS.Timeout | null = null
  #lost = false
  /** Channels LISTENed on the current connection. */
  readonly #listened = new Set<string>()
  /** Who waits for a channel's LISTEN to be in place. */
  readonly #waiting = new Map<string, Array<() => void>>()

  constructor(config: pg.ClientConfig, log: Logger) {
    this.#config = config
    this.#log = log
  }

  /** A connection is open and not lost since (false until the first connect, and while it retries). */
  get connected(): boolean {
    return this.#client !== null
  }

  /**
   * Subscribes; resolves once the channel is LISTENed on a live connection, so that what is read after
   * it cannot miss a change notified before (a subscriber reads after it subscribes, not before).
   */
  add(channel: string, onChange: (payload: string) => void, onResync: () => void): Promise<void> {
    if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`)
    const ready =
      this.#client && this.#listened.has(channel)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const w = this.#waiting.get(channel)
            if (w) w.push(resolve)
            else this.#waiting.set(channel, [resolve])
          })
    const list = this.#subs.get(channel)
    if (list) list.push({ onChange, onResync })
    else {
      this.#subs.set(channel, [{ onChange, onResync }])
      const client = this.#client
      if (client) this.#listenOn(client, channel)
    }
    if (!this.#client && !this.#connecting) void this.#connect()
    return ready
  }

  #listenOn(client: pg.Client, channel: string): void {
    client
      .query(`LISTEN ${channel}`)
      .then(() => {
        if (this.#client === client) this.#settle(channel)
      })
      .catch((err: Error) => this.#drop(client, err))
  }

  #settle(channel: string): void {
    this.#listened.add(channel)
    for (const resolve of this.#waiting.get(channel) ?? []) resolve()
    this.#waiting.delete(channel)
  }

  async #connect(): Promise<void> {
    if (this.#closed) return
    this.#connecting = true
    const client = new pg.Client(this.#config)
    client.on('error', (err) => this.#drop(client, err))
    client.on('end', () => this.#drop(client, new Error('connection ended')))
    client.on('notification', (msg) => {
      for (const s of this.#subs.get(msg.channel) ?? []) s.onChange(msg.payload ?? '')
    })
    const listened = new Set<string>()
    try {
      await client.connect()
      for (const channel of this.#subs.keys()) {
        await client.query(`LISTEN ${channel}`)
        listened.add(channel)
      }
    } catch (err) {
      this.#connecting = false
      client.removeAllListeners('end')
      await client.end().catch(() => {})
      this.#retry(err as Error)
      return
    }
    this.#connecting = false
    if (this.#closed) {
      await client.end().catch(() => {})
      return
    }
    this.#client = client
    this.#listened.clear()
    for (const channel of listened) this.#settle(channel)
    // A channel added while this connection was being made.
    for (const channel of this.#subs.keys()) if (!listened.has(channel)) this.#listenOn(client, channel)
    this.#retryMs = RELISTEN_FIRST_MS
    if (this.#lost) {
      this.#lost = false
      this.#log.info('PostgreSQL notifications back; reloading shared state')
      for (const list of this.#subs.values()) for (const s of list) s.onResync()
    }
  }

  #drop(client: pg.Client, err: Error): void {
    if (this.#client !== client) return
    this.#client = null
    this.#listened.clear()
    client.removeAllListeners('end')
    client.end().catch(() => {})
    this.#retry(err)
  }

  #retry(err: Error): void {
    if (this.#closed) return
    if (!this.#lost) this.#log.warn({ err: err.message }, 'PostgreSQL notifications lost; reconnecting')
    this.#lost = true
    const wait = this.#retryMs
    this.#retryMs = Math.min(this.#retryMs * 2, RELISTEN_MAX_MS)
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#connect()
    }, wait)
    this.#timer.unref()
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    const client = this.#client
    this.#client = null
    if (client) {
      client.removeAllListeners('end')
      await client.end().catch(() => {})
    }
  }
}
