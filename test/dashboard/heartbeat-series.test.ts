import { describe, expect, it } from 'vitest'
import { timeMs, toSeries } from '../../dashboard/src/lib/heartbeat-series.js'

describe('heartbeat series', () => {
  it('reads InfluxDB times as RFC 3339 text or numbers in s, ms, µs or ns', () => {
    const ms = Date.UTC(2025, 0, 2, 3, 4, 5, 678)
    expect(timeMs('2025-01-02T03:04:05.678Z')).toBe(ms)
    expect(timeMs(ms)).toBe(ms)
    expect(timeMs(ms / 1000)).toBe(ms)
    expect(timeMs(ms * 1000)).toBe(ms)
    expect(timeMs(ms * 1e6)).toBe(ms)
    expect(timeMs(String(ms))).toBe(ms)
    expect(timeMs('yesterday')).toBeNull()
    expect(timeMs(null)).toBeNull()
  })

  it('sorts by time, keeps gaps as null and notices batteries', () => {
    const s = toSeries([
      {
        time: '2025-01-01T00:01:00Z',
        storage_free_mb: 900,
        signal_dbm: -60,
        temperature_c: 31.5,
        battery_pct: null,
      },
      {
        time: '2025-01-01T00:00:00Z',
        storage_free_mb: 1000,
        signal_dbm: -61,
        temperature_c: 31,
        battery_pct: 80,
      },
      { time: 'garbage', storage_free_mb: 1 },
      { time: '2025-01-01T00:02:00Z', storage_free_mb: '850' as unknown as number, signal_dbm: null },
    ])
    const t0 = Date.UTC(2025, 0, 1) / 1000
    expect(s.t).toEqual([t0, t0 + 60, t0 + 120])
    expect(s.storageFreeMb).toEqual([1000, 900, 850])
    expect(s.signalDbm).toEqual([-61, -60, null])
    expect(s.temperatureC).toEqual([31, 31.5, null])
    expect(s.batteryPct).toEqual([80, null, null])
    expect(s.hasBattery).toBe(true)
  })

  it('marks mains-only units', () => {
    expect(toSeries([{ time: 1_700_000_000_000, storage_free_mb: 5 }]).hasBattery).toBe(false)
  })
})
