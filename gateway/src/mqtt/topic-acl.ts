import { parseTopic, TOPICS, type TopicKind, topicFor } from '@doorstep/proto'

/**
 * What a unit may touch: publish only on its own `cam/{id}/...` device→gateway
 * topics, subscribe only to its own `cam/{id}/cmd` and `cam/{id}/config`.
 * Nothing else, no wildcards.
 */
export function publishKind(deviceId: string, topic: string): TopicKind | null {
  const t = parseTopic(topic)
  if (!t || t.deviceId !== deviceId) return null
  if (TOPICS[t.kind].from !== 'device') return null
  return t.kind
}

export function maySubscribe(deviceId: string, topic: string): boolean {
  return topic === topicFor('cmd', deviceId) || topic === topicFor('config', deviceId)
}

/** A will must be the unit's own `offline` status. */
export function mayWill(deviceId: string, topic: string): boolean {
  return topic === topicFor('status', deviceId)
}
