import fs from 'node:fs'
import path from 'node:path'
import { type HeartbeatsResponse, topicFor } from '@doorstep/proto'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManagedInfluxd } from '../../gateway/src/influx/index.js'
import { deviceRow } from '../helpers/devices.js'
import { sharedWith, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { api } from '../helpers/http.js'
import { influxCount } from '../helpers/influx-query.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { doorstep } from './helpers.js'

/** A real influxd standing in for an operator's own InfluxDB, with its RPC port known. */
async function externalInflux(dir: string): Promise<{ influxd: ManagedInfluxd; url: string; rpc: string }> {
  const influxd = new ManagedInfluxd({ dataDir: dir, log: pino({ level: 'warn' }) })
  const url = await influxd.start()
  return { influxd, url, rpc: influxd.rpcAddress as string }
}

/**
 * A gateway on an external InfluxDB (DOORSTEP_INFLUX_URL): without --influx-rpc the backup says it
 * left InfluxDB out and how to take it; with it, heartbeats go through backup and restore into
 * another InfluxDB.
 */
describe('backup and restore with an external InfluxDB', { timeout: 90_000 }, () => {
  let tmp: { dir: string; cleanup: () => void }
  let source: Awaited<ReturnType<typeof externalInflux>>
  let target: Awaited<ReturnType<typeof externalInflux>> | null = null
  let t: TestGateway
  let restored: TestGateway | null = null
  let unitId: string
  const times: number[] = []

  beforeAll(async () => {
    tmp = tempDir('doorstep-backup-ext-')
    source = await externalInflux(path.join(tmp.dir, 'influx-a'))
    t = await startTestGateway({ DOORSTEP_INFLUX_URL: source.url })
    const creds = await t.gateway.registry.create(deviceRow({ id: 'cam-ext' }))
    unitId = creds.id
    const unit = await connectUnit(t.gateway.mqttUrl, creds.id, creds.secret)
    try {
      for (let i = 0; i < 3; i++) {
        await publish(unit, topicFor('heartbeat', creds.id), heartbeat())
        const points = await until(`heartbeat ${i + 1} is in InfluxDB`, async () => {
          const r = await api<HeartbeatsResponse>(
            t.gateway.httpUrl,
            'GET',
            `/api/v1/devices/${creds.id}/heartbeats`,
            t.adminToken,
          )
          return r.body.points.length === i + 1 ? r.body.points : undefined
        })
        times.splice(0, times.length, ...points.map((p) => new Date(p.time).getTime()))
      }
    } finally {
      await end(unit)
    }
  })

  afterAll(async () => {
    await restored?.stop()
    await t?.stop().catch(() => {})
    await target?.influxd.stop()
    await source?.influxd.stop()
    tmp?.cleanup()
  })

  it('without --influx-rpc: InfluxDB is left out, and the backup says how to take it', async () => {
    const dir = path.join(tmp.dir, 'no-influx')
    const b = await doorstep('backup', '--data-dir', t.dataDir, '--to', dir)
    expect(b.code, b.err).toBe(0)
    expect(b.err).toContain(`backup: influxdb: skipped. InfluxDB is external (${source.url})`)
    expect(b.err).toContain(`influxd backup -portable -db ${t.db} -host HOST:PORT DIR`)
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      influx: { included: boolean }
      files: Array<{ kind: string }>
    }
    expect(m.influx.included).toBe(false)
    expect(m.files.some((f) => f.kind === 'influx')).toBe(false)
  })

  it('with --influx-rpc: heartbeats are backed up, restored into another InfluxDB and served', async () => {
    const dir = path.join(tmp.dir, 'with-influx')
    const b = await doorstep('backup', '--data-dir', t.dataDir, '--to', dir, '--influx-rpc', source.rpc)
    expect(b.code, b.err).toBe(0)
    expect(b.err).toMatch(/^backup: influxdb: \d+ files$/m)
    const db = t.db
    await t.stop()

    target = await externalInflux(path.join(tmp.dir, 'influx-b'))
    const newDir = path.join(tmp.dir, 'restored')
    const r = await doorstep('restore', '--from', dir, '--data-dir', newDir, '--influx-rpc', target.rpc)
    expect(r.code, r.err).toBe(0)
    expect(r.err).toContain(`restore: influxdb: database ${db} restored into ${target.rpc}`)
    // Into the external one, before any gateway runs (nothing else could have written them there).
    expect(fs.existsSync(path.join(newDir, 'influxdb'))).toBe(false)
    expect(await influxCount(target.url, db, 'SELECT count(signal_dbm) FROM heartbeat')).toBe(times.length)

    restored = await startTestGateway({
      ...sharedWith(t),
      DOORSTEP_DATA_DIR: newDir,
      DOORSTEP_INFLUX_URL: target.url,
      DOORSTEP_INFLUX_DB: db,
    })
    const res = await api<HeartbeatsResponse>(
      restored.gateway.httpUrl,
      'GET',
      `/api/v1/devices/${unitId}/heartbeats`,
      restored.adminToken,
    )
    expect(res.body.points.map((p) => new Date(p.time).getTime()).sort((a, b) => a - b)).toEqual(
      [...times].sort((a, b) => a - b),
    )
  })
})
