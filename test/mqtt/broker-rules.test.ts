import path from 'node:path'
import { duplexPair } from 'node:stream'
import { topicFor } from '@doorstep/proto'
import type { AedesPersistence } from 'aedes-persistence'
import type { MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Config, configFrom } from '../../gateway/src/config.js'
import { sqliteSharedDb } from '../../gateway/src/db/index.js'
import { type Db, openDb } from '../../gateway/src/db/sqlite.js'
import { type BusEvents, EventBus } from '../../gateway/src/event-bus.js'
import { Events } from '../../gateway/src/events/events.js'
import type { LineSink } from '../../gateway/src/ingest/batch-writer.js'
import { Ingest } from '../../gateway/src/ingest/ingest.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics, type Metrics } from '../../gateway/src/metrics.js'
import { MqttBroker } from '../../gateway/src/mqtt/broker.js'
import { StoredDeviceRegistry } from '../../gateway/src/registry/stored-registry.js'
import { deviceRow } from '../helpers/devices.js'
import {
  connectPacket,
  connectUnit,
  end,
  granted,
  overDuplex,
  publish,
  refusedCode,
  type UnitTarget,
} from '../helpers/mqtt.js'
import { event, heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

/** Lines the pipeline would write to InfluxDB; these tests are about who may publish, not the write. */
class NullSink implements LineSink {
  async writeLines(): Promise<void> {}
}

/**
 * The broker's rules for units, each checked in milliseconds: the gateway's
 * own broker, registry and ingest, with units speaking MQTT to `aedes.handle`
 * over an in-memory duplex pair. The same rules over real TCP are in the
 * gateway's skeleton test and the simulator's fleet tests.
 */
describe('MQTT broker rules (gateway broker over an in-memory duplex)', () => {
  const log = createLogger('silent')
  const tmp = tempDir('doorstep-broker-')
  let db: Db
  let bus: EventBus
  let metrics: Metrics
  let config: Config
  let registry: StoredDeviceRegistry
  let ingest: Ingest
  let broker: MqttBroker
  let target: UnitTarget
  const clients: MqttClient[] = []
  const seen: Array<{ name: keyof BusEvents; id: string; detail?: string }> = []
  /** Topics units got through the broker, as aedes routed them. */
  const routed: string[] = []

  const unit = async (id: string, over: Parameters<typeof deviceRow>[0] = {}) =>
    registry.create(deviceRow({ id, ...over }))
  const connect = async (id: string, secret: string, extra = {}) => {
    const c = await connectUnit(target, id, secret, extra)
    clients.push(c)
    return c
  }
  const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()))
  const foreignTopicCount = async () =>
    (await metrics.invalid.get()).values.find((v) => v.labels.reason === 'foreign-topic')?.value ?? 0

  const brokerOver = (cfg: Config) => new MqttBroker({ config: cfg, registry, ingest, bus, log, metrics })

  beforeAll(async () => {
    config = configFrom({
      DOORSTEP_DATA_DIR: tmp.dir,
      DOORSTEP_MQTT_PORT: 0,
      DOORSTEP_HTTP_PORT: 0,
      DOORSTEP_LOG_LEVEL: 'silent',
      // The takeover tests here reconnect at once; the hold has its own test below.
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
    })
    db = openDb(path.join(tmp.dir, 'doorstep.db'))
    // The spool's worker writes the event index: the table is made first, as in the gateway.
    new Events({ db, log, retentionDays: 365, held: () => new Set() }).start()
    registry = new StoredDeviceRegistry(sqliteSharedDb(db))
    await registry.load()
    bus = new EventBus(log)
    metrics = createMetrics()
    bus.on('device.connected', ({ deviceId }) => seen.push({ name: 'device.connected', id: deviceId }))
    bus.on('device.disconnected', ({ deviceId, reason }) =>
      seen.push({ name: 'device.disconnected', id: deviceId, detail: reason }),
    )
    bus.on('device.heartbeat', ({ device, heartbeat: hb }) =>
      seen.push({ name: 'device.heartbeat', id: device.id, detail: String(hb.uptimeS) }),
    )
    ingest = new Ingest({ config, registry, bus, log, metrics, sink: new NullSink() })
    await ingest.start()
    broker = brokerOver(config)
    await broker.start()
    const aedes = broker.aedes
    if (!aedes) throw new Error('broker did not start')
    aedes.on('publish', (packet, client) => {
      if (client) routed.push(packet.topic)
    })
    target = overDuplex(aedes)
  })
  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true)
  })
  afterAll(async () => {
    await broker?.stop()
    await ingest?.stop()
    db?.close()
    tmp.cleanup()
  })

  it('refuses bad credentials with the CONNACK code of MQTT 3.1.1 section 3.2.2.3', async () => {
    const u = await unit('cam-br-creds')
    const off = await unit('cam-br-off')
    // A wrong secret sends its unit id into a backoff (tested below): another unit takes it here.
    const wrong = await unit('cam-br-creds-wrong')
    await registry.setEnabled(off.id, false)
    expect(await refusedCode(target, wrong.id, `${wrong.secret}x`)).toBe(4)
    expect(await refusedCode(target, 'cam-br-nobody', u.secret)).toBe(4)
    expect(await refusedCode(target, u.id, '')).toBe(4)
    expect(await refusedCode(target, off.id, off.secret)).toBe(5)
    // Client id and user name must be the same device id.
    expect(await refusedCode(target, u.id, u.secret, { clientId: 'cam-br-other' })).toBe(2)
    expect(await refusedCode(target, 'not a device id', u.secret, { username: 'not a device id' })).toBe(2)
    // A will must be the unit's own status topic.
    const foreignWill = {
      topic: topicFor('status', 'cam-br-off'),
      payload: Buffer.from('{}'),
      qos: 1 as const,
      retain: false,
    }
    expect(await refusedCode(target, u.id, u.secret, { will: foreignWill })).toBe(5)
    expect(seen.filter((e) => e.name === 'device.connected' && e.id === u.id)).toEqual([])
    // And the right secret gets in.
    const c = await connect(u.id, u.secret, { will: { ...foreignWill, topic: topicFor('status', u.id) } })
    expect(c.connected).toBe(true)
    await expect.poll(() => broker.isConnected(u.id)).toBe(true)
  })

  it('takes a publish on the unit’s own topics into ingest before the PUBACK', async () => {
    const u = await unit('cam-br-own')
    const c = await connect(u.id, u.secret)
    await publish(c, topicFor('heartbeat', u.id), heartbeat({ uptimeS: 1111 }), 1)
    expect(seen).toContainEqual({ name: 'device.heartbeat', id: u.id, detail: '1111' })
  })

  it('cuts off a unit publishing on another unit’s topic, or on a topic only the gateway sends on; nothing reaches ingest', async () => {
    const u = await unit('cam-br-thief')
    const victim = await unit('cam-br-victim')
    for (const topic of [topicFor('heartbeat', victim.id), topicFor('cmd', u.id)]) {
      const before = await foreignTopicCount()
      const c = await connect(u.id, u.secret)
      const gone = closed(c)
      c.publish(topic, JSON.stringify(heartbeat({ uptimeS: 2222 })), { qos: 1 })
      await gone
      expect(await foreignTopicCount()).toBe(before + 1)
      expect(routed).not.toContain(topic)
    }
    expect(seen.filter((e) => e.name === 'device.heartbeat' && e.detail === '2222')).toEqual([])
  })

  it('refuses a publish on $SYS (reserved for the broker, MQTT 3.1.1 section 4.7.2)', async () => {
    const u = await unit('cam-br-sys')
    const c = await connect(u.id, u.secret)
    const before = await foreignTopicCount()
    const gone = closed(c)
    c.publish('$SYS/doorstep/forged', 'x', { qos: 1 })
    await gone
    expect(routed.filter((t) => t.startsWith('$SYS/'))).toEqual([])
    // Refused by the $SYS rule itself, before the check of the unit's own topics.
    expect(await foreignTopicCount()).toBe(before)
  })

  it('grants a unit only its own command topic', async () => {
    const u = await unit('cam-br-sub')
    const c = await connect(u.id, u.secret)
    const grant = (topic: string) => granted(c, topic)
    expect(await grant(topicFor('cmd', u.id))).toBe(1)
    expect(await grant('cam/+/event')).toBe(128)
    expect(await grant('#')).toBe(128)
    expect(await grant('$SYS/#')).toBe(128)
    expect(await grant(topicFor('cmd', 'cam-br-victim'))).toBe(128)
    expect(await grant(topicFor('status', u.id))).toBe(128)
  })

  it('tells a clean disconnect and a lost link apart; after a takeover the unit stands connected', async () => {
    const u = await unit('cam-br-conn')
    const told = () =>
      seen
        .filter((e) => e.id === u.id && e.name !== 'device.heartbeat')
        .map((e) => `${e.name}${e.detail ? `:${e.detail}` : ''}`)
    const first = await connect(u.id, u.secret)
    const second = await connect(u.id, u.secret)
    await expect.poll(() => first.connected).toBe(false)
    await expect.poll(() => broker.isConnected(u.id)).toBe(true)
    // aedes ends the old session before the new one is ready; whatever it said of the old one, the new one is told last.
    await expect.poll(() => told().at(-1)).toBe('device.connected')
    const afterTakeover = told().length
    await end(second)
    await expect.poll(() => told().slice(afterTakeover)).toEqual(['device.disconnected:clean'])
    expect(broker.isConnected(u.id)).toBe(false)
    const lost = await connect(u.id, u.secret)
    // aedes tells a client ready a moment after its CONNACK; a link lost before that is another case.
    await expect.poll(() => broker.isConnected(u.id)).toBe(true)
    lost.stream.destroy()
    await expect
      .poll(() => told().slice(afterTakeover))
      .toEqual(['device.disconnected:clean', 'device.connected', 'device.disconnected:will'])
  })

  it('leaves no ghost when the link drops the moment CONNACK arrives', async () => {
    const u = await unit('cam-br-ghost')
    const aedes = broker.aedes
    if (!aedes) throw new Error('broker is not running')
    for (let i = 0; i < 20; i++) {
      const [unitSide, brokerSide] = duplexPair()
      unitSide.once('close', () => brokerSide.destroy())
      brokerSide.once('close', () => unitSide.destroy())
      aedes.handle(brokerSide)
      await new Promise<void>((resolve) => {
        unitSide.once('data', () => {
          unitSide.destroy()
          resolve()
        })
        unitSide.write(connectPacket(u.id, u.secret))
      })
    }
    // A later unit's session proves the broker got past those connections' ends.
    const later = await unit('cam-br-ghost-later')
    clients.push(await connect(later.id, later.secret))
    await expect.poll(() => broker.isConnected(later.id)).toBe(true)
    expect(broker.isConnected(u.id)).toBe(false)
  })

  /** Topics and payloads the broker keeps retained for `pattern`, read from its store. */
  const retainedFor = async (pattern: string) => {
    const store = (broker.aedes as unknown as { persistence: AedesPersistence }).persistence
    const out: Array<{ topic: string; payload: string }> = []
    for await (const p of store.createRetainedStreamCombi([pattern]))
      out.push({ topic: p.topic, payload: String(p.payload) })
    return out
  }
  const status = (state: 'online' | 'offline') => ({ v: 1, ts: Date.now(), state })

  it('keeps a retained message only on a unit’s status topic, and never an invalid one', async () => {
    const u = await unit('cam-br-retain')
    const c = await connect(u.id, u.secret)
    const online = status('online')
    await publish(c, topicFor('event', u.id), event(), 1, true)
    await publish(c, topicFor('heartbeat', u.id), heartbeat(), 1, true)
    await publish(c, topicFor('status', u.id), online, 1, true)
    // A status that is not one: acknowledged, and the valid one stays retained.
    await publish(c, topicFor('status', u.id), 'not json', 1, true)
    const kept = [{ topic: topicFor('status', u.id), payload: JSON.stringify(online) }]
    // aedes stores a retained message after the PUBACK, and emits `publish` once it has.
    await expect.poll(() => routed.filter((t) => t === topicFor('status', u.id)).length).toBe(2)
    // A wildcard reads the whole store; an exact topic the keyed lookup beside it (exact-retained.ts).
    expect(await retainedFor(`cam/${u.id}/+`)).toEqual(kept)
    for (const kind of ['event', 'heartbeat'] as const)
      expect(await retainedFor(topicFor(kind, u.id))).toEqual([])
    expect(await retainedFor(topicFor('status', u.id))).toEqual(kept)
    expect(c.connected).toBe(true)
  })

  it('routes nothing a unit reports but a valid status, though the unit is acknowledged and stays connected', async () => {
    const aedes = broker.aedes
    if (!aedes) throw new Error('broker is stopped')
    const u = await unit('cam-br-fwd')
    const ops = await unit('cam-br-watcher')
    // The unit ACL lets no one watch a unit's topics; this subscriber stands for one that could (an
    // operator's tool, a bridge), so what the broker would route can be seen.
    const unitRules = aedes.authorizeSubscribe
    aedes.authorizeSubscribe = (client, sub, done) =>
      client?.id === ops.id ? done(null, sub) : unitRules(client, sub, done)
    try {
      const watcher = await connect(ops.id, ops.secret)
      const got: string[] = []
      watcher.on('message', (topic, payload) => got.push(`${topic} ${String(payload)}`))
      expect(await granted(watcher, `cam/${u.id}/+`)).toBe(1)
      const c = await connect(u.id, u.secret)
      // Reports no one may subscribe to go to ingest only, valid or not.
      await publish(c, topicFor('heartbeat', u.id), 'not json', 1)
      await publish(c, topicFor('event', u.id), { ...event(), score: 7 }, 1)
      await publish(c, topicFor('heartbeat', u.id), JSON.stringify(heartbeat({ uptimeS: 777 })), 1)
      // The status is routed (and retained), unless it is invalid.
      await publish(c, topicFor('status', u.id), '{"v":1,"state":"sideways"}', 1)
      const valid = JSON.stringify({ v: 1, ts: Date.now(), state: 'online' })
      await publish(c, topicFor('status', u.id), valid, 1)
      // The valid status, sent last, arrives: everything else had its turn before it.
      await expect.poll(() => got).toContain(`${topicFor('status', u.id)} ${valid}`)
      expect(got).toEqual([`${topicFor('status', u.id)} ${valid}`])
      expect(c.connected).toBe(true)
    } finally {
      aedes.authorizeSubscribe = unitRules
    }
  })

  it('applies at most 6 hellos per unit per minute; the rest are acknowledged and counted, not applied', async () => {
    // The hello window reads the wall clock; frozen, it moves only when the test moves it.
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const u = await unit('cam-br-hello')
      const c = await connect(u.id, u.secret)
      const dropped = async () => (await metrics.hellosDropped.get()).values[0]?.value ?? 0
      const before = await dropped()
      const hello = (model: string) => ({
        v: 1,
        ts: Date.now(),
        model,
        firmware: '3.0.0',
        capabilities: ['motion'],
      })
      for (let i = 0; i < 8; i++) await publish(c, topicFor('hello', u.id), hello(`DS-rand-${i}`), 1)
      expect(registry.get(u.id)?.model).toBe('DS-rand-5')
      expect(await dropped()).toBe(before + 2)
      expect(c.connected).toBe(true)
      vi.setSystemTime(Date.now() + 60_000)
      await publish(c, topicFor('hello', u.id), hello('DS-C6N'), 1)
      expect(registry.get(u.id)?.model).toBe('DS-C6N')
      expect(await dropped()).toBe(before + 2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('admits connections at the configured rate: the excess gets CONNACK 3 until the bucket refills', async () => {
    // The admission bucket reads the wall clock; frozen, it refills only when the test moves it.
    vi.useFakeTimers({ toFake: ['Date'] })
    const limited = brokerOver({ ...config, admission: { ...config.admission, connectRate: 2 } })
    try {
      await limited.start()
      const aedes = limited.aedes
      if (!aedes) throw new Error('broker did not start')
      const via = overDuplex(aedes)
      const units = await Promise.all(['cam-br-adm-1', 'cam-br-adm-2', 'cam-br-adm-3'].map((id) => unit(id)))
      const [a, b, c] = units as [(typeof units)[0], (typeof units)[0], (typeof units)[0]]
      clients.push(await connectUnit(via, a.id, a.secret), await connectUnit(via, b.id, b.secret))
      expect(await refusedCode(via, c.id, c.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 499)
      expect(await refusedCode(via, c.id, c.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 1)
      clients.push(await connectUnit(via, c.id, c.secret))
    } finally {
      vi.useRealTimers()
      await limited.stop()
    }
  })
  /** A broker of its own with other admission settings, driven with a frozen wall clock. */
  const withAdmission = async (
    admission: Partial<Config['admission']>,
    run: (via: UnitTarget) => Promise<void>,
  ): Promise<void> => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const b = brokerOver({ ...config, admission: { ...config.admission, ...admission } })
    try {
      await b.start()
      const aedes = b.aedes
      if (!aedes) throw new Error('broker did not start')
      await run(overDuplex(aedes))
    } finally {
      vi.useRealTimers()
      await b.stop()
    }
  }

  it('refuses unknown ids before the admission budget: a scan of ids leaves room for real units', async () => {
    await withAdmission({ connectRate: 2 }, async (via) => {
      for (let i = 0; i < 10; i++) expect(await refusedCode(via, `cam-br-nobody-${i}`, 'guess')).toBe(4)
      const [a, b] = await Promise.all(['cam-br-scan-1', 'cam-br-scan-2'].map((id) => unit(id)))
      if (!a || !b) throw new Error('units not made')
      clients.push(await connectUnit(via, a.id, a.secret), await connectUnit(via, b.id, b.secret))
    })
  })

  it('spends one address’s budget, not the fleet’s', async () => {
    // Over the duplex pair every client has the same (unknown) address.
    await withAdmission({ connectRate: 100, connectRatePerAddress: 2 }, async (via) => {
      const units = await Promise.all(
        ['cam-br-addr-1', 'cam-br-addr-2', 'cam-br-addr-3'].map((id) => unit(id)),
      )
      const [a, b, c] = units as [(typeof units)[0], (typeof units)[0], (typeof units)[0]]
      clients.push(await connectUnit(via, a.id, a.secret), await connectUnit(via, b.id, b.secret))
      expect(await refusedCode(via, c.id, c.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 500)
      clients.push(await connectUnit(via, c.id, c.secret))
    })
  })

  it('backs off a unit id that keeps failing its secret: no secret check until the wait is over', async () => {
    await withAdmission({}, async (via) => {
      const u = await unit('cam-br-backoff')
      // Two wrong secrets in a row are let through to the check (a unit may try an old one after a rotation).
      expect(await refusedCode(via, u.id, 'wrong-secret')).toBe(4)
      expect(await refusedCode(via, u.id, 'wrong-again')).toBe(4)
      expect(await refusedCode(via, u.id, 'wrong-thrice')).toBe(4)
      // Within the next second even the right secret is not checked.
      expect(await refusedCode(via, u.id, u.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 1000)
      expect(await refusedCode(via, u.id, 'wrong-four')).toBe(4)
      // The next failure doubles the wait.
      vi.setSystemTime(Date.now() + 1000)
      expect(await refusedCode(via, u.id, u.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 1000)
      clients.push(await connectUnit(via, u.id, u.secret))
    })
  })

  it('does not let a connection take over a session younger than the hold', async () => {
    await withAdmission({ takeoverHoldMs: 10_000 }, async (via) => {
      const u = await unit('cam-br-hold')
      const live = await connectUnit(via, u.id, u.secret)
      clients.push(live)
      expect(await refusedCode(via, u.id, u.secret)).toBe(3)
      vi.setSystemTime(Date.now() + 9_999)
      expect(await refusedCode(via, u.id, u.secret)).toBe(3)
      expect(live.connected).toBe(true)
      vi.setSystemTime(Date.now() + 1)
      clients.push(await connectUnit(via, u.id, u.secret))
      await expect.poll(() => live.connected).toBe(false)
    })
  })
})
