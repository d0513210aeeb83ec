import type { ServerFrame } from '@doorstep/proto'
import { topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { AlertHub } from '../../gateway/src/alerts/alert-hub.js'
import { alertsRoute } from '../../gateway/src/alerts/ws-route.js'
import { TokenStore } from '../../gateway/src/auth/tokens.js'
import { openDb, sqliteSharedDb } from '../../gateway/src/db/index.js'
import { EventBus } from '../../gateway/src/event-bus.js'
import { buildHttp } from '../../gateway/src/http/server.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { influxCount } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { openAlerts } from '../helpers/ws.js'

/** A socket whose client stops reading: the server's sends pile up behind it. */
async function stalledSocket(
  url: string,
  token: string,
): Promise<{ ws: WebSocket; frames: ServerFrame[]; resume(): void }> {
  const ws = new WebSocket(url, { headers: bearer(token) })
  const frames: ServerFrame[] = []
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as ServerFrame))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  // The server's `ready` frame: its side of the socket is set up before this side stops reading.
  await expect.poll(() => frames.length, { timeout: 2000 }).toBeGreaterThan(0)
  const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket
  raw.pause()
  return { ws, frames, resume: () => raw.resume() }
}

describe('a slow alert consumer (real HTTP and WebSocket)', () => {
  it('gets a bounded queue that drops oldest and says how many, while a fast one gets everything', async () => {
    const tmp = tempDir()
    const log = createLogger('silent')
    const db = openDb(`${tmp.dir}/t.db`)
    const tokens = new TokenStore(sqliteSharedDb(db))
    await tokens.load()
    const { token } = await tokens.issue('ops', 'ops')
    const hub = new AlertHub(createMetrics(), 100_000)
    const app = await buildHttp({ log, tokens })
    await app.register(alertsRoute, {
      hub,
      tokens,
      bus: new EventBus(log),
      maxBuffered: 8 * 1024,
      queueMax: 50,
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const addr = app.server.address() as import('node:net').AddressInfo
    try {
      const fast = await openAlerts(`http://127.0.0.1:${addr.port}`, token)
      const slow = await stalledSocket(`ws://127.0.0.1:${addr.port}/api/v1/alerts`, token)
      // The stalled client's kernel buffers (tens of MiB on some hosts) take
      // alerts before the server sees any backlog, so alerts are raised until
      // the server-side socket reports its send buffer full; only then must
      // its own queue fill and drop. Alerts come in small bursts with a turn
      // of the event loop between them, as a live feed does, so the fast
      // client reads each burst and its queue never overflows.
      const filler = 'x'.repeat(2000)
      let total = 0
      const raiseBurst = (n: number): void => {
        for (let i = 0; i < n; i++, total++) {
          hub.raise({
            kind: 'motion',
            severity: 'info',
            deviceId: `cam-${total % 97}`,
            district: (total % 61) + 1,
            message: `m${total} ${filler}`,
          })
        }
      }
      const turn = () => new Promise((r) => setImmediate(r))
      // Server-side sockets in the order they opened: the stalled one is second.
      const slowServerSide = () => [...app.websocketServer.clients][1]
      const deadline = Date.now() + 30_000
      while ((slowServerSide()?.bufferedAmount ?? 0) < 8 * 1024 && total < 100_000 && Date.now() < deadline) {
        raiseBurst(5)
        await turn()
      }
      expect(slowServerSide()?.bufferedAmount).toBeGreaterThanOrEqual(8 * 1024)
      // Four queues' worth more: the stalled socket's queue must overflow.
      for (let i = 0; i < 40; i++) {
        raiseBurst(5)
        await turn()
      }
      await expect
        .poll(() => fast.frames.filter((f) => f.type === 'alert').length, { timeout: 20_000 })
        .toBe(total)
      slow.resume()
      const alertsOf = () =>
        slow.frames.filter((f) => f.type === 'alert') as Array<Extract<ServerFrame, { type: 'alert' }>>
      const droppedOf = () =>
        slow.frames
          .filter((f) => f.type === 'dropped')
          .reduce((n, f) => n + (f.type === 'dropped' ? f.count : 0), 0)
      await expect.poll(() => alertsOf().length + droppedOf(), { timeout: 20_000 }).toBe(total)
      expect(droppedOf()).toBeGreaterThan(0)
      // Oldest go first: the newest alert always arrives.
      expect(alertsOf().at(-1)?.alert.id).toBe(hub.lastId)
      fast.close()
      slow.ws.close()
    } finally {
      await app.close()
      db.close()
      tmp.cleanup()
    }
  }, 90_000)
})

describe('a stalled dashboard does not slow ingest (real gateway)', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('every event is acknowledged and stored while one alert socket is stalled', async () => {
    const slow = await stalledSocket(`${t.gateway.httpUrl.replace('http', 'ws')}/api/v1/alerts`, t.adminToken)
    const fast = await openAlerts(t.gateway.httpUrl, t.adminToken)
    const units = await t.gateway.registry.importMany(
      Array.from({ length: 40 }, (_, i) => deviceRow({ id: `cam-slow-${i}` })),
    )
    const kinds = ['motion', 'person', 'vehicle', 'sound', 'tamper'] as const
    await Promise.all(
      units.map(async (u) => {
        const c = await connectUnit(t.gateway.mqttUrl, u.id, u.secret)
        for (let i = 0; i < 25; i++)
          await publish(c, topicFor('event', u.id), event({ kind: kinds[i % 5] }), 1)
        await end(c)
      }),
    )
    await expect
      .poll(
        () =>
          influxCount(
            t.influxUrl,
            t.db,
            `SELECT count(score) FROM "events_1y".event WHERE device =~ /^cam-slow-/`,
          ),
        {
          timeout: 10_000,
        },
      )
      .toBe(1000)
    // One alert per unit and kind goes out at once; repeats are folded into later alerts.
    await expect
      .poll(
        () =>
          fast.frames.filter((f) => f.type === 'alert' && f.alert.deviceId.startsWith('cam-slow-')).length,
      )
      .toBeGreaterThanOrEqual(200)
    slow.resume()
    slow.ws.close()
    fast.close()
  })
})
