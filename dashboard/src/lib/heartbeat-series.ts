import type { HeartbeatPoint } from '@doorstep/proto'

/** Heartbeat history in uPlot's columnar shape: x in seconds, one array per measure, null for a gap. */
export interface HeartbeatSeries {
  /** Unix seconds, ascending. */
  t: number[]
  storageFreeMb: Array<number | null>
  signalDbm: Array<number | null>
  temperatureC: Array<number | null>
  batteryPct: Array<number | null>
  /** False for mains-only units, which never report a battery. */
  hasBattery: boolean
}

/**
 * A point's time in ms. InfluxDB answers with RFC 3339 text (node-influx) or
 * a number whose unit depends on the query's precision; the size of the
 * number tells which: seconds (< 1e11), ms, µs (>= 1e14) or ns (>= 1e17).
 */
export function timeMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (v >= 1e17) return Math.round(v / 1e6)
    if (v >= 1e14) return Math.round(v / 1e3)
    if (v < 1e11) return Math.round(v * 1000)
    return Math.round(v)
  }
  if (typeof v === 'string' && v !== '') {
    if (/^\d+$/.test(v)) return timeMs(Number(v))
    const ms = Date.parse(v)
    return Number.isNaN(ms) ? null : ms
  }
  return null
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v)
    return Number.isFinite(n) ? n : null
  }
  return null
}

export function toSeries(points: readonly HeartbeatPoint[]): HeartbeatSeries {
  const rows: Array<{ t: number; p: HeartbeatPoint }> = []
  for (const p of points) {
    const ms = timeMs(p.time)
    if (ms !== null) rows.push({ t: ms / 1000, p })
  }
  rows.sort((a, b) => a.t - b.t)
  const s: HeartbeatSeries = {
    t: [],
    storageFreeMb: [],
    signalDbm: [],
    temperatureC: [],
    batteryPct: [],
    hasBattery: false,
  }
  for (const { t, p } of rows) {
    s.t.push(t)
    s.storageFreeMb.push(num(p.storage_free_mb))
    s.signalDbm.push(num(p.signal_dbm))
    s.temperatureC.push(num(p.temperature_c))
    const b = num(p.battery_pct)
    if (b !== null) s.hasBattery = true
    s.batteryPct.push(b)
  }
  return s
}
