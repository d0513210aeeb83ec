import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import { topicFor } from '@doorstep/proto'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { ManagedInfluxd } from '../../gateway/src/influx/managed-influxd.js'
import { createLogger } from '../../gateway/src/log.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { spawnGateway } from '../helpers/gateway-process.js'
import { bearer } from '../helpers/http.js'
import { influxCount, influxRows } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'

async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

describe('nothing accepted is lost', () => {
  let gw: TestGateway | null = null
  let child: ChildProcess | null = null
  afterEach(async () => {
    await gw?.stop()
    gw = null
    if (child && child.exitCode === null) child.kill('SIGKILL')
    child = null
  })

  it('a retried event (same id and phase) lands once, even across a restart', async () => {
    gw = await startTestGateway()
    const c = await gw.gateway.registry.create(deviceRow({ id: 'cam-dup-1' }))
    let unit = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret)
    const ev = event()
    await publish(unit, topicFor('event', c.id), ev, 1)
    await publish(unit, topicFor('event', c.id), { ...ev, ts: ev.ts + 5000 }, 1)
    await end(unit)
    const dataDir = gw.dataDir
    const db = gw.db
    await gw.stop({ keepData: true })
    gw = await startTestGateway({ DOORSTEP_DATA_DIR: dataDir, DOORSTEP_INFLUX_DB: db })
    unit = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret)
    await publish(unit, topicFor('event', c.id), ev, 1)
    await publish(unit, topicFor('event', c.id), { ...ev, phase: 'end' }, 1)
    await end(unit)
    await expect
      .poll(() =>
        influxRows(
          gw!.influxUrl,
          db,
          `SELECT phase, event_id FROM "events_1y".event WHERE event_id = '${ev.eventId}'`,
        ),
      )
      .toHaveLength(2)
    expect(
      await influxCount(
        gw.influxUrl,
        db,
        `SELECT count(score) FROM "events_1y".event WHERE event_id = '${ev.eventId}' AND phase = 'start'`,
      ),
    ).toBe(1)
    // The restarted gateway was given the first one's data dir, so removing it falls to the test.
    await gw.stop()
    gw = null
    fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('a gateway killed with SIGKILL mid-stream loses no acknowledged event', async () => {
    const tmp = tempDir('doorstep-kill-')
    const db = `kill_${Date.now()}`
    const env = {
      DOORSTEP_DATA_DIR: tmp.dir,
      DOORSTEP_HTTP_PORT: String(await freePort()),
      DOORSTEP_MQTT_PORT: String(await freePort()),
      DOORSTEP_INFLUX_URL: inject('influxUrl'),
      DOORSTEP_INFLUX_DB: db,
      DOORSTEP_ADMIN_TOKEN: `adm_${randomUUID()}`,
      DOORSTEP_LOG_LEVEL: 'error',
      // A long flush window keeps acknowledged events in the spool when the kill comes.
      DOORSTEP_FLUSH_MS: '5000',
      DOORSTEP_BATCH_SIZE: '50000',
    }
    try {
      child = await spawnGateway(env)
      const res = await fetch(`http://127.0.0.1:${env.DOORSTEP_HTTP_PORT}/api/v1/devices`, {
        method: 'POST',
        headers: { ...bearer(env.DOORSTEP_ADMIN_TOKEN), 'content-type': 'application/json' },
        body: JSON.stringify(deviceRow({ id: 'cam-kill-1' })),
      })
      const c = (await res.json()) as { id: string; secret: string }
      const unit = await connectUnit(`mqtt://127.0.0.1:${env.DOORSTEP_MQTT_PORT}`, c.id, c.secret)
      const acked: string[] = []
      const sending = (async () => {
        for (let i = 0; i < 5000; i++) {
          const ev = event({ kind: 'motion' })
          try {
            await publish(unit, topicFor('event', c.id), ev, 1)
            acked.push(ev.eventId)
          } catch {
            return
          }
        }
      })()
      await expect.poll(() => acked.length, { timeout: 20_000, interval: 20 }).toBeGreaterThan(300)
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
      unit.end(true)
      await sending
      const ackedBeforeKill = acked.length
      expect(ackedBeforeKill).toBeGreaterThan(300)

      child = await spawnGateway({ ...env, DOORSTEP_FLUSH_MS: '50' })
      await expect
        .poll(
          () =>
            influxCount(
              env.DOORSTEP_INFLUX_URL,
              db,
              `SELECT count(score) FROM "events_1y".event WHERE device = 'cam-kill-1'`,
            ),
          {
            timeout: 15_000,
            interval: 250,
          },
        )
        .toBeGreaterThanOrEqual(ackedBeforeKill)
      const stored = new Set(
        (
          await influxRows(
            env.DOORSTEP_INFLUX_URL,
            db,
            `SELECT event_id FROM "events_1y".event WHERE device = 'cam-kill-1'`,
          )
        ).map((r) => r.event_id),
      )
      const lost = acked.filter((id) => !stored.has(id))
      expect(lost).toEqual([])
      child.kill('SIGTERM')
      const code = await new Promise((r) => child!.once('exit', r))
      expect(code).toBe(0)
    } finally {
      tmp.cleanup()
    }
    // Two gateway processes start here; on a loaded machine each takes seconds before it listens.
  }, 90_000)
})

describe('InfluxDB outage', () => {
  it('events published while influxd is down are all in InfluxDB after it returns, in the events policy', async () => {
    const tmp = tempDir('doorstep-outage-')
    const log = createLogger('silent')
    const port = await freePort()
    let influxd = new ManagedInfluxd({ dataDir: `${tmp.dir}/influxd`, log, httpPort: port })
    const url = await influxd.start()
    const gw = await startTestGateway({ DOORSTEP_INFLUX_URL: url, DOORSTEP_INFLUX_DB: 'outage' })
    try {
      const c = await gw.gateway.registry.create(deviceRow({ id: 'cam-out-1' }))
      const unit = await connectUnit(gw.gateway.mqttUrl, c.id, c.secret)
      await publish(unit, topicFor('event', c.id), event(), 1)
      await influxd.stop()
      const sent: string[] = []
      for (let i = 0; i < 200; i++) {
        const ev = event({ kind: 'motion' })
        await publish(unit, topicFor('event', c.id), ev, 1)
        sent.push(ev.eventId)
      }
      await expect.poll(() => gw.gateway.ingest.writer?.backlog, { timeout: 5000 }).toBe(true)
      expect(gw.gateway.ingest.spool?.rows).toBeGreaterThanOrEqual(200)
      influxd = new ManagedInfluxd({ dataDir: `${tmp.dir}/influxd`, log, httpPort: port })
      await influxd.start()
      await expect
        .poll(
          () =>
            influxCount(url, 'outage', `SELECT count(score) FROM "events_1y".event WHERE device = '${c.id}'`),
          {
            timeout: 20_000,
            interval: 250,
          },
        )
        .toBe(201)
      const stored = new Set(
        (await influxRows(url, 'outage', `SELECT event_id FROM "events_1y".event`)).map((r) => r.event_id),
      )
      expect(sent.filter((id) => !stored.has(id))).toEqual([])
      await expect.poll(() => gw.gateway.ingest.spool?.rows, { timeout: 5000 }).toBe(0)
      await end(unit)
    } finally {
      await gw.stop()
      await influxd.stop()
      tmp.cleanup()
    }
  })
})
