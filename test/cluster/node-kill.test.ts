import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import type {
  Alert,
  CaseDetail,
  CustodyReport,
  DeviceView,
  PullList,
  PullView,
  ServerFrame,
} from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { TestUnit } from '../cases/helpers.js'
import { makeClip } from '../clips/helpers.js'
import { deviceRow } from '../helpers/devices.js'
import { spawnGateway, stopGateway } from '../helpers/gateway-process.js'
import { startTestHaproxy, type TestHaproxy } from '../helpers/haproxy.js'
import { api, bearer } from '../helpers/http.js'
import { durableLoad, type LoadUnit, notStored } from '../helpers/load.js'
import { connectUnit } from '../helpers/mqtt.js'
import { stablePort } from '../helpers/ports.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { v2Ipv4 } from '../helpers/proxy-protocol.js'
import { startTestRedis, type TestRedis } from '../helpers/redis.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { openAlerts } from '../helpers/ws.js'

const UNITS = 24
const NAMES = ['a', 'b', 'c'] as const
type Name = (typeof NAMES)[number]

interface Node {
  env: Record<string, string>
  httpUrl: string
  mqttPort: number
  httpPort: number
  child: ChildProcess | null
  dir: ReturnType<typeof tempDir>
}

interface Unit extends LoadUnit {
  closedAt: number[]
  connectedAt: number[]
}

/**
 * Three gateway processes sharing a real Redis, a real PostgreSQL, one InfluxDB database and one
 * shared directory (for pulled recordings), behind a real HAProxy running the shipped config.
 *
 * A case opened through node a pulls a recording from a unit connected to node c: c sends the pull
 * (once), the unit uploads through the proxy, and node b serves the recording and the case's custody.
 *
 * Then units reach them only through the proxy, sending durable events the whole time, and an ops
 * dashboard's alert feed is open on node b. Node c is SIGKILLed: its units come back through the proxy
 * on the other two within seconds; c restarts on its data dir and its spool delivers what it had
 * acknowledged; no acknowledged event is lost, and the feed on b saw every unit's detection, with no
 * alert id twice.
 */
