import { Readable } from 'node:stream'
import type { AedesPersistence, Packet } from 'aedes-persistence'

const WILDCARD = /[+#]/

/** Only PUBLISH packets are ever retained. */
type Retained = Packet & { topic: string; payload: Buffer | string }

/**
 * Gives the in-memory persistence a keyed lookup of retained messages for
 * subscriptions to one exact topic. aedes asks the persistence for retained
 * messages on every SUBSCRIBE, and the memory store answers by testing every
 * retained topic against the pattern: each unit subscribing to its own
 * `cam/{id}/cmd` scanned every unit's retained status, so a fleet connecting
 * cost O(units²) topic matches (a 2,896-unit city ~8 million, a 19,000-unit
 * gateway ~360 million). Wildcard patterns still go to the store's scan.
 *
 * Only for the in-memory store: a shared store (Redis) holds retained
 * messages other gateways wrote, which a local map would not see.
 */
export function withExactRetained<P extends AedesPersistence>(p: P): P {
  const byTopic = new Map<string, Retained>()
  const storeRetained = p.storeRetained.bind(p) as (
    packet: Retained,
    cb?: (err?: Error | null) => void,
  ) => unknown
  const combi = p.createRetainedStreamCombi.bind(p)
  const mirror = (packet: Retained): void => {
    // The same rule as the store's: an empty retained payload clears the topic.
    if (packet.payload.length === 0) byTopic.delete(packet.topic)
    else byTopic.set(packet.topic, { ...packet })
  }
  Object.assign(p, {
    storeRetained(packet: Retained, cb?: (err?: Error | null) => void): unknown {
      mirror(packet)
      return storeRetained(packet, cb)
    },
    createRetainedStreamCombi(patterns: string[]): Readable {
      if (patterns.some((t) => WILDCARD.test(t))) return combi(patterns)
      const found: Retained[] = []
      for (const t of patterns) {
        const packet = byTopic.get(t)
        if (packet) found.push(packet)
      }
      return Readable.from(found)
    },
  })
  return p
}
