import { parseTopic, TOPICS, type TopicKind, topicFor } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { isUnheard } from '../../gateway/src/mqtt/unheard-topics.js'

describe('isUnheard', () => {
  it('agrees with the contract: what units report and no one may subscribe to, for every kind', () => {
    for (const kind of Object.keys(TOPICS) as TopicKind[]) {
      const topic = topicFor(kind, 'unit-0042')
      const spec = TOPICS[parseTopic(topic)?.kind ?? kind]
      expect(isUnheard(topic), topic).toBe(spec.from === 'device' && !spec.retain)
    }
  })

  it('names the reported kinds and leaves status, cmd and config to be routed', () => {
    const heard = ['status', 'cmd', 'config'].map((s) => `cam/unit-0042/${s}`)
    const unheard = ['hello', 'heartbeat', 'event', 'cmd/ack', 'config/reported'].map(
      (s) => `cam/unit-0042/${s}`,
    )
    expect(heard.filter(isUnheard)).toEqual([])
    expect(unheard.filter(isUnheard)).toEqual(unheard)
  })

  it('routes anything that only looks like a reported topic', () => {
    for (const topic of [
      'cam//heartbeat',
      'cam/a/b/heartbeat',
      'cam/unit-0042/heartbeatx',
      'cam/unit-0042/xheartbeat',
      'cam/unit-0042',
      '$SYS/broker/heartbeat',
      'camera/unit-0042/event',
      'cam/unit-0042/config/reported/x',
    ])
      expect(isUnheard(topic), topic).toBe(false)
  })
})
