import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  CQ_HEARTBEAT_5M,
  CQ_HEARTBEAT_HOURLY,
  InfluxStore,
  RP_EVENTS,
  RP_FIVEMIN,
  RP_HOURLY,
  RP_RAW,
} from '../../gateway/src/influx/influx-store.js'
import { escapeFieldString, escapeTag } from '../../gateway/src/influx/line-protocol.js'
import { findFreePort, ManagedInfluxd } from '../../gateway/src/influx/managed-influxd.js'
import { tempDir } from '../helpers/tmp.js'

const log = pino({ level: 'silent' })
const url = inject('influxUrl')
const db = `t_store_${process.pid}_${Date.now()}`
const store = new InfluxStore({ url, db, log })

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

function heartbeat(device: string, t: number, uptime: number): string {
  return `heartbeat,device=${device},district=4 uptime_s=${uptime}i,storage_free_mb=${1000 - uptime},storage_total_mb=2000,recording=true,signal_dbm=-60,temperature_c=30.5,battery_pct=80,skew_ms=5i,model="cam2" ${t}000000`
}

beforeAll(async () => {
  await store.ensureSchema()
})

afterAll(async () => {
  await store.query(`DROP DATABASE ${db}`)
})

describe('InfluxStore schema', () => {
  it('creates the retention policies and the hourly and 5-minute CQs, idempotently', async () => {
    const since = store.downsampleSince
    await store.ensureSchema()
    await store.ensureSchema()
    // The mark of the 5-minute CQ's creation stays where the first start put it.
    expect(since).toBeGreaterThan(Date.now() - 60_000)
    expect(store.downsampleSince).toBe(since)
    const rps = await store.query<{ name: string; duration: string; default: boolean }>(
      `SHOW RETENTION POLICIES ON ${db}`,
    )
    const byName = Object.fromEntries(rps.map((r) => [r.name, r]))
    expect(byName[RP_RAW]).toMatchObject({ duration: '720h0m0s', default: true })
    expect(byName[RP_EVENTS]).toMatchObject({ duration: '8736h0m0s', default: false })
    expect(byName[RP_HOURLY]).toMatchObject({ duration: '8736h0m0s', default: false })
    expect(byName[RP_FIVEMIN]).toMatchObject({ duration: '840h0m0s', default: false })

    const cqs = await store.query<{ name: string; query: string }>('SHOW CONTINUOUS QUERIES')
    const ours = cqs.filter((c) => c.query.includes(`ON ${db} `))
    expect(ours.map((c) => c.name).sort()).toEqual([CQ_HEARTBEAT_5M, CQ_HEARTBEAT_HOURLY])
    const hourly = ours.find((c) => c.name === CQ_HEARTBEAT_HOURLY)?.query
    expect(hourly).toContain(`INTO ${db}.${RP_HOURLY}.heartbeat_hourly`)
    // Only provisioned tags: a unit's own text (its model) is a field, never a series.
    expect(hourly).toMatch(/GROUP BY time\(1h\), device, district END/)
    const fivemin = ours.find((c) => c.name === CQ_HEARTBEAT_5M)?.query
    expect(fivemin).toContain(`RESAMPLE FOR 15m BEGIN`)
    expect(fivemin).toContain(`INTO ${db}.${RP_FIVEMIN}.heartbeat_5m FROM ${db}.${RP_RAW}.heartbeat`)
    expect(fivemin).toContain(
      'min(signal_dbm) AS signal_dbm_min, max(signal_dbm) AS signal_dbm_max, sum(signal_dbm) AS signal_dbm_sum',
    )
    expect(fivemin).toContain('count(uptime_s) AS samples')
    expect(fivemin).toMatch(/GROUP BY time\(5m\), device, district END/)
  })

  it('starts the mark again when the 5-minute CQ had to be created again', async () => {
    const before = store.downsampleSince as number
    await store.query(`DROP CONTINUOUS QUERY ${CQ_HEARTBEAT_5M} ON ${db}`)
    await new Promise((r) => setTimeout(r, 5))
    await store.ensureSchema()
    expect(store.downsampleSince).toBeGreaterThan(before)
    // Another gateway on the database reads the same mark.
    const other = new InfluxStore({ url, db, log })
    await other.ensureSchema()
    expect(other.downsampleSince).toBe(store.downsampleSince)
  })

  it('puts a drifted retention policy back', async () => {
    await store.query(`ALTER RETENTION POLICY ${RP_RAW} ON ${db} DURATION 2d`)
    await store.ensureSchema()
    const rps = await store.query<{ name: string; duration: string }>(`SHOW RETENTION POLICIES ON ${db}`)
    expect(rps.find((r) => r.name === RP_RAW)?.duration).toBe('720h0m0s')
  })
})

