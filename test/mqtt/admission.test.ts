import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdmissionGate } from '../../gateway/src/mqtt/admission.js'
import { deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectUnit } from '../helpers/mqtt.js'

describe('AdmissionGate', () => {
  it('admits a burst, then the steady rate', () => {
    const g = new AdmissionGate(10, 5, 0)
    const burst = Array.from({ length: 8 }, () => g.tryAdmit(0)).filter(Boolean).length
    expect(burst).toBe(5)
    expect(g.tryAdmit(50)).toBe(false)
    expect(g.tryAdmit(100)).toBe(true)
    expect(g.tryAdmit(100)).toBe(false)
  })
})

describe('reconnect storm admission (real aedes over TCP)', () => {
  let t: TestGateway
  const clients: MqttClient[] = []
  beforeAll(async () => {
    t = await startTestGateway({ DOORSTEP_CONNECT_RATE: 50 })
  })
  afterAll(async () => {
    for (const c of clients) c.end(true)
    await t?.stop()
  })

  it('refuses the excess with CONNACK 3, and every unit gets in by retrying with backoff', async () => {
    const units = await t.gateway.registry.importMany(
      Array.from({ length: 150 }, (_, i) => deviceRow({ id: `cam-st-${i}` })),
    )
    let refused = 0
    const started = Date.now()
    await Promise.all(
      units.map(async (u) => {
        for (let attempt = 0; attempt < 40; attempt++) {
          try {
            clients.push(await connectUnit(t.gateway.mqttUrl, u.id, u.secret))
            return
          } catch (err) {
            const code = (err as { code?: number }).code
            expect(code).toBe(3)
            refused++
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 100 * 2 ** attempt)))
          }
        }
        throw new Error(`${u.id} never got in`)
      }),
    )
    expect(refused).toBeGreaterThan(0)
    expect(clients.length).toBe(150)
    // 150 units at 50/s with a 50 burst: about 2 s, with room for backoff.
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})
