import { topicFor } from '@doorstep/proto'
import type { AedesPersistence } from 'aedes-persistence'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { configFrom } from '../../gateway/src/config.js'
import { type DoorstepError, isDoorstepError } from '../../gateway/src/errors.js'
import { Gateway, type GatewayOptions } from '../../gateway/src/gateway.js'
import { unitOnAll } from '../helpers/cluster.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { capturingLogger } from '../helpers/log.js'
import { connectUnit, end, granted, nextMessage, publish, refusedCode } from '../helpers/mqtt.js'
import { stablePort } from '../helpers/ports.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * Two gateways sharing one real Redis (`DOORSTEP_REDIS_URL`), units on real TCP: a command, a retained
 * status and a persistent session reach a unit whichever gateway it is connected to, and a unit that
 * moves takes its session with it. Until the registry is shared too, each unit is provisioned on both.
 */
describe('MQTT across gateways sharing Redis', () => {
  let redis: TestRedis
  let a: TestGateway
  let b: TestGateway
  let spy: Redis
  const clients: MqttClient[] = []

  const logOfA = capturingLogger()
  const node = (id: string, opts: GatewayOptions = {}) =>
    startTestGateway(
      {
        DOORSTEP_REDIS_URL: redis.url,
        DOORSTEP_NODE_ID: id,
        // Units here move between the nodes at once; the hold has its own tests on one node.
        DOORSTEP_TAKEOVER_HOLD_MS: 0,
      },
      opts,
    )

  const unitOnBoth = (id: string) => unitOnAll(a, [b], id)
  const connect = async (gw: TestGateway, id: string, secret: string, extra = {}) => {
    const c = await connectUnit(gw.gateway.mqttUrl, id, secret, extra)
    clients.push(c)
    return c
  }
  /**
   * Pings the unit from node a every 100 ms (at most 100 times) until one arrives: while routing
   * recovers, a publish may reach no one. The message that arrived.
   */
  const pingUntilDelivered = async (unit: MqttClient, id: string, prefix: string) => {
    const got = nextMessage(unit, topicFor('cmd', id))
    let delivered = false
    void got.then(() => {
      delivered = true
    })
    for (let i = 0; i < 100 && !delivered; i++) {
      await a.gateway.broker
        .publish(topicFor('cmd', id), `{"v":1,"id":"${prefix}${i}","cmd":"ping"}`, { qos: 0 })
        .catch(() => {})
      await new Promise((r) => setTimeout(r, 100))
    }
    return got
  }
  const retainedOn = async (gw: Gateway, topic: string) => {
    const store = (gw.broker.aedes as unknown as { persistence: AedesPersistence }).persistence
    const out: string[] = []
    for await (const p of store.createRetainedStreamCombi([topic])) out.push(String(p.payload))
    return out
  }
  const status = (state: 'online' | 'offline') => ({ v: 1, ts: Date.now(), state })

  beforeAll(async () => {
    redis = await startTestRedis()
    a = await node('node-a', { log: logOfA.log })
    b = await node('node-b')
    spy = new Redis(redis.url)
    // Its reconnects while Redis restarts are expected; ioredis prints unheard errors.
    spy.on('error', () => {})
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await a?.stop()
    await b?.stop()
    spy?.disconnect()
    await redis?.stop()
  })

  it('names the node in its log lines', () => {
    const shared = logOfA
      .text()
      .split('\n')
      .filter((l) => l.includes('MQTT routing and sessions shared through Redis'))
    expect(shared).toHaveLength(1)
    expect(JSON.parse(shared[0] ?? '{}')).toMatchObject({ node: 'node-a', redis: redis.url })
  })

  it('labels every metric series with its node, so one Prometheus keeps the nodes apart', async () => {
    const text = await a.gateway.metrics.scrape()
    const series = text.split('\n').filter((l) => l.startsWith('doorstep_'))
    expect(series.length).toBeGreaterThan(20)
    expect(series.filter((l) => !l.includes('node="node-a"'))).toEqual([])
    expect(await b.gateway.metrics.scrape()).toContain('doorstep_units{state="online",node="node-b"}')
  })

  it('delivers a command published on one gateway to a unit connected to the other', async () => {
    const u = await unitOnBoth('cam-cl-route')
    const unit = await connect(b, u.id, u.secret)
    expect(await granted(unit, topicFor('cmd', u.id))).toBe(1)
    const got = nextMessage(unit, topicFor('cmd', u.id))
    await a.gateway.broker.publish(topicFor('cmd', u.id), '{"v":1,"id":"c1","cmd":"ping"}', { qos: 1 })
    expect(JSON.parse(await got)).toMatchObject({ id: 'c1' })
  })

  it('keeps a unit’s retained status where every gateway sees it', async () => {
    const u = await unitOnBoth('cam-cl-retain')
    const unit = await connect(a, u.id, u.secret)
    const online = status('online')
    await publish(unit, topicFor('status', u.id), online, 1, true)
    await expect.poll(() => retainedOn(b.gateway, topicFor('status', u.id))).toEqual([JSON.stringify(online)])
  })

  it('keeps a persistent session and its queued QoS 1 command when the unit comes back to the other gateway', async () => {
    const u = await unitOnBoth('cam-cl-session')
    const first = await connect(a, u.id, u.secret, { clean: false })
    expect(await granted(first, topicFor('cmd', u.id))).toBe(1)
    await end(first)
    await expect.poll(() => a.gateway.broker.isConnected(u.id)).toBe(false)
    // Away: the command waits in its session, in Redis.
    await b.gateway.broker.publish(topicFor('cmd', u.id), '{"v":1,"id":"queued","cmd":"ping"}', { qos: 1 })
    // Listening before CONNACK: the queued command may follow it in the same read.
    const back = mqtt.connect(b.gateway.mqttUrl, {
      clientId: u.id,
      username: u.id,
      password: u.secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
      clean: false,
    })
    clients.push(back)
    const got = nextMessage(back, topicFor('cmd', u.id))
    const sessionPresent = new Promise<boolean>((resolve) =>
      back.once('connect', (ack) => resolve(ack.sessionPresent)),
    )
    expect(await sessionPresent).toBe(true)
    expect(JSON.parse(await got)).toMatchObject({ id: 'queued' })
  })

  it('moves a unit that reconnects to the other gateway: the old one drops its connection, will unsent', async () => {
    const u = await unitOnBoth('cam-cl-takeover')
    const statusTopic = topicFor('status', u.id)
    const offline = JSON.stringify(status('offline'))
    const onA: string[] = []
    const offA = a.gateway.bus.on('device.disconnected', (e) => onA.push(e.deviceId))
    // Every publish on the status topic, from any gateway, as B's broker routes it.
    const seen: string[] = []
    b.gateway.broker.aedes?.subscribe(
      statusTopic,
      (packet, done) => {
        seen.push(String(packet.payload))
        done()
      },
      () => {},
    )
    const old = await connect(a, u.id, u.secret, {
      will: { topic: statusTopic, payload: Buffer.from(offline), qos: 1, retain: true },
    })
    const online = status('online')
    await publish(old, statusTopic, online, 1, true)
    await expect.poll(() => a.gateway.broker.isConnected(u.id)).toBe(true)
    const aId = a.gateway.broker.aedes?.id
    const willKey = `will:${aId}:${u.id}`
    expect(await spy.exists(willKey)).toBe(1)
    const oldClosed = new Promise<void>((resolve) => old.once('close', () => resolve()))

    const moved = await connect(b, u.id, u.secret)
    await oldClosed
    await expect.poll(() => b.gateway.broker.isConnected(u.id)).toBe(true)
    await expect.poll(() => a.gateway.broker.isConnected(u.id)).toBe(false)
    // The will is deleted once the old node has decided on it: published or not, it is decided by then.
    await expect.poll(() => spy.exists(willKey)).toBe(0)
    // A publish on the new node behind it proves the routing got past any will the old node sent.
    const later = status('online')
    await publish(moved, statusTopic, later, 1, true)
    await expect.poll(() => seen.at(-1)).toBe(JSON.stringify(later))
    expect(seen).not.toContain(offline)
    expect(await retainedOn(b.gateway, statusTopic)).toEqual([JSON.stringify(later)])
    // The unit is not offline: the old node says nothing of it on its bus.
    expect(onA).not.toContain(u.id)
    const takeovers = (await a.gateway.metrics.disconnects.get()).values.find(
      (v) => v.labels.reason === 'takeover' && v.labels.stage === 'session',
    )
    expect(takeovers?.value).toBeGreaterThanOrEqual(1)
    offA()
  })

  /** A gateway's authorizePublish, called as aedes calls it for a will: with the unit's client here, or null. */
  const judgeWill = (gw: TestGateway, clientId: string | null, will: { retain: boolean }) => {
    const aedes = gw.gateway.broker.aedes as unknown as {
      clients: Record<string, unknown>
      authorizePublish: (client: unknown, packet: object, done: (err?: Error | null) => void) => void
    }
    const client = clientId === null ? null : aedes.clients[clientId]
    return new Promise<Error | null | undefined>((resolve) => aedes.authorizePublish(client, will, resolve))
  }
  /** A will as the store keeps it for a gateway that is gone (aedes publishes those after three missed heartbeats). */
  const deadNodeWill = (id: string) => ({
    cmd: 'publish',
    topic: topicFor('status', id),
    payload: Buffer.from(JSON.stringify(status('offline'))),
    qos: 1,
    retain: true,
    clientId: id,
    brokerId: 'node-gone.0badf00d',
  })

  it('defuses a dead gateway’s will for a unit connected since, here or on another gateway', async () => {
    const u = await unitOnBoth('cam-cl-deadwill')
    await connect(b, u.id, u.secret)
    await expect.poll(() => b.gateway.broker.isConnected(u.id)).toBe(true)
    // B holds the unit: aedes hands B the will with the unit's live client.
    const onB = deadNodeWill(u.id)
    expect(await judgeWill(b, u.id, onB)).toBeNull()
    expect(onB.retain).toBe(false)
    // A holds nothing of it: the unit's entry in Redis names B.
    const onA = deadNodeWill(u.id)
    await expect.poll(() => spy.get(`doorstep:unit-broker:${u.id}`)).toBe(b.gateway.broker.aedes?.id)
    expect(await judgeWill(a, null, onA)).toBeNull()
    expect(onA.retain).toBe(false)
  })

  it('publishes a dead gateway’s will as it is when the unit has not come back', async () => {
    const u = await unitOnBoth('cam-cl-deadwill-away')
    const unit = await connect(b, u.id, u.secret)
    await end(unit)
    // The entry goes with the session.
    await expect.poll(() => spy.exists(`doorstep:unit-broker:${u.id}`)).toBe(0)
    const will = deadNodeWill(u.id)
    expect(await judgeWill(a, null, will)).toBeNull()
    expect(will.retain).toBe(true)
  })

  it('routes again by itself after Redis restarts', async () => {
    const u = await unitOnBoth('cam-cl-restart')
    const unit = await connect(b, u.id, u.secret)
    expect(await granted(unit, topicFor('cmd', u.id))).toBe(1)
    await redis.restart()
    // The subscription is renewed on reconnect; until then a publish reaches no one, so try a few times.
    expect(JSON.parse(await pingUntilDelivered(unit, u.id, 'r'))).toMatchObject({ cmd: 'ping' })
  })

  it('fails a command with an error while Redis is down, routes again when it is back, and stops without it', async () => {
    const u = await unitOnBoth('cam-cl-outage')
    const late = await unitOnBoth('cam-cl-outage-late')
    const unit = await connect(b, u.id, u.secret)
    expect(await granted(unit, topicFor('cmd', u.id))).toBe(1)
    const c = await node('node-c')
    await redis.down()
    // Longer than ioredis' quick reconnects: the gateways see it down, and say so rather than hang.
    const t0 = Date.now()
    await expect(
      a.gateway.broker.publish(topicFor('cmd', u.id), '{"v":1,"id":"lost","cmd":"ping"}', { qos: 1 }),
    ).rejects.toThrow()
    expect(Date.now() - t0).toBeLessThan(10_000)
    // A unit connecting now is asked to come back later; the one connected stays.
    expect(await refusedCode(b.gateway.mqttUrl, late.id, late.secret)).toBe(3)
    expect(unit.connected).toBe(true)
    // A gateway stopped meanwhile does not wait for Redis.
    const t1 = Date.now()
    await c.stop()
    expect(Date.now() - t1).toBeLessThan(15_000)
    await redis.up()
    expect(JSON.parse(await pingUntilDelivered(unit, u.id, 'back'))).toMatchObject({ cmd: 'ping' })
  })
})