describe('three gateways behind HAProxy, one SIGKILLed under load', () => {
  let redis: TestRedis
  let pg: TestPostgres
  let proxy: TestHaproxy
  const nodes = {} as Record<Name, Node>
  const units: Unit[] = []
  const token = `adm_${randomBytes(16).toString('hex')}`
  const influxUrl = inject('influxUrl')
  const influxDb = `kill3_${process.pid}_${Date.now()}`
  const sockets: Array<{ close(): void }> = []
  const shared = tempDir('doorstep-kill3-shared-')

  const start = async (name: Name) => {
    const node = nodes[name]
    node.child = await spawnGateway(node.env)
  }
  /** Connected units on a node, from its own metrics. */
  const connections = async (name: Name): Promise<number> => {
    const res = await fetch(`${nodes[name].httpUrl}/metrics`, { headers: bearer(token) })
    const m = /^doorstep_mqtt_connections(?:\{[^}]*\})? (\S+)$/m.exec(await res.text())
    return m ? Number(m[1]) : 0
  }

  beforeAll(async () => {
    redis = await startTestRedis()
    pg = await startTestPostgres()
    const databaseUrl = await pg.database()
    for (const name of NAMES) {
      const dir = tempDir(`doorstep-kill3-${name}-`)
      const httpPort = await stablePort()
      const mqttPort = await stablePort()
      nodes[name] = {
        dir,
        httpPort,
        mqttPort,
        httpUrl: `http://127.0.0.1:${httpPort}`,
        child: null,
        env: {
          DOORSTEP_DATA_DIR: dir.dir,
          DOORSTEP_SHARED_DIR: shared.dir,
          DOORSTEP_HTTP_PORT: String(httpPort),
          DOORSTEP_MQTT_PORT: String(mqttPort),
          DOORSTEP_INFLUX_URL: influxUrl,
          DOORSTEP_INFLUX_DB: influxDb,
          DOORSTEP_ADMIN_TOKEN: token,
          DOORSTEP_LOG_LEVEL: 'error',
          DOORSTEP_REDIS_URL: redis.url,
          DOORSTEP_DATABASE_URL: databaseUrl,
          DOORSTEP_NODE_ID: `node-${name}`,
          DOORSTEP_TRUSTED_PROXIES: '127.0.0.1',
          DOORSTEP_TAKEOVER_HOLD_MS: '0',
          // A long flush window: when the kill comes, what c acknowledged is still in its spool.
          DOORSTEP_FLUSH_MS: '5000',
          DOORSTEP_BATCH_SIZE: '50000',
        },
      }
    }
    // The first migrates the shared database and makes the InfluxDB database; then the others.
    await start('a')
    await Promise.all([start('b'), start('c')])
    proxy = await startTestHaproxy(
      NAMES.map((n) => ({ name: `gw-${n}`, mqttPort: nodes[n].mqttPort, httpPort: nodes[n].httpPort })),
    )
    for (let i = 0; i < UNITS; i++) {
      const made = await api<{ id: string; secret: string }>(
        proxy.httpUrl,
        'POST',
        '/api/v1/devices',
        token,
        deviceRow({ id: `cam-k3-${i}` }),
      )
      expect(made.status).toBe(201)
      // The proxy may pick a gateway that has not heard of the new unit yet (within milliseconds): it
      // refuses it as unknown, and the unit tries again, as firmware does. Each refused try is its own
      // client, ended, so no stale one reconnects beside the unit.
      // Each unit from an address of its own, as homes are: the proxy places units by address.
      const from = `127.0.0.${10 + i}`
      const proxyPort = Number(new URL(proxy.mqttUrl).port)
      const viaProxy = () => net.connect({ port: proxyPort, host: '127.0.0.1', localAddress: from })
      let client: MqttClient | null = null
      for (let attempt = 0; attempt < 50 && client === null; attempt++) {
        client = await connectUnit(viaProxy, made.body.id, made.body.secret, {
          clean: false,
          reconnectPeriod: 0,
        }).catch(() => null)
        if (client === null) await new Promise((r) => setTimeout(r, 100))
      }
      if (client === null) throw new Error(`${made.body.id} could not connect through the proxy`)
      // From now on it reconnects by itself, after a refused CONNACK too (mqtt.js stops unless told).
      client.options.reconnectPeriod = 200
      client.options.reconnectOnConnackError = true
      const unit: Unit = { id: made.body.id, client, closedAt: [], connectedAt: [] }
      client.on('close', () => unit.closedAt.push(Date.now()))
      client.on('connect', () => unit.connectedAt.push(Date.now()))
      client.on('error', () => {})
      units.push(unit)
    }
  }, 120_000)

  afterAll(async () => {
    for (const s of sockets) s.close()
    for (const u of units) u.client.end(true)
    await proxy?.stop()
    for (const name of NAMES) {
      const n = nodes[name]
      if (n?.child) await stopGateway(n.child)
      n?.dir.cleanup()
    }
    await redis?.stop()
    await pg?.stop()
    shared.cleanup()
  })

  it('pulls, for a case opened through node a, from a unit on node c; b serves the recording; sent once', async () => {
    const made = await api<{ id: string; secret: string }>(
      proxy.httpUrl,
      'POST',
      '/api/v1/devices',
      token,
      deviceRow({ id: 'cam-k3-pull', releasePolicy: 'always' }),
    )
    expect(made.status).toBe(201)
    const clip = makeClip(shared.dir, 'pulled', { tag: 'cluster-pull' })
    // Straight to c, so the unit is known to be there, with the PROXY header c expects from the balancer
    // (it trusts 127.0.0.1 as one); its uploads go through the proxy, to whichever gateway it picks.
    const toC = () => {
      const socket = net.connect(nodes.c.mqttPort, '127.0.0.1')
      socket.write(v2Ipv4('10.61.0.7', '127.0.0.1', 40000, nodes.c.mqttPort))
      return socket
    }
    const unit = new TestUnit({
      baseUrl: proxy.httpUrl,
      mqttUrl: toC,
      id: made.body.id,
      secret: made.body.secret,
      clip,
    })
    // c hears of the unit made through the proxy by NOTIFY; before that it refuses it as unknown.
    await until('c to hear of the new unit', async () => {
      const res = await fetch(`${nodes.c.httpUrl}/api/v1/devices/${made.body.id}`, { headers: bearer(token) })
      return res.status === 200
    })
    await unit.connect()
    try {
      // a hears of the unit on c through the shared presence before the case is opened there.
      await until('a sees the unit online', async () => {
        const d = await api<DeviceView>(nodes.a.httpUrl, 'GET', `/api/v1/devices/${made.body.id}`, token)
        return d.body.state === 'online'
      })
      const now = Date.now()
      const opened = await api<CaseDetail>(nodes.a.httpUrl, 'POST', '/api/v1/cases', token, {
        number: `K3-${process.pid}`,
        reason: 'shop theft on the corner',
        from: now - 3_600_000,
        to: now - 60_000,
        area: { kind: 'devices', ids: [made.body.id] },
      })
      expect(opened.status).toBe(201)
      const caseId = opened.body.case.id
      const asked = await api<PullList>(nodes.a.httpUrl, 'POST', `/api/v1/cases/${caseId}/pulls`, token, {})
      expect(asked.status).toBe(201)
      const pullId = asked.body.pulls[0]?.id as string
      expect(asked.body.pulls).toHaveLength(1)

      await until(
        'b says the pull is done',
        async () => {
          const p = await api<PullView>(nodes.b.httpUrl, 'GET', `/api/v1/pulls/${pullId}`, token)
          return p.body.state === 'done'
        },
        30_000,
      )
      const rec = await fetch(`${nodes.b.httpUrl}/api/v1/pulls/${pullId}/recording`, {
        headers: bearer(token),
      })
      expect(rec.status).toBe(200)
      const body = Buffer.from(await rec.arrayBuffer())
      expect(createHash('sha256').update(body).digest('hex')).toBe(clip.sha256)

      // Sent once: one command reached the unit, and one `pull.sent` is on the case's custody log.
      expect(unit.commands.filter((c) => c.cmdId === pullId)).toHaveLength(1)
      const custody = await api<CustodyReport>(
        nodes.b.httpUrl,
        'GET',
        `/api/v1/cases/${caseId}/custody`,
        token,
      )
      expect(custody.body.verify).toMatchObject({ ok: true, problems: [] })
      const actions = custody.body.entries.map((e) => e.action)
      expect(actions.filter((a) => a === 'pull.sent')).toHaveLength(1)
      expect(actions).toEqual(expect.arrayContaining(['case.created', 'pull.requested', 'pull.stored']))
      expect(actions).not.toContain('pull.offline')
    } finally {
      await unit.settled()
      await unit.disconnect()
    }
  }, 90_000)

  it("moves the killed node's units to the others within seconds, loses no acknowledged event, repeats no alert id", async () => {
    // The units' addresses spread them over the three.
    await until('every unit counted on some node', async () => {
      const counts = await Promise.all(NAMES.map(connections))
      return counts.reduce((s, n) => s + n, 0) === UNITS && counts.every((n) => n > 0)
    })
    const onC = await connections('c')

    const feed = await openAlerts(nodes.b.httpUrl, token)
    sockets.push(feed)
    await until('the ready frame', () => feed.frames.some((f) => f.type === 'ready'))

    const run = durableLoad(units)
    await until('events to flow', () => run.acked.size > 300, 15_000)

    const child = nodes.c.child as ChildProcess
    const killedAt = Date.now()
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
    nodes.c.child = null
    // What each unit had acknowledged when c died: c's units had theirs from c, the rest from a and b.
    const atKill = new Map([...run.ackedBy].map(([id, acked]) => [id, [...acked]]))

    // Its units: those whose connection closed after the kill. Each is back through the proxy.
    await until(
      "c's units to lose their connection",
      () => units.filter((u) => u.closedAt.some((t) => t >= killedAt)).length >= onC,
      10_000,
    )
    const moved = units.filter((u) => u.closedAt.some((t) => t >= killedAt))
    expect(moved).toHaveLength(onC)
    const ackedBefore = (us: readonly Unit[]) => new Set(us.flatMap((u) => atKill.get(u.id) ?? []))
    const ackedByC = ackedBefore(moved)
    const ackedByAB = ackedBefore(units.filter((u) => !moved.includes(u)))
    // mqtt.js says 'connect' once it has sent again what was waiting for an acknowledgement.
    await until(
      'every unit connected again',
      () =>
        units.every((u) => u.client.connected) &&
        moved.every((u) => u.connectedAt.some((t) => t >= killedAt)),
      20_000,
    )
    const backMs = moved.map((u) => (u.connectedAt.find((t) => t >= killedAt) ?? Number.NaN) - killedAt)
    const story = moved.map((u) => ({
      id: u.id,
      closed: u.closedAt.map((t) => t - killedAt),
      connected: u.connectedAt.map((t) => t - killedAt),
    }))
    expect(Math.max(...backMs), JSON.stringify(story)).toBeLessThan(10_000)
    const [onA = 0, onB = 0] = await Promise.all((['a', 'b'] as const).map(connections))
    expect(onA + onB).toBe(UNITS)

    const sent = run.acked.size
    await until('events to flow through the two left', () => run.acked.size > sent + 300, 20_000)
    // a and b flush every 5 s: once what they took before the kill is stored, some of what c
    // acknowledged before it is still not, held only in c's spool.
    expect(await notStored(influxUrl, influxDb, ackedByAB)).toEqual([])
    expect((await notStored(influxUrl, influxDb, ackedByC, 0)).length).toBeGreaterThan(0)

    await start('c')
    await run.stop()
    expect(run.failed).toEqual([])
    expect(await notStored(influxUrl, influxDb, run.acked)).toEqual([])

    // The feed on b saw each unit's first detection, wherever the unit was, and no id twice.
    const alerts = feed.frames.flatMap((f: ServerFrame): Alert[] => (f.type === 'alert' ? [f.alert] : []))
    const ids = alerts.map((a) => a.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const u of units) {
      expect(alerts.some((a) => a.deviceId === u.id && a.kind === 'motion')).toBe(true)
    }
  }, 180_000)
})
