import type { Redis } from 'ioredis'
import type { Logger } from '../log.js'

const KEY_PREFIX = 'doorstep:unit-broker:'

/** Deletes the key only while it still names this broker: a newer session elsewhere keeps its entry. */
const DELETE_IF_OURS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`

/**
 * Which broker holds each unit's live session, in Redis, for the one question a node cannot answer
 * alone: when a gateway dies, another publishes the wills it left (aedes, after three missed
 * heartbeats), and by then the unit may have reconnected to a third one. Its will must not say
 * `offline` then. Written when a session is ready, removed when it ends.
 */
export class UnitBrokers {
  readonly #redis: Redis
  readonly #brokerId: string
  readonly #log: Logger

  constructor(redis: Redis, brokerId: string, log: Logger) {
    this.#redis = redis
    this.#brokerId = brokerId
    this.#log = log
  }

  here(deviceId: string): void {
    this.#redis.set(KEY_PREFIX + deviceId, this.#brokerId).catch((err: Error) => {
      this.#log.warn({ device: deviceId, err: err.message }, 'could not record the unit’s broker in Redis')
    })
  }

  gone(deviceId: string): void {
    this.#redis.eval(DELETE_IF_OURS, 1, KEY_PREFIX + deviceId, this.#brokerId).catch((err: Error) => {
      this.#log.warn({ device: deviceId, err: err.message }, 'could not clear the unit’s broker in Redis')
    })
  }

  /** The broker holding the unit's session, or null when none says it does. */
  async where(deviceId: string): Promise<string | null> {
    return this.#redis.get(KEY_PREFIX + deviceId)
  }
}
