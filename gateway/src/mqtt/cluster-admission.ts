import type { Redis } from 'ioredis'
import type { Logger } from '../log.js'

/** The shared bucket, one key for the whole cluster. */
const KEY = 'doorstep:admission:connect'
/** A source address's bucket, shared by the cluster's gateways (with `perAddress`). */
const ADDRESS_KEY = 'doorstep:admission:addr:'
/** An idle bucket is full again well before this; the key then goes rather than linger. */
const IDLE_TTL_MS = 60_000
/** A connect waits no longer than this for Redis's answer: a slow Redis must not hold a reconnect storm. */
const ANSWER_TIMEOUT_MS = 500

/**
 * Token buckets in Redis, refilled by Redis's own clock (the nodes' clocks may disagree), taken from
 * atomically by one script: whichever node a connect reaches, it spends the same budget. One bucket per
 * key (the cluster's; with a per-address rate also the address's); ARGV is the keys' idle time to live,
 * then each key's rate and burst. A token is taken from every bucket or from none: returns 0 when taken,
 * else which bucket was empty (1 the first).
 */
const TAKE = `
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000 + math.floor(tonumber(now_s[2]) / 1000)
local tokens = {}
local empty = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[i * 2])
  local burst = tonumber(ARGV[i * 2 + 1])
  local b = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local t = tonumber(b[1])
  local at = tonumber(b[2])
  if t == nil or at == nil then
    t = burst
    at = now
  end
  t = math.min(burst, t + math.max(0, now - at) * rate / 1000)
  if t < 1 and empty == 0 then empty = i end
  tokens[i] = t
end
for i = 1, #KEYS do
  local t = tokens[i]
  if empty == 0 then t = t - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(t), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return empty
`

type WithTake = Redis & {
  /** `keys` buckets: their names, then the idle TTL, then a rate and a burst per bucket. */
  doorstepTakeConnect(keys: number, ...args: Array<string | number>): Promise<number>
}

/** What the cluster's buckets said of one connect. */
export type ClusterVerdict = 'admitted' | 'over-cluster' | 'over-address'

/**
 * The reconnect-storm admission of the whole cluster (DOORSTEP_CLUSTER_CONNECT_RATE): after a power cut
 * the city's units come back through every gateway at once, and each gateway's own rate, multiplied by
 * the nodes, would let more through than Redis, PostgreSQL and the secret checks behind them can take.
 * Asked after the gateway's own bucket, so a refusal there costs no round trip.
 *
 * When Redis does not answer in time the connect is let through on the node's own budget alone: the
 * node's rate still bounds it, and a shared broker without Redis refuses the session a step later anyway
 * (its takeover notice cannot be sent), with its own reason.
 */
export class ClusterAdmission {
  readonly #redis: WithTake
  readonly #rate: number
  readonly #burst: number
  readonly #perAddress: number | null
  readonly #up: () => boolean
  readonly #log: Logger
  #unanswered = 0

  /**
   * With `perAddressPerSecond`, each source address's budget (DOORSTEP_CONNECT_RATE_PER_ADDRESS) is
   * spent cluster-wide too (`admitFrom`): units behind one address that reach several gateways (a list
   * of node URLs, a proxy that spreads them) get that rate in all, not that rate per gateway.
   */
  constructor(opts: {
    redis: Redis
    ratePerSecond: number
    perAddressPerSecond?: number
    up: () => boolean
    log: Logger
  }) {
    const redis = opts.redis as WithTake
    // Without numberOfKeys: each call says how many buckets it takes from.
    if (typeof redis.doorstepTakeConnect !== 'function')
      redis.defineCommand('doorstepTakeConnect', { lua: TAKE })
    this.#redis = redis
    this.#rate = opts.ratePerSecond
    this.#burst = Math.max(1, opts.ratePerSecond)
    this.#perAddress = opts.perAddressPerSecond ?? null
    this.#up = opts.up
    this.#log = opts.log
  }

  /** Connects let through because Redis did not answer: a figure for the operator, not for the unit. */
  get unanswered(): number {
    return this.#unanswered
  }

  /** True: admitted by the cluster's budget (or Redis did not answer); false: over it, retry later. */
  async tryAdmit(): Promise<boolean> {
    const empty = await this.#ask(() =>
      this.#redis.doorstepTakeConnect(1, KEY, IDLE_TTL_MS, this.#rate, this.#burst),
    )
    return empty === null || empty === 0
  }

  /**
   * A connect from `address`, against the cluster's bucket and, with a per-address rate, the
   * address's bucket in the cluster, both in one round trip. Redis not answering admits, as `tryAdmit`.
   */
  async admitFrom(address: string): Promise<ClusterVerdict> {
    const per = this.#perAddress
    if (per === null) return (await this.tryAdmit()) ? 'admitted' : 'over-cluster'
    const empty = await this.#ask(() =>
      this.#redis.doorstepTakeConnect(
        2,
        KEY,
        ADDRESS_KEY + address,
        IDLE_TTL_MS,
        this.#rate,
        this.#burst,
        per,
        Math.max(1, per),
      ),
    )
    if (empty === 1) return 'over-cluster'
    if (empty === 2) return 'over-address'
    return 'admitted'
  }

  /** Redis's answer, or null when it gave none in time (the connect is then let through). */
  async #ask(question: () => Promise<number>): Promise<number | null> {
    if (!this.#up()) return this.#letThrough('redis down')
    let timer: NodeJS.Timeout | undefined
    try {
      const answer = await Promise.race([
        question(),
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), ANSWER_TIMEOUT_MS)
        }),
      ])
      return answer === null ? this.#letThrough('no answer in time') : answer
    } catch (err) {
      return this.#letThrough((err as Error).message)
    } finally {
      clearTimeout(timer)
    }
  }

  #letThrough(why: string): null {
    // Logged on the first and then every thousandth: a storm during an outage must not flood the log.
    if (this.#unanswered++ % 1000 === 0) {
      this.#log.warn({ why, count: this.#unanswered }, 'cluster admission not asked; node budget only')
    }
    return null
  }
}
