import { Heartbeat, LiveState } from '@doorstep/proto'
import type { Redis } from 'ioredis'
import { z } from 'zod'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { openRedisPair } from '../mqtt/index.js'

/** Every unit's presence as the cluster last heard it: unit id → entry (JSON). */
const UNITS = 'doorstep:presence'
/** The gateways taking part: node id → the time (its clock, ms) past which it counts as gone. */
const NODES = 'doorstep:presence:nodes'
/** Where each accepted batch of changes is announced, as a JSON array of entries. */
const CHANNEL = 'doorstep:presence:changes'
/** How often a node's waiting changes go to Redis: one script call per round, however many units. */
const FLUSH_MS = 500
/** How often a node says it is alive, and looks for nodes that stopped saying so. */
const KEEPALIVE_MS = 5_000
/** A node silent this long is gone (three keepalives missed): its units' entries are taken over as offline. */
const NODE_TTL_MS = 15_000

/** A unit's presence as one node reports it. `node` is the gateway that holds (or last held) its connection. */
export const SharedPresence = z.object({
  id: z.string().min(1).max(128),
  state: LiveState,
  node: z.string().min(1).max(128),
  since: z.number().int().nonnegative(),
  lastSeen: z.number().int().nonnegative().nullable(),
  lastHeartbeat: Heartbeat.nullable(),
  reason: z.string().max(200),
})
export type SharedPresence = z.infer<typeof SharedPresence>

/**
 * Writes a batch of entries, each unless it would wrongly end another node's connection: an `offline` or
 * `stale` from a node that no longer holds the unit (it moved to another node meanwhile) is dropped. The
 * entries written are announced in one message. ARGV: node, channel, then id and JSON pairs. Returns the
 * ids written.
 */
const PUT = `
local accepted = {}
local ids = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local json = ARGV[i + 1]
  local entry = cjson.decode(json)
  local keep = true
  if entry.state == 'offline' or entry.state == 'stale' then
    local current = redis.call('HGET', KEYS[1], id)
    if current and cjson.decode(current).node ~= ARGV[1] then keep = false end
  end
  if keep then
    redis.call('HSET', KEYS[1], id, json)
    accepted[#accepted + 1] = json
    ids[#ids + 1] = id
  end
end
if #accepted > 0 then redis.call('PUBLISH', ARGV[2], '[' .. table.concat(accepted, ',') .. ']') end
return ids
`

/**
 * Takes over a gone node's units: each it still held online or stale becomes offline, held by the node
 * that noticed. Only the call that removes the gone node from NODES does it, so however many nodes notice
 * at once, each unit goes offline (and its alert is raised) once. ARGV: gone node, this node, now, channel.
 * Reads the whole table: a node is lost rarely, and a per-node index would cost a write on every move.
 */