describe('a gateway whose Redis is down at start', () => {
  it('refuses to start with DOORSTEP_ERR_REDIS_UNAVAILABLE, naming where, never the password', async () => {
    const port = await stablePort()
    const tmp = tempDir('doorstep-gw-')
    const captured = capturingLogger()
    const gateway = new Gateway(
      configFrom({
        DOORSTEP_DATA_DIR: tmp.dir,
        DOORSTEP_HTTP_PORT: 0,
        DOORSTEP_MQTT_PORT: 0,
        DOORSTEP_INFLUX_URL: inject('influxUrl'),
        DOORSTEP_INFLUX_DB: `t_${process.pid}_redis_down`,
        DOORSTEP_ADMIN_TOKEN: 'adm_0123456789abcdef',
        DOORSTEP_REDIS_URL: `redis://:hunter2-not-logged@127.0.0.1:${port}/0`,
      }),
      { log: captured.log },
    )
    try {
      const err = (await gateway.start().then(
        () => null,
        (e: unknown) => e,
      )) as DoorstepError | null
      expect(isDoorstepError(err)).toBe(true)
      expect(err?.code).toBe('DOORSTEP_ERR_REDIS_UNAVAILABLE')
      expect(err?.message).toContain(`redis://127.0.0.1:${port}`)
      expect(err?.message).toContain('ECONNREFUSED')
      expect(`${err?.message} ${JSON.stringify(err?.details)}`).not.toContain('hunter2')
      expect(captured.text()).not.toContain('hunter2')
    } finally {
      await gateway.stop()
      tmp.cleanup()
    }
  })
})
