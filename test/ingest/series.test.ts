import { topicFor } from '@doorstep/proto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { influxCount, influxQuery, influxRows } from '../helpers/influx-query.js'
import { connectUnit, publish } from '../helpers/mqtt.js'
import { heartbeat } from '../helpers/payloads.js'
import { until } from '../helpers/wait.js'

/**
 * What a unit can do to InfluxDB's series index: tags come from provisioning only, so whatever text a
 * unit sends, its heartbeats stay one series (real influxd, aedes over TCP).
 */
describe('InfluxDB series of a unit (real influxd)', () => {
  let t: TestGateway
  let c: MqttClient | null = null
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(async () => {
    c?.end(true)
    await t?.stop()
  })

  it('a unit announcing a new model before every heartbeat still writes one series; the model is a field', async () => {
    const u = await t.gateway.registry.create(deviceRow({ id: 'cam-series-1', district: 9 }))
    c = await connectUnit(t.gateway.mqttUrl, u.id, u.secret)
    const models = ['rand-a', 'rand b,=x', 'rand-c', 'rand-d']
    for (const [i, model] of models.entries()) {
      const hello = { v: 1, ts: Date.now(), model, firmware: '1.0', capabilities: ['motion'] }
      await publish(c, topicFor('hello', u.id), hello, 1)
      await publish(c, topicFor('heartbeat', u.id), heartbeat({ uptimeS: 100 + i }), 1)
    }
    const count = `SELECT count(uptime_s) FROM heartbeat WHERE device = '${u.id}'`
    await until('all heartbeats are written', async () => (await influxCount(t.influxUrl, t.db, count)) === 4)
    const series = await influxQuery(t.influxUrl, t.db, 'SHOW SERIES FROM heartbeat')
    expect(series.flatMap((s) => s.values.map((v) => String(v[0])))).toEqual([
      `heartbeat,device=${u.id},district=9`,
    ])
    const tagKeys = await influxQuery(t.influxUrl, t.db, 'SHOW TAG KEYS FROM heartbeat')
    expect(tagKeys.flatMap((s) => s.values.map((v) => String(v[0]))).sort()).toEqual(['device', 'district'])
    const rows = await influxRows(
      t.influxUrl,
      t.db,
      `SELECT model, uptime_s FROM heartbeat WHERE device = '${u.id}' ORDER BY time`,
    )
    expect(rows.map((r) => r.model)).toEqual(models)
  })
})