const REAP = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return {} end
local all = redis.call('HGETALL', KEYS[2])
local changed = {}
local before = {}
for i = 1, #all, 2 do
  local ok, entry = pcall(cjson.decode, all[i + 1])
  if ok and type(entry) == 'table' and entry.node == ARGV[1] and (entry.state == 'online' or entry.state == 'stale') then
    before[#before + 1] = entry.state
    entry.state = 'offline'
    entry.node = ARGV[2]
    entry.since = tonumber(ARGV[3])
    entry.reason = 'gateway lost'
    local json = cjson.encode(entry)
    redis.call('HSET', KEYS[2], all[i], json)
    changed[#changed + 1] = json
  end
end
if #changed > 0 then redis.call('PUBLISH', ARGV[4], '[' .. table.concat(changed, ',') .. ']') end
return {changed, before}
`

interface Commands {
  doorstepPresencePut(key: string, ...args: string[]): Promise<string[]>
  doorstepPresenceReap(
    nodes: string,
    units: string,
    gone: string,
    self: string,
    now: string,
    channel: string,
  ): Promise<[string[], string[]]>
}

export interface RedisPresenceOptions {
  url: string
  nodeId: string
  log: Logger
  /** Whether an id names a unit of the fleet: entries for others are not kept (bounds the mirror). */
  known: (id: string) => boolean
  /** How long a node that stops cleanly leaves its units before another node takes them over as offline. */
  graceMs: number
  now?: () => number
}

/**
 * Presence shared by the gateways of a cluster through Redis (DOORSTEP_REDIS_URL). Each node reports the
 * units connected to it (their transitions and heartbeats, coalesced and written twice a second) into one
 * Redis hash and announces them on a channel; every node keeps a mirror of the whole fleet's entries,
 * filled from the hash at start and after a reconnect and kept current by the channel. So the fleet's
 * health and each unit's state read the same on every node. A node that stops saying it is alive (killed,
 * or cut off) for NODE_TTL_MS has its units marked offline by the first node to notice, once.
 *
 * While Redis is away a node's changes wait (one per unit, the newest) and go when it is back; its mirror
 * of the others is as of the outage.
 */
export class RedisPresence implements Feature {
  readonly name = 'presence-share'
  readonly #o: RedisPresenceOptions
  readonly #log: Logger
  readonly #now: () => number
  readonly #mirror = new Map<string, SharedPresence>()
  /** This node's changes not yet written: one per unit, the newest. Bounded by the fleet's size. */
  readonly #pending = new Map<string, SharedPresence>()
  /** What to do once a unit's waiting change is written (not if it is refused), in the order reported. */
  readonly #onKept = new Map<string, Array<() => void>>()
  #writer: Redis | null = null
  #reader: Redis | null = null
  #timers: NodeJS.Timeout[] = []
  #flushing = false
  #outage = false
  #stopped = false
  #onReaped: (entries: Array<{ entry: SharedPresence; from: LiveState }>) => void = () => {}
  /** Counted for tests and metrics: entries read that were not valid presence. */
  invalid = 0

  constructor(o: RedisPresenceOptions) {
    this.#o = o
    this.#log = o.log.child({ feature: 'presence-share' })
    this.#now = o.now ?? Date.now
  }

  get nodeId(): string {
    return this.#o.nodeId
  }

  /** Units this node took over from a gone node, now offline: the presence feature tells of them. */
  onReaped(fn: (entries: Array<{ entry: SharedPresence; from: LiveState }>) => void): void {
    this.#onReaped = fn
  }

  async start(): Promise<void> {
    const { writer, reader } = await openRedisPair({
      url: this.#o.url,
      nodeId: this.#o.nodeId,
      feature: 'presence',
      what: 'presence',
    })
    writer.defineCommand('doorstepPresencePut', { numberOfKeys: 1, lua: PUT })
    writer.defineCommand('doorstepPresenceReap', { numberOfKeys: 2, lua: REAP })
    this.#writer = writer
    this.#reader = reader
    reader.on('message', (channel: string, message: string) => {
      if (channel === CHANNEL) this.#accept(message)
    })
    // After a reconnect the announcements sent meanwhile are gone: read the whole table again.
    let first = true
    reader.on('ready', () => {
      if (first) return
      void this.#resync()
    })
    await reader.subscribe(CHANNEL)
    first = false
    await writer.hset(NODES, this.#o.nodeId, String(this.#now() + NODE_TTL_MS))
    await this.#resync()
    this.#timers = [
      setInterval(() => void this.flush(), FLUSH_MS).unref(),
      setInterval(() => void this.#keepalive(), KEEPALIVE_MS).unref(),
    ]
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    await this.flush().catch(() => undefined)
    this.#stopped = true
    // Leaving cleanly: the node's units get the grace to reconnect elsewhere before another node marks
    // the rest offline. A stop does not wait on a Redis that is gone.
    await Promise.race([
      this.#writer?.hset(NODES, this.#o.nodeId, String(this.#now() + this.#o.graceMs)).catch(() => undefined),
      new Promise((done) => setTimeout(done, 500).unref()),
    ])
    this.#reader?.disconnect()
    this.#writer?.disconnect()
    this.#reader = null
    this.#writer = null
    this.#mirror.clear()
    this.#pending.clear()
    this.#onKept.clear()
  }

  /** The cluster's entry for a unit (this node's own changes included once written), or null. */
  get(id: string): SharedPresence | null {
    return this.#pending.get(id) ?? this.#mirror.get(id) ?? null
  }

  /** When the unit's session on another node began, if the cluster last heard it online there; else null. */
  sessionElsewhere(id: string): number | null {
    const e = this.get(id)
    return e && e.node !== this.#o.nodeId && e.state === 'online' ? e.since : null
  }

  /**
   * Reports this node's view of a unit; written at the next flush, newer reports replacing older. A
   * change of state goes at once (`kept`), a heartbeat with the next round. `kept` runs once the change
   * is written; an offline or stale from a node the unit has left is refused, and `kept` never runs.
   */
  put(entry: SharedPresence, kept?: () => void): void {
    if (this.#stopped) return
    this.#pending.set(entry.id, entry)
    if (!kept) return
    const waiting = this.#onKept.get(entry.id)
    if (waiting) waiting.push(kept)
    else this.#onKept.set(entry.id, [kept])
    void this.flush()
  }

  /** Writes what waits. Public so a test (and a stop) need not wait for the timer. */
  async flush(): Promise<void> {
    const writer = this.#writer
    if (this.#flushing || !writer || this.#pending.size === 0) return
    this.#flushing = true
    const batch = [...this.#pending.values()]
    const kept = new Map(this.#onKept)
    this.#pending.clear()
    this.#onKept.clear()
    const args: string[] = [this.#o.nodeId, CHANNEL]
    for (const e of batch) args.push(e.id, JSON.stringify(e))
    try {
      const written = await (writer as unknown as Commands).doorstepPresencePut(UNITS, ...args)
      const byId = new Map(batch.map((e) => [e.id, e]))
      for (const id of written) {
        // Ours now, before the announcement comes back.
        const e = byId.get(id)
        if (e && !this.#pending.has(id) && this.#o.known(id)) this.#mirror.set(id, e)
        for (const fn of kept.get(id) ?? []) fn()
      }
      if (this.#outage) this.#log.info('presence reaches Redis again')
      this.#outage = false
    } catch (err) {
      // Back in line unless a newer report came meanwhile.
      for (const e of batch) {
        if (!this.#pending.has(e.id)) this.#pending.set(e.id, e)
        const fns = kept.get(e.id)
        if (fns) this.#onKept.set(e.id, [...fns, ...(this.#onKept.get(e.id) ?? [])])
      }
      if (!this.#outage)
        this.#log.warn(
          { err: (err as Error).message, waiting: this.#pending.size },
          'presence changes wait for Redis; sent when it is back',
        )
      this.#outage = true
    } finally {
      this.#flushing = false
    }
  }

  /** Says this node is alive and takes over the units of nodes that stopped saying so. */
  async #keepalive(): Promise<void> {
    const writer = this.#writer
    if (!writer || this.#stopped) return
    try {
      const now = this.#now()
      await writer.hset(NODES, this.#o.nodeId, String(now + NODE_TTL_MS))
      const nodes = await writer.hgetall(NODES)
      for (const [node, until] of Object.entries(nodes)) {
        if (node === this.#o.nodeId || !(Number(until) < now)) continue
        const [changed, before] = await (writer as unknown as Commands).doorstepPresenceReap(
          NODES,
          UNITS,
          node,
          this.#o.nodeId,
          String(now),
          CHANNEL,
        )
        if (changed.length === 0) continue
        this.#log.warn({ node, units: changed.length }, 'gateway gone; its units marked offline')
        const taken = changed.flatMap((json, i) => {
          const entry = this.#take(json)
          const from = LiveState.safeParse(before[i])
          return entry && from.success ? [{ entry, from: from.data }] : []
        })
        this.#onReaped(taken)
      }
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'presence keepalive failed; retrying')
    }
  }

  async #resync(): Promise<void> {
    const writer = this.#writer
    if (!writer) return
    try {
      const all = await writer.hgetall(UNITS)
      this.#mirror.clear()
      for (const json of Object.values(all)) this.#take(json)
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'presence table read failed; the mirror is as before')
    }
  }

  /** One announcement: a JSON array of entries. Each is checked; a bad one is counted and skipped. */
  #accept(message: string): void {
    let list: unknown
    try {
      list = JSON.parse(message)
    } catch {
      this.invalid++
      return
    }
    if (!Array.isArray(list)) {
      this.invalid++
      return
    }
    for (const item of list) this.#store(item)
  }

  #take(json: string): SharedPresence | null {
    try {
      return this.#store(JSON.parse(json))
    } catch {
      this.invalid++
      return null
    }
  }

  /** Checks an entry and keeps it if it names a unit of the fleet; the entry, or null if it was not one. */
  #store(raw: unknown): SharedPresence | null {
    const r = SharedPresence.safeParse(raw)
    if (!r.success) {
      this.invalid++
      return null
    }
    if (!this.#o.known(r.data.id)) return null
    this.#mirror.set(r.data.id, r.data)
    return r.data
  }
}
