import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackCode, connectUnit } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'

/*
 * One address floods the MQTT port right after a restart, when no unit's secret is cached: CONNECTs
 * with made-up unit ids, and wrong secrets for real ones (each of which would cost a scrypt check).
 * The other units, from their own addresses, must connect at their first attempt all the same.
 */
describe('a flood of bad CONNECTs from one address (real gateway over TCP, after a restart)', () => {
  const data = tempDir('doorstep-flood-')
  let t: TestGateway
  const victims: Array<{ id: string; secret: string }> = []
  const fleet: Array<{ id: string; secret: string }> = []
  const clients: MqttClient[] = []

  beforeAll(async () => {
    const first = await startTestGateway({ DOORSTEP_DATA_DIR: data.dir })
    for (let i = 0; i < 20; i++) {
      victims.push(await first.gateway.registry.create(deviceRow({ id: `cam-victim-${i}` })))
      fleet.push(await first.gateway.registry.create(deviceRow({ id: `cam-fleet-${i}` })))
    }
    await first.stop({ keepData: true })
    // A small fleet budget, so that a flood that could spend it would show.
    t = await startTestGateway({
      DOORSTEP_DATA_DIR: data.dir,
      DOORSTEP_CONNECT_RATE: 40,
      DOORSTEP_CONNECT_RATE_PER_ADDRESS: 20,
    })
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await t?.stop()
    data.cleanup()
  })

  const reasons = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {}
    for (const v of (await t.gateway.metrics.disconnects.get()).values) {
      const r = String(v.labels.reason)
      out[r] = (out[r] ?? 0) + v.value
    }
    return out
  }

  it('leaves the other units connecting normally', async () => {
    const port = t.gateway.broker.port
    const flood: Array<Promise<number | 'closed'>> = []
    for (let round = 0; round < 5; round++) {
      for (const v of victims) flood.push(connackCode(port, v.id, `wrong-${round}`, '127.0.0.2'))
      for (let j = 0; j < 40; j++)
        flood.push(connackCode(port, `cam-junk-${round}-${j}`, 'guess', '127.0.0.2'))
    }
    // The fleet connects while the flood is in flight, from another address, each unit once.
    const fleetCodes = await Promise.all(
      fleet.map((u) =>
        connectUnit(t.gateway.mqttUrl, u.id, u.secret).then(
          (c) => {
            clients.push(c)
            return 0
          },
          (err: { code?: number }) => err.code ?? 'closed',
        ),
      ),
    )
    const floodCodes = await Promise.all(flood)
    expect(fleetCodes).toEqual(fleet.map(() => 0))
    // Nothing of the flood got in, and it was turned away by the cheap checks and its own budget.
    expect(floodCodes.filter((c) => c === 0)).toEqual([])
    const r = await reasons()
    expect(r['refused-auth']).toBeGreaterThanOrEqual(200)
    expect((r['refused-admission'] ?? 0) + (r['refused-backoff'] ?? 0)).toBeGreaterThan(0)
    expect(r['refused-busy'] ?? 0).toBe(0)
  }, 60_000)
})