describe('InfluxStore writes', () => {
  it('round-trips escaped tags and string fields through influxd', async () => {
    const device = 'unit 7,back=yard\\shed'
    const zone = 'porch "left" C:\\cam\\'
    const t = Date.now() - MIN
    await store.writeLines(
      `event,device=${escapeTag(device)},district=1,kind=motion,phase=start event_id="e1",zone=${escapeFieldString(zone)},score=0.9 ${t}000000`,
      RP_EVENTS,
    )
    const rows = await store.query<{ time: number; device: string; zone: string }>(
      `SELECT device, zone FROM ${RP_EVENTS}.event WHERE device = $device`,
      { device },
    )
    expect(rows).toEqual([{ time: t, device, zone }])
  })

  it('counts points dropped from a partial write and treats the rest as written', async () => {
    const t = Date.now() - MIN
    await store.writeLines(`conflict,device=a v=1 ${t}000000`)
    const before = store.refused
    await store.writeLines(`conflict,device=a v="text" ${t + 1}000000\nconflict,device=a v=2 ${t + 2}000000`)
    expect(store.refused - before).toBe(1)
    expect(await store.count('conflict')).toBe(2)
  })

  it('refuses a batch with nothing parseable as DOORSTEP_ERR_INFLUX_REJECTED', async () => {
    await expect(store.writeLines('this is not line protocol')).rejects.toMatchObject({
      code: 'DOORSTEP_ERR_INFLUX_REJECTED',
    })
  })

  it('tracks concurrent writes', async () => {
    const t = Date.now() - MIN
    const writes = [1, 2, 3].map((i) => store.writeLines(`concurrent,device=c v=${i} ${t + i}000000`))
    expect(store.inFlight).toBe(3)
    await Promise.all(writes)
    expect(store.inFlight).toBe(0)
    expect(store.maxInFlight).toBeGreaterThanOrEqual(3)
  })

  it('throws DOORSTEP_ERR_INFLUX_UNAVAILABLE against a stopped influxd', async () => {
    const tmp = tempDir('doorstep-influx-stopped-')
    const influxd = new ManagedInfluxd({ dataDir: tmp.dir, log })
    try {
      const deadUrl = await influxd.start()
      const dead = new InfluxStore({ url: deadUrl, db, log })
      await influxd.stop()
      const err = await dead.writeLines(heartbeat('x', Date.now(), 1)).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'DOORSTEP_ERR_INFLUX_UNAVAILABLE' })
      expect((err as Error).message).toContain('ECONNREFUSED')
      expect((err as Error).cause).toBeDefined()
      expect(dead.inFlight).toBe(0)
      expect(await dead.ping()).toBe(false)
      await expect(dead.query('SHOW DATABASES')).rejects.toMatchObject({
        code: 'DOORSTEP_ERR_INFLUX_UNAVAILABLE',
      })
    } finally {
      await influxd.stop()
      tmp.cleanup()
    }
  })

  it('pings', async () => {
    expect(await store.ping()).toBe(true)
    expect(await new InfluxStore({ url: `http://127.0.0.1:${await findFreePort()}`, db, log }).ping()).toBe(
      false,
    )
  })
})

describe('InfluxStore.heartbeats', () => {
  const now = Date.now()
  const start = now - 12 * HOUR

  beforeAll(async () => {
    const lines: string[] = []
    // One heartbeat a minute for 12 h, plus a neighbour that must never show up.
    for (let i = 0; i <= 720; i++) lines.push(heartbeat('hb-1', start + i * MIN, i))
    lines.push(heartbeat('hb-2', start + 30 * MIN, 99_999))
    await store.writeLines(lines.join('\n'))
    // The hourly downsample, as the CQ would have written it 40 days ago.
    const old = Math.floor((now - 40 * DAY) / HOUR) * HOUR
    const hourly: string[] = []
    for (let h = 0; h < 48; h++) {
      hourly.push(
        `heartbeat_hourly,device=hb-1,district=4 storage_free_mb=500,storage_total_mb=2000,signal_dbm=-61,temperature_c=20,battery_pct=70,uptime_s=${h * 3600},samples=120 ${old + h * HOUR}000000`,
      )
    }
    await store.writeLines(hourly.join('\n'), RP_HOURLY)
  })

  it('returns raw points for ranges up to 6 h', async () => {
    const rows = await store.heartbeats('hb-1', now - 2 * HOUR, now)
    expect(rows.length).toBeGreaterThanOrEqual(119)
    expect(rows.length).toBeLessThanOrEqual(121)
    expect(rows[0]).toMatchObject({ recording: true, skew_ms: 5, storage_total_mb: 2000 })
    expect(typeof rows[0]?.time).toBe('number')
    expect(rows.every((r) => r.uptime_s !== 99_999)).toBe(true)
  })

  it('returns at most ~500 buckets of means for longer ranges', async () => {
    const rows = await store.heartbeats('hb-1', start, now)
    expect(rows.length).toBeLessThanOrEqual(500)
    expect(rows.length).toBeGreaterThan(100)
    const full = rows.filter((r) => typeof r.samples === 'number' && r.samples > 0)
    expect(full.reduce((n, r) => n + (r.samples as number), 0)).toBe(721)
    expect(rows[0]).not.toHaveProperty('recording')
    expect(Math.max(...full.map((r) => r.uptime_s as number))).toBe(720)
    const step = (rows[1]?.time as number) - (rows[0]?.time as number)
    expect(step).toBeGreaterThanOrEqual(MIN)
  })

  it('reads the hourly downsample for ranges older than 30 days', async () => {
    const rows = await store.heartbeats('hb-1', now - 45 * DAY, now - 35 * DAY)
    const full = rows.filter((r) => r.samples !== null)
    expect(rows.length).toBeLessThanOrEqual(500)
    expect(full.reduce((n, r) => n + (r.samples as number), 0)).toBe(48 * 120)
    expect(full[0]).toMatchObject({ storage_free_mb: 500, signal_dbm: -61 })
  })

  it('refuses a reversed range', async () => {
    await expect(store.heartbeats('hb-1', now, now - HOUR)).rejects.toMatchObject({
      code: 'DOORSTEP_ERR_BAD_REQUEST',
    })
  })

  it('counts points', async () => {
    expect(await store.count('heartbeat', "device = 'hb-1'")).toBe(721)
    expect(await store.count('heartbeat_hourly', undefined, RP_HOURLY)).toBe(48)
  })
})
