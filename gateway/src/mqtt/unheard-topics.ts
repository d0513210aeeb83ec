import { parseTopic, TOPICS } from '@doorstep/proto'
import type { Aedes } from 'aedes'

/**
 * Whether no MQTT client can ever be subscribed to `topic`: what units report (`hello`, `heartbeat`,
 * `event`, `cmd/ack`, `config/reported`). Every client is a unit, and a unit may subscribe to its own
 * `cmd` and `config` only (topic-acl.ts); the gateway takes these messages in `authorizePublish`
 * (ingest) and hears of them on its event bus, never through the broker's routing. `status` is not
 * among them: it is retained, and its routing is left as it is.
 */
export function isUnheard(topic: string): boolean {
  const t = parseTopic(topic)
  if (t === null) return false
  const spec = TOPICS[t.kind]
  return spec.from === 'device' && !spec.retain
}

/** The two parts of aedes that route a publish: its emitter, and the store of offline subscriptions. */
interface Routing {
  mq: { emit(packet: { topic: string }, done?: (err?: Error | null) => void): unknown }
  persistence: { subscriptionsByTopic(topic: string): Promise<unknown[]> }
}

/**
 * Lets aedes skip routing what nobody can hear (`isUnheard`): the publish is acknowledged as soon as
 * ingest has it, and goes nowhere. Without this, every message a unit sends costs a topic match in
 * memory and, on gateways sharing Redis, a Redis PUBLISH (and for QoS 1 a read of the offline
 * subscriptions) that no one receives; and while Redis is away those calls fail, which stalls the
 * unit's connection: ingest, which needs no Redis, would stop with it.
 */
export function skipUnheardRouting(aedes: Aedes): void {
  const { mq, persistence } = aedes as unknown as Routing
  const emit = mq.emit.bind(mq)
  mq.emit = (packet, done) => {
    if (!isUnheard(packet.topic)) return emit(packet, done)
    done?.()
    return mq
  }
  const byTopic = persistence.subscriptionsByTopic.bind(persistence)
  persistence.subscriptionsByTopic = (topic) => (isUnheard(topic) ? Promise.resolve([]) : byTopic(topic))
}
