import type { z } from 'zod'
import { Command, CommandAck, DeviceEvent, Heartbeat, Hello, Status } from './device.js'
import { DeviceId } from './ids.js'
import { ConfigDesired, ConfigReported } from './unit-config.js'

/**
 * The MQTT topic map: every topic a unit may use, its direction, QoS and
 * payload schema. This object is the contract; the README documents it and
 * the tests check that the two agree.
 */
export const TOPICS = {
  hello: { pattern: 'cam/{id}/hello', from: 'device', qos: 1, retain: false, schema: Hello },
  heartbeat: { pattern: 'cam/{id}/heartbeat', from: 'device', qos: 0, retain: false, schema: Heartbeat },
  event: { pattern: 'cam/{id}/event', from: 'device', qos: 1, retain: false, schema: DeviceEvent },
  status: { pattern: 'cam/{id}/status', from: 'device', qos: 1, retain: true, schema: Status },
  cmd: { pattern: 'cam/{id}/cmd', from: 'gateway', qos: 1, retain: false, schema: Command },
  cmdAck: { pattern: 'cam/{id}/cmd/ack', from: 'device', qos: 1, retain: false, schema: CommandAck },
  config: { pattern: 'cam/{id}/config', from: 'gateway', qos: 1, retain: true, schema: ConfigDesired },
  configReported: {
    pattern: 'cam/{id}/config/reported',
    from: 'device',
    qos: 1,
    retain: false,
    schema: ConfigReported,
  },
} as const satisfies Record<
  string,
  { pattern: string; from: 'device' | 'gateway'; qos: 0 | 1; retain: boolean; schema: z.ZodType }
>

export type TopicKind = keyof typeof TOPICS
export type PayloadOf<K extends TopicKind> = z.infer<(typeof TOPICS)[K]['schema']>

// A Map, not an object: a topic suffix such as `constructor` must not find a prototype key.
const SUFFIX_TO_KIND: ReadonlyMap<string, TopicKind> = new Map([
  ['hello', 'hello'],
  ['heartbeat', 'heartbeat'],
  ['event', 'event'],
  ['status', 'status'],
  ['cmd', 'cmd'],
  ['cmd/ack', 'cmdAck'],
  ['config', 'config'],
  ['config/reported', 'configReported'],
])

const KIND_TO_SUFFIX: Readonly<Record<TopicKind, string>> = {
  hello: 'hello',
  heartbeat: 'heartbeat',
  event: 'event',
  status: 'status',
  cmd: 'cmd',
  cmdAck: 'cmd/ack',
  config: 'config',
  configReported: 'config/reported',
}

export function topicFor(kind: TopicKind, deviceId: string): string {
  return `cam/${deviceId}/${KIND_TO_SUFFIX[kind]}`
}

/** What follows `cam/{id}/` in a topic of this kind (`cmd/ack` for `cmdAck`). */
export function topicSuffix(kind: TopicKind): string {
  return KIND_TO_SUFFIX[kind]
}

export interface ParsedTopic {
  deviceId: string
  kind: TopicKind
}

const ID_RE = /^[A-Za-z0-9_-]{3,64}$/

/**
 * Splits `cam/{id}/{suffix}`. Returns null for anything outside the map, so
 * callers refuse unknown topics instead of guessing. Runs once per message:
 * plain string scanning, no regex over the whole topic.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith('cam/')) return null
  const slash = topic.indexOf('/', 4)
  if (slash < 0) return null
  const deviceId = topic.slice(4, slash)
  if (!ID_RE.test(deviceId)) return null
  const kind = SUFFIX_TO_KIND.get(topic.slice(slash + 1))
  if (kind === undefined) return null
  return { deviceId, kind }
}

export { DeviceId }
