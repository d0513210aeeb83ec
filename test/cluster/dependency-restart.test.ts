import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api, bearer } from '../helpers/http.js'
import { durableLoad, type LoadUnit, notStored } from '../helpers/load.js'
import { connectUnit, granted, nextMessage } from '../helpers/mqtt.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

// test:postgres: every gateway here is on its own PostgreSQL

/** Units per gateway, each sending a durable event every 25 ms while the load runs. */
const UNITS_PER_NODE = 6

interface Unit extends LoadUnit {
  node: TestGateway
}

/**
 * Two gateways sharing a real Redis and a real PostgreSQL, their units sending durable events over
 * real TCP the whole time, while first Redis and then PostgreSQL stops and comes back. What a unit
 * was told was accepted (PUBACK) must be stored; each gateway must say plainly while a dependency is
 * away (its metric, and a 503 naming it for what needs it); and the cluster must recover by itself:
 * units connected again, commands routed across the nodes, provisioning shared again.
 */
describe('Redis and PostgreSQL restarted under load', () => {
  let redis: TestRedis
  let pg: TestPostgres
  let a: TestGateway
  let b: TestGateway
  const units: Unit[] = []
  // One InfluxDB database for both, as a cluster is deployed: what either stored is counted once.
  const influxDb = `deps_${process.pid}_${Date.now()}`

  const node = (id: string, databaseUrl: string) =>
    startTestGateway({
      DOORSTEP_INFLUX_DB: influxDb,
      DOORSTEP_REDIS_URL: redis.url,
      DOORSTEP_DATABASE_URL: databaseUrl,
      DOORSTEP_NODE_ID: id,
      DOORSTEP_TAKEOVER_HOLD_MS: 0,
      // Units here reconnect at once after an outage; the admission limits have tests of their own.
      DOORSTEP_CONNECT_RATE: 10_000,
    })

  /** The value of a gateway's gauge without labels other than its node, or null when it is absent. */
  const gauge = async (gw: TestGateway, name: string): Promise<number | null> => {
    const res = await fetch(`${gw.gateway.httpUrl}/metrics`, { headers: bearer(gw.adminToken) })
    const text = await res.text()
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)
    return m ? Number(m[1]) : null
  }

  /** The acknowledged events missing from the shared event index, once both outboxes have drained. */
  const notInSharedIndex = async (acked: ReadonlySet<string>): Promise<string[]> => {
    await until(
      'the outboxes to drain',
      async () =>
        (await gauge(a, 'doorstep_event_outbox')) === 0 && (await gauge(b, 'doorstep_event_outbox')) === 0,
      20_000,
    )
    const indexed = await a.gateway.shared
      .tables<{ events: { event_id: string } }>()
      .selectFrom('events')
      .select('event_id')
      .execute()
    const shared = new Set(indexed.map((r) => r.event_id))
    return [...acked].filter((id) => !shared.has(id))
  }

  beforeAll(async () => {
    redis = await startTestRedis()
    pg = await startTestPostgres()
    const url = await pg.database()
    a = await node('node-a', url)
    b = await node('node-b', url)
    for (const [n, gw] of [a, b].entries()) {
      for (let i = 0; i < UNITS_PER_NODE; i++) {
        const c = await a.gateway.registry.create(deviceRow({ id: `cam-dep-${n}-${i}` }))
        // b refuses a unit it has not heard of yet (its retry would get in); heard within milliseconds.
        await until(
          'the unit to be known where it connects',
          () => gw.gateway.registry.get(c.id) !== undefined,
        )
        // As firmware does: keeps its session, reconnects by itself after a short pause.
        const client = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret, {
          clean: false,
          reconnectPeriod: 200,
          // Firmware tries again after a refused CONNACK too (mqtt.js stops unless told).
          reconnectOnConnackError: true,
        })
        // Reconnects refused while Redis is down (CONNACK 3) come as errors; the unit just tries again.
        client.on('error', () => {})
        units.push({ id: c.id, client, node: gw })
      }
    }
  }, 90_000)

  afterAll(async () => {
    for (const u of units) u.client.end(true)
    await a?.stop()
    await b?.stop()
    await redis?.stop()
    await pg?.stop()
  })

  it('keeps acknowledging events while Redis restarts, loses none, says so meanwhile, and routes again after', async () => {
    expect(await gauge(a, 'doorstep_redis_up')).toBe(1)
    const run = durableLoad(units)
    await until('events to flow', () => run.acked.size > 100, 15_000)
    const before = run.acked.size
    await redis.down()
    await until(
      'node a to report Redis down',
      async () => (await gauge(a, 'doorstep_redis_up')) === 0,
      10_000,
    )
    expect(await gauge(b, 'doorstep_redis_up')).toBe(0)
    // Ingest needs no Redis: the units stay connected and their events go on being acknowledged.
    const whileDown = run.acked.size
    await until('events acknowledged while Redis is down', () => run.acked.size > whileDown + 300, 15_000)
    expect(await gauge(a, 'doorstep_redis_up')).toBe(0)
    expect(units.filter((u) => !u.client.connected).map((u) => u.id)).toEqual([])
    await redis.up()
    await until('node a to report Redis up', async () => (await gauge(a, 'doorstep_redis_up')) === 1, 15_000)
    await until('events to flow again', () => run.acked.size > before + 200, 20_000)
    await run.stop()

    expect(run.failed).toEqual([])
    expect(await notStored(a.influxUrl, influxDb, run.acked)).toEqual([])
    expect(await notInSharedIndex(run.acked)).toEqual([])
    // Every unit is back, each on its gateway.
    for (const u of units) expect(u.node.gateway.broker.isConnected(u.id)).toBe(true)
    // A command published on node b reaches a unit connected to node a: routing through Redis is back.
    const far = units.find((u) => u.node === a)!
    expect(await granted(far.client, topicFor('cmd', far.id))).toBe(1)
    const got = nextMessage(far.client, topicFor('cmd', far.id))
    let delivered = false
    void got.then(() => {
      delivered = true
    })
    for (let i = 0; i < 50 && !delivered; i++) {
      await b.gateway.broker
        .publish(topicFor('cmd', far.id), `{"v":1,"id":"after-redis-${i}","cmd":"ping"}`, { qos: 0 })
        .catch(() => {})
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(JSON.parse(await got)).toMatchObject({ cmd: 'ping' })
  }, 120_000)

  it('loses no acknowledged event while PostgreSQL restarts, refuses provisioning clearly meanwhile, and shares again after', async () => {
    expect(await gauge(a, 'doorstep_database_up')).toBe(1)
    const run = durableLoad(units)
    await until('events to flow', () => run.acked.size > 100, 15_000)
    const before = run.acked.size
    // As a crash would: no checkpoint, connections cut.
    await pg.down('immediate')
    await until(
      'node a to report PostgreSQL down',
      async () => (await gauge(a, 'doorstep_database_up')) === 0,
      10_000,
    )
    const refused = await api<{ error: { code: string; message: string } }>(
      a.gateway.httpUrl,
      'POST',
      '/api/v1/devices',
      a.adminToken,
      deviceRow({ id: 'cam-dep-while-down' }),
    )
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('DOORSTEP_ERR_DATABASE_UNAVAILABLE')
    expect(refused.body.error.message).toMatch(/PostgreSQL/)
    // The events API reads the shared table: the same clear answer.
    const listing = await api<{ error: { code: string } }>(
      a.gateway.httpUrl,
      'GET',
      '/api/v1/events',
      a.adminToken,
    )
    expect(listing.status).toBe(503)
    expect(listing.body.error.code).toBe('DOORSTEP_ERR_DATABASE_UNAVAILABLE')
    // The units already known keep sending, and are acknowledged, while the database is away; what the
    // gateways indexed waits in their outboxes.
    const during = run.acked.size
    await until('events acknowledged while PostgreSQL is down', () => run.acked.size > during + 100, 15_000)
    expect(await gauge(a, 'doorstep_event_outbox')).toBeGreaterThan(0)
    await pg.up()
    await until(
      'node b to report PostgreSQL up',
      async () => (await gauge(b, 'doorstep_database_up')) === 1,
      20_000,
    )
    await until('events to flow again', () => run.acked.size > before + 400, 20_000)
    await run.stop()

    expect(run.failed).toEqual([])
    expect(await notStored(a.influxUrl, influxDb, run.acked)).toEqual([])
    expect(await notInSharedIndex(run.acked)).toEqual([])
    for (const u of units) expect(u.node.gateway.broker.isConnected(u.id)).toBe(true)
    // Provisioning through one gateway reaches the other again: a new unit made on a connects through b.
    let made: { status: number; body: { id: string; secret: string } } | null = null
    await until(
      'provisioning to work again',
      async () => {
        made = await api<{ id: string; secret: string }>(
          a.gateway.httpUrl,
          'POST',
          '/api/v1/devices',
          a.adminToken,
          deviceRow({ id: 'cam-dep-after' }),
        )
        return made.status === 201
      },
      15_000,
    )
    const creds = made!.body
    // b hears of it by NOTIFY, within moments; a connect before that is refused as unknown (README).
    await until('b to hear of the new unit', () => b.gateway.registry.get(creds.id) !== undefined)
    const late = await connectUnit(b.gateway.mqttUrl, creds.id, creds.secret)
    await until('b to hold the new unit', () => b.gateway.broker.isConnected(creds.id))
    late.end(true)
  }, 120_000)
})
