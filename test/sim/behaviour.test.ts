import { Heartbeat } from '@doorstep/proto'
import { describe, expect, it } from 'vitest'
import { eventRatePerHour, heartbeatValues, hourOfDay } from '../../device-sim/src/behaviour.js'
import { planFleet } from '../../device-sim/src/fleet-plan.js'

const HOUR = 3_600_000
/** 2026-03-02 00:00 in the city (UTC+8). */
const MIDNIGHT = Date.UTC(2026, 2, 1, 16, 0, 0)

describe('unit behaviour over a day', () => {
  const plan = planFleet({ count: 400 })

  it('every heartbeat over 24 h passes proto’s Heartbeat schema', () => {
    for (const u of plan) {
      for (let h = 0; h < 24; h += 1.5) {
        const now = MIDNIGHT + h * HOUR
        const hb = { v: 1, ts: now, ...heartbeatValues(u, now, MIDNIGHT - 3 * HOUR) }
        const r = Heartbeat.safeParse(hb)
        expect(r.success, JSON.stringify(r.error?.issues)).toBe(true)
        expect(hb.batteryPct === undefined).toBe(!u.hasBattery)
      }
    }
  })

  it('uptime counts from boot; values drift slowly between heartbeats', () => {
    const u = plan[0]!
    const a = heartbeatValues(u, MIDNIGHT + 30_000, MIDNIGHT)
    const b = heartbeatValues(u, MIDNIGHT + 60_000, MIDNIGHT)
    expect(a.uptimeS).toBe(30)
    expect(b.uptimeS).toBe(60)
    expect(Math.abs(a.temperatureC - b.temperatureC)).toBeLessThan(1)
    expect(Math.abs(a.signalDbm - b.signalDbm)).toBeLessThanOrEqual(2)
    expect(a.storageFreeMb).toBeGreaterThanOrEqual(b.storageFreeMb)
  })

  it('is warmer mid-afternoon than before dawn, and rural signal is weaker than urban', () => {
    const avg = (f: (u: (typeof plan)[number]) => number, units = plan) =>
      units.reduce((s, u) => s + f(u), 0) / units.length
    const at = (h: number) => MIDNIGHT + h * HOUR
    expect(avg((u) => heartbeatValues(u, at(15), at(0)).temperatureC)).toBeGreaterThan(
      avg((u) => heartbeatValues(u, at(4), at(0)).temperatureC) + 8,
    )
    const urban = plan.filter((u) => u.setting === 'urban')
    const rural = plan.filter((u) => u.setting === 'rural')
    expect(avg((u) => heartbeatValues(u, at(12), at(0)).signalDbm, rural)).toBeLessThan(
      avg((u) => heartbeatValues(u, at(12), at(0)).signalDbm, urban) - 15,
    )
  })

  it('records most of the time, with storage filling and wrapping', () => {
    const u = plan[1]!
    let recording = 0
    const free: number[] = []
    for (let h = 0; h < 24 * 14; h++) {
      const v = heartbeatValues(u, MIDNIGHT + h * HOUR, MIDNIGHT)
      if (v.recording) recording++
      free.push(v.storageFreeMb)
    }
    expect(recording / free.length).toBeGreaterThan(0.9)
    // The sawtooth: mostly falling, with at least one jump back up (the wrap) in two weeks.
    const jumps = free.slice(1).filter((f, i) => f > (free[i] as number) + u.storageTotalMb * 0.3).length
    expect(jumps).toBeGreaterThanOrEqual(1)
  })

  it('nights are quieter than evenings, rural nights quietest', () => {
    const at = (h: number) => MIDNIGHT + h * HOUR
    expect(hourOfDay(at(3))).toBeCloseTo(3)
    expect(eventRatePerHour('urban', at(3))).toBeLessThan(eventRatePerHour('urban', at(18)) / 4)
    expect(eventRatePerHour('rural', at(3))).toBeLessThan(eventRatePerHour('urban', at(3)) / 2)
  })
})
