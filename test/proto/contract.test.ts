import fs from 'node:fs'
import path from 'node:path'
import {
  applyConfigPatch,
  Command,
  CommandAck,
  ConfigDesired,
  ConfigReported,
  DeviceEvent,
  Heartbeat,
  Hello,
  parseTopic,
  Status,
  TOPICS,
  type TopicKind,
  topicFor,
  UnitConfigPatch,
} from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'

const root = path.resolve(import.meta.dirname, '../../proto')
const example = (name: string): unknown =>
  JSON.parse(fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8'))

const EXAMPLES: Record<string, z.ZodType> = {
  hello: Hello,
  heartbeat: Heartbeat,
  event: DeviceEvent,
  'event-end': DeviceEvent,
  status: Status,
  cmd: Command,
  'cmd-ack': CommandAck,
  config: ConfigDesired,
  'config-reported': ConfigReported,
  'config-refused': ConfigReported,
}

describe('proto examples', () => {
  it('every example file parses with its schema', () => {
    const files = fs.readdirSync(path.join(root, 'examples')).map((f) => f.replace(/\.json$/, ''))
    expect(files.sort()).toEqual(Object.keys(EXAMPLES).sort())
    for (const [name, schema] of Object.entries(EXAMPLES)) {
      const r = schema.safeParse(example(name))
      expect(r.success, `${name}: ${r.success ? '' : r.error.message}`).toBe(true)
    }
  })

  it('the README documents every topic with its QoS and an example that exists', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
    for (const [kind, t] of Object.entries(TOPICS)) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${t.pattern}\``))
      expect(row, `README row for ${kind}`).toBeDefined()
      const cells = (row as string).split('|').map((c) => c.trim())
      expect(cells[3], `QoS of ${kind}`).toBe(String(t.qos))
      expect(cells[4], `retained of ${kind}`).toBe(t.retain ? 'yes' : 'no')
      for (const m of (row as string).matchAll(/\(examples\/([a-z-]+)\.json\)/g)) {
        expect(fs.existsSync(path.join(root, 'examples', `${m[1]}.json`))).toBe(true)
      }
    }
  })
})

describe('proto schemas refuse bad payloads', () => {
  const hb = example('heartbeat') as Record<string, unknown>
  const ev = example('event') as Record<string, unknown>

  it.each([
    ['missing v', { ...hb, v: undefined }],
    ['wrong version', { ...hb, v: 2 }],
    ['string number', { ...hb, uptimeS: '86400' }],
    ['negative storage', { ...hb, storageFreeMb: -1 }],
    ['signal out of range', { ...hb, signalDbm: 12 }],
    ['fractional ts', { ...hb, ts: 1.5 }],
  ])('heartbeat: %s', (_name, payload) => {
    expect(Heartbeat.safeParse(payload).success).toBe(false)
  })

  it.each([
    ['event id not a uuid', { ...ev, eventId: 'abc' }],
    ['unknown kind', { ...ev, kind: 'ghost' }],
    ['score above 1', { ...ev, score: 1.5 }],
    ['clip hash not hex', { ...ev, clip: { bytes: 1, sha256: 'zz', durationMs: 1, codec: 'h264' } }],
  ])('event: %s', (_name, payload) => {
    expect(DeviceEvent.safeParse(payload).success).toBe(false)
  })

  it('accepts extra fields from newer firmware and strips them', () => {
    const r = Heartbeat.parse({ ...hb, fanRpm: 1200 })
    expect(r).not.toHaveProperty('fanRpm')
  })

  it('defaults an event phase to start', () => {
    const { phase: _p, ...noPhase } = ev
    expect(DeviceEvent.parse(noPhase).phase).toBe('start')
  })

  it('commands are a closed union', () => {
    expect(Command.safeParse({ ...(example('cmd') as object), action: 'format-disk' }).success).toBe(false)
  })
})

describe('unit configuration', () => {
  const desired = example('config') as { config: Record<string, unknown> } & Record<string, unknown>
  const reported = example('config-reported') as Record<string, unknown>

  it.each([
    ['heartbeat interval below 10 s', { ...desired.config, heartbeatIntervalS: 5 }],
    ['sensitivity above 100', { ...desired.config, motion: { sensitivity: 101, zones: [] } }],
    ['zone outside the frame', { ...desired.config, motion: { zones: [{ x: 0.8, y: 0, w: 0.5, h: 0.5 }] } }],
    ['nine zones', { ...desired.config, motion: { zones: Array(9).fill({ x: 0, y: 0, w: 1, h: 1 }) } }],
    [
      'bad time of day',
      { ...desired.config, recording: { windows: [{ from: '24:00', to: '06:00', mode: 'off' }] } },
    ],
    ['clip of 2 minutes', { ...desired.config, clipLengthS: 120 }],
  ])('desired: %s is refused', (_name, config) => {
    expect(ConfigDesired.safeParse({ ...desired, config }).success).toBe(false)
  })

  it('fills every field a configuration leaves out with its default', () => {
    const r = ConfigDesired.parse({ ...desired, config: { nightMode: 'on' } })
    expect(r.config).toEqual({
      heartbeatIntervalS: 30,
      motion: { sensitivity: 50, zones: [] },
      recording: { default: 'motion', windows: [] },
      clipLengthS: 10,
      uploadKbps: 2048,
      nightMode: 'on',
    })
  })

  it('a refusal needs its reason; version 0 is never sent', () => {
    expect(ConfigReported.safeParse({ ...reported, applied: false }).success).toBe(false)
    expect(ConfigDesired.safeParse({ ...desired, version: 0 }).success).toBe(false)
  })

  it('a change refuses unknown fields and an empty change, and lays itself one level deep', () => {
    expect(UnitConfigPatch.safeParse({ heartbeatInterval: 60 }).success).toBe(false)
    expect(UnitConfigPatch.safeParse({}).success).toBe(false)
    const base = ConfigDesired.parse(desired).config
    const next = applyConfigPatch(base, UnitConfigPatch.parse({ motion: { sensitivity: 10 } }))
    expect(next.motion).toEqual({ sensitivity: 10, zones: base.motion.zones })
    expect(next.heartbeatIntervalS).toBe(base.heartbeatIntervalS)
  })
})

describe('topics', () => {
  it('round-trips every topic kind', () => {
    for (const kind of Object.keys(TOPICS) as TopicKind[]) {
      expect(parseTopic(topicFor(kind, 'cam-00042'))).toEqual({ deviceId: 'cam-00042', kind })
    }
  })

  it.each([
    'cam/cam-1/heartbeat/extra',
    'cam/c/heartbeat',
    'cam/bad id/heartbeat',
    'cam/cam-0001/constructor',
    'cam/cam-0001/__proto__',
    'cam//heartbeat',
    'other/cam-0001/heartbeat',
    'cam/cam-0001',
  ])('refuses %s', (topic) => {
    expect(parseTopic(topic)).toBeNull()
  })
})
