import { postBody } from '../../gateway/src/influx/http-post.js'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'

/**
 * A year of one city's heartbeats in InfluxDB, written in bulk: raw points
 * as the gateway writes them (`ingest/points.ts`), and the hourly and
 * 5-minute aggregates as its CQs write them (`influx/heartbeat-schema.ts`).
 * Values are a deterministic function of the unit and the time, so runs
 * compare: storage fills and is freed daily, signal wanders, temperature
 * follows the day, a quarter of the units have a battery.
 */

const HOUR = 3_600_000

export interface Loaded {
  points: number
  seconds: number
}

function gauges(unit: number, t: number) {
  const dayPhase = ((t % 86_400_000) / 86_400_000) * 2 * Math.PI
  const wobble = Math.sin(t / 600_000 + unit)
  return {
    storageFree: Math.round((20_000 - ((t / 4_000 + unit * 997) % 18_000)) * 10) / 10,
    signal: Math.round((-55 - (unit % 20) + 3 * wobble) * 10) / 10,
    temperature: Math.round((18 + 6 * Math.sin(dayPhase) + (unit % 5) + wobble) * 10) / 10,
    battery: unit % 4 === 0 ? Math.round(60 + 30 * Math.cos(dayPhase / 2 + unit)) : null,
  }
}

/** The raw heartbeat line of unit `i` at `t` (ms), timestamp in seconds. */
export function rawLine(d: DeviceRecord, i: number, t: number): string {
  const g = gauges(i, t)
  const battery = g.battery === null ? '' : `,battery_pct=${g.battery}`
  return `heartbeat,device=${d.id},district=${d.district} uptime_s=${Math.floor((t % (40 * 86_400_000)) / 1000)}i,storage_free_mb=${g.storageFree},storage_total_mb=29000,recording=true,signal_dbm=${g.signal},temperature_c=${g.temperature},skew_ms=${(t + i) % 300}i,model="${d.model}"${battery} ${Math.floor(t / 1000)}`
}

/** A bucket of `samples` heartbeats as a CQ writes it; `full` adds the 5-minute CQ's min and max. */
export function aggregateLine(
  measurement: string,
  d: DeviceRecord,
  i: number,
  t: number,
  samples: number,
  full: boolean,
): string {
  const g = gauges(i, t)
  const f = (name: string, v: number) =>
    full
      ? `${name}=${v},${name}_min=${v - 1},${name}_max=${v + 1},${name}_sum=${Math.round(v * samples * 10) / 10}`
      : `${name}=${v}`
  const battery = g.battery === null ? '' : `,${f('battery_pct', g.battery)}`
  return `${measurement},device=${d.id},district=${d.district} ${f('storage_free_mb', g.storageFree)},${f('storage_total_mb', 29000)},${f('signal_dbm', g.signal)},${f('temperature_c', g.temperature)}${battery},uptime_s=${Math.floor((t % (40 * 86_400_000)) / 1000)}i,samples=${samples}i ${Math.floor(t / 1000)}`
}

/**
 * Writes what `lines` yields in batches of `batch` lines, two writes in flight (the machine has two
 * cores); a write influxd answers 5xx (its cache full while it snapshots) is retried after a pause.
 */
export async function writeAll(
  url: string,
  db: string,
  rp: string,
  lines: Iterable<string>,
  batch = 50_000,
): Promise<Loaded> {
  const t0 = Date.now()
  const target = `${url}/write?db=${encodeURIComponent(db)}&rp=${encodeURIComponent(rp)}&precision=s`
  let points = 0
  const inFlight = new Set<Promise<void>>()
  const send = async (body: string, n: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const res = await postBody(target, body, 120_000)
      if (res.status === 204) {
        points += n
        return
      }
      if (res.status < 500 || attempt >= 30)
        throw new Error(`write to ${rp} answered ${res.status}: ${res.text.slice(0, 300)}`)
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)))
    }
  }
  let buf: string[] = []
  const flush = async () => {
    if (buf.length === 0) return
    const p = send(buf.join('\n'), buf.length)
    buf = []
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    if (inFlight.size >= 2) await Promise.race(inFlight)
  }
  for (const line of lines) {
    buf.push(line)
    if (buf.length >= batch) await flush()
  }
  await flush()
  await Promise.all(inFlight)
  return { points, seconds: Math.round((Date.now() - t0) / 100) / 10 }
}

/**
 * Every unit of `units`, one point each `everyMs` from `from` to `to`, in time order (day by day).
 * Raw heartbeats each have their unit's phase, as units are not in step; aggregates sit on bucket edges.
 */
export function* series(
  devices: readonly DeviceRecord[],
  units: readonly number[],
  from: number,
  to: number,
  everyMs: number,
  line: (d: DeviceRecord, i: number, t: number) => string,
  phased: boolean,
): Generator<string> {
  const day = 24 * HOUR
  for (let d0 = from; d0 < to; d0 += day) {
    for (const i of units) {
      const phase = phased ? (i * 7_919) % everyMs : 0
      const first = Math.ceil((d0 - phase) / everyMs) * everyMs + phase
      const end = Math.min(d0 + day, to)
      for (let t = first; t < end; t += everyMs) yield line(devices[i] as DeviceRecord, i, t)
    }
  }
}
