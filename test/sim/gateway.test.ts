import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { type CommandAck, topicFor } from '@doorstep/proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AlertObserver, observeAlerts } from '../../device-sim/src/alerts.js'
import { ensureClips } from '../../device-sim/src/clips.js'
import { type Fleet, startFleet } from '../../device-sim/src/fleet.js'
import { buildReport, countHeartbeatsInInflux, formatReport } from '../../device-sim/src/report.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * The simulator against the real gateway: provisioning through the import
 * API, the real broker's auth and admission, clip uploads to the real clip
 * API (ffprobe-checked, so the clips are real H.264), alerts over the
 * WebSocket, and heartbeats counted in the real influxd.
 */
describe('device-sim against a real gateway', () => {
  const N = 40
  const tmp = tempDir('doorstep-sim-')
  let gw: TestGateway
  let fleet: Fleet
  let alerts: AlertObserver
  const log: string[] = []

  beforeAll(async () => {
    gw = await startTestGateway({ DOORSTEP_CONNECT_RATE: 10 })
    const clips = await ensureClips({ cacheDir: path.join(tmp.dir, 'clips'), variants: 1 })
    fleet = await startFleet({
      devices: N,
      mqttUrl: gw.gateway.mqttUrl,
      httpUrl: gw.gateway.httpUrl,
      adminToken: gw.adminToken,
      credentialsDir: tmp.dir,
      clips,
      idPrefix: 'e2e-',
      heartbeatS: 0.5,
      eventRate: 0,
      connectRate: 500,
      backoff: { baseMs: 200, capMs: 2_000 },
      uploadOnEnd: true,
      log: (l) => log.push(l),
    })
    alerts = await observeAlerts(gw.gateway.httpUrl, gw.adminToken, { sentAt: (id) => fleet.sentAt(id) })
  })
  afterAll(async () => {
    alerts?.close()
    await fleet?.stop()
    await gw?.stop()
    tmp.cleanup()
  })

  it('provisions, connects every unit through the admission limit, and keeps secrets out of the log', async () => {
    expect(await fleet.ready({ timeoutMs: 20_000 })).toBe(true)
    expect(fleet.stats().refusedConnects).toBeGreaterThan(0)
    expect(fleet.stats().authFailures).toBe(0)
    expect(fleet.credentialsFile).toMatch(/credentials-127\.0\.0\.1-\d+\.json$/)
    expect(log.join('\n')).not.toMatch(/[0-9a-f]{32}/)
    expect(log.join('\n')).not.toContain(gw.adminToken)
  })

  it('events raise alerts whose latency is measured, and their clips are uploaded and stored', async () => {
    const ids = fleet.plan.slice(0, 5).map((u) => fleet.trigger(u.id, 'person'))
    expect(ids.every((id) => id !== null)).toBe(true)
    await expect.poll(() => alerts.counts().matched, { timeout: 10_000 }).toBe(5)
    const lat = alerts.summary()
    expect(lat.count).toBe(5)
    expect(lat.p99).toBeGreaterThanOrEqual(0)
    expect(lat.p99).toBeLessThan(5_000)
    await expect.poll(() => fleet.stats().clips, { timeout: 20_000 }).toBe(5)
    expect(fleet.stats().uploadFailures).toBe(0)
  })

  it('a pull for a unit’s own event is accepted and answered with that event’s stored clip', async () => {
    const unit = fleet.plan.slice(5).find((u) => u.releasePolicy !== 'never')!
    const starts: string[] = []
    const acks: CommandAck[] = []
    const offEvent = gw.gateway.bus.on('device.event', ({ device, event }) => {
      if (device.id === unit.id && event.phase === 'start') starts.push(event.eventId)
    })
    const offAck = gw.gateway.bus.on('device.cmdAck', ({ device, ack }) => {
      if (device.id === unit.id) acks.push(ack)
    })
    try {
      const clipsBefore = fleet.stats().clips
      expect(fleet.trigger(unit.id, 'vehicle')).toBe(unit.id)
      await expect.poll(() => fleet.stats().clips, { timeout: 20_000 }).toBe(clipsBefore + 1)
      expect(starts).toHaveLength(1)
      const cmdId = randomUUID()
      const now = Date.now()
      await gw.gateway.broker.publish(
        topicFor('cmd', unit.id),
        JSON.stringify({
          v: 1,
          ts: now,
          cmdId,
          action: 'pull',
          from: now - 60_000,
          to: now,
          uploadPath: `/api/v1/clips/${starts[0]}`,
        }),
      )
      await expect.poll(() => acks.map((a) => a.status), { timeout: 10_000 }).toEqual(['accepted', 'done'])
      expect(acks.every((a) => a.cmdId === cmdId)).toBe(true)
    } finally {
      offEvent()
      offAck()
    }
  })

  it('every valid heartbeat lands in InfluxDB, and the report says so', async () => {
    await fleet.stop()
    const stats = fleet.stats()
    expect(stats.heartbeatsValid).toBeGreaterThan(N)
    const influx = { url: gw.influxUrl, db: gw.db, idPrefix: 'e2e-' }
    await expect
      .poll(() => countHeartbeatsInInflux(influx, stats.startedAt), { timeout: 10_000 })
      .toBe(stats.heartbeatsValid)
    const report = await buildReport(stats, {
      influx,
      alerts: { counts: alerts.counts(), latency: alerts.summary() },
    })
    expect(report.heartbeats).toMatchObject({
      valid: stats.heartbeatsValid,
      inInflux: stats.heartbeatsValid,
      ratio: 1,
    })
    expect(report.alerts?.matched).toBeGreaterThanOrEqual(6)
    expect(report.totals.acked).toBe(report.totals.sent)
    const table = formatReport(report)
    expect(table).toMatch(/heartbeats valid \/ in InfluxDB\s+\d+ \/ \d+ \(100\.00%\)/)
    expect(table).toMatch(/alert latency p50 \/ p95 \/ p99/)
  })
})
