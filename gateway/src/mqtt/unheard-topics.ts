import { TOPICS, type TopicKind, topicSuffix } from '@doorstep/proto'
import type { Aedes } from 'aedes'

/** `/hello`, `/heartbeat`, …: the tails of the topics nobody hears, each with the slash before it. */
const UNHEARD_TAILS: readonly string[] = (Object.keys(TOPICS) as TopicKind[])
  .filter((k) => TOPICS[k].from === 'device' && !TOPICS[k].retain)
  .map((k) => `/${topicSuffix(k)}`)

/**
 * Whether no MQTT client can ever be subscribed to `topic`: what units report (`hello`, `heartbeat`,
 * `event`, `cmd/ack`, `config/reported`). Every client is a unit, and a unit may subscribe to its own
 * `cmd` and `config` only (topic-acl.ts); the gateway takes these messages in `authorizePublish`
 * (ingest) and hears of them on its event bus, never through the broker's routing. `status` is not
 * among them: it is retained, and its routing is left as it is.
 *
 * Asked twice for each QoS 1 message (routing, offline subscriptions), after `authorizePublish` has
 * already checked the unit's id: so it only compares the tail after `cam/{id}`, allocating nothing.
 */
export function isUnheard(topic: string): boolean {
  if (!topic.startsWith('cam/')) return false
  const slash = topic.indexOf('/', 4)
  if (slash <= 4) return false
  const tail = topic.length - slash
  for (const t of UNHEARD_TAILS) if (t.length === tail && topic.endsWith(t)) return true
  return false
}

/** The two parts of aedes that route a publish: its emitter, and the store of offline subscriptions. */
interface Routing {
  mq: { emit(packet: { topic: string }, done?: (err?: Error | null) => void): unknown }
  persistence: { subscriptionsByTopic(topic: string): Promise<unknown[]> }
}

const NONE: Promise<unknown[]> = Promise.resolve([])

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
  persistence.subscriptionsByTopic = (topic) => (isUnheard(topic) ? NONE : byTopic(topic))
}
