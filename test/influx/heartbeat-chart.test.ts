import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { planChart } from '../../gateway/src/influx/heartbeat-chart.js'
import {
  CQ_HEARTBEAT_5M,
  FIVEMIN_MEASUREMENT,
  fiveMinSelect,
  MARK_MEASUREMENT,
} from '../../gateway/src/influx/heartbeat-schema.js'
import { InfluxStore, RP_FIVEMIN, RP_HOURLY } from '../../gateway/src/influx/influx-store.js'

const log = pino({ level: 'silent' })
const url = inject('influxUrl')
const db = `t_chart_${process.pid}_${Date.now()}`
const store = new InfluxStore({ url, db, log })

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

describe('planChart', () => {
  const now = Date.UTC(2026, 11, 5, 12, 7, 30)

  it('keeps short ranges on the raw points, and charts finer than 5 minutes on raw buckets', () => {
    expect(planChart(now - 6 * HOUR, now, now, now - 10 * DAY)).toEqual({ kind: 'points' })
    expect(planChart(now - 12 * HOUR, now, now, now - 10 * DAY)).toEqual({ kind: 'raw', step: 2 * MIN })
  })

  it('splits a 7-day chart at bucket edges: downsample until the CQ lag, raw after', () => {
    const plan = planChart(now - 7 * DAY, now, now, now - 10 * DAY)
    expect(plan).toEqual({
      kind: 'split',
      step: 30 * MIN,
      a: Math.ceil((now - 7 * DAY) / (30 * MIN)) * 30 * MIN,
      // 11:52:30 is the last moment the CQ has finished: its bucket edge is 11:30.
      b: Date.UTC(2026, 11, 5, 11, 30),
    })
  })

  it('reads raw before the mark, and only raw when the mark is not known or too recent', () => {
    const since = now - 2 * DAY - 7 * MIN
    const plan = planChart(now - 7 * DAY, now, now, since)
    expect(plan).toMatchObject({ kind: 'split', a: Math.ceil(since / (30 * MIN)) * 30 * MIN })
    expect(planChart(now - 7 * DAY, now, now, null)).toEqual({ kind: 'raw', step: 30 * MIN })
    expect(planChart(now - 7 * DAY, now, now, now - 20 * MIN)).toEqual({ kind: 'raw', step: 30 * MIN })
  })

  it('reads the hourly downsample past the raw retention', () => {
    expect(planChart(now - 40 * DAY, now - 35 * DAY, now, now - 100 * DAY)).toEqual({
      kind: 'hourly',
      step: HOUR,
    })
  })
})

/** One heartbeat a minute for 8 days, values that change within every 5-minute bucket. */
function heartbeats(device: string, district: number, from: number, n: number): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const battery = device.endsWith('mains') ? '' : `,battery_pct=${50 + (i % 50)}`
    lines.push(
      `heartbeat,device=${device},district=${district} uptime_s=${i * 60}i,storage_free_mb=${1000 - (i % 97) * 3.5},storage_total_mb=2000,signal_dbm=${-60 - (i % 7)},temperature_c=${20 + (i % 13) / 10}${battery},recording=true,skew_ms=5i ${from + i * MIN}000000`,
    )
  }
  return lines.join('\n')
}

/** Every bucket's figures equal within floating-point rounding. */
function expectSameSeries(got: Record<string, unknown>[], want: Record<string, unknown>[]): void {
  expect(got.map((r) => r.time)).toEqual(want.map((r) => r.time))
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as Record<string, unknown>
    const g = got[i] as Record<string, unknown>
    expect(Object.keys(g).sort()).toEqual(Object.keys(w).sort())
    for (const [k, v] of Object.entries(w)) {
      if (typeof v === 'number') expect(g[k], `${k} at ${w.time}`).toBeCloseTo(v, 6)
      else expect(g[k], `${k} at ${w.time}`).toBe(v)
    }
  }
}

describe('InfluxStore.heartbeats from the 5-minute downsample (real influxd)', () => {
  const now = Date.now()
  const start = Math.floor((now - 8 * DAY) / HOUR) * HOUR
  const n = Math.floor((now - start) / MIN)
  /** As far as the CQ would have run: two buckets short of now (its 15-minute resample lags behind). */
  const covered = Math.floor((now - 10 * MIN) / (5 * MIN)) * 5 * MIN

  async function setMark(since: number): Promise<void> {
    await store.writeLines(
      `${MARK_MEASUREMENT},cq=${CQ_HEARTBEAT_5M} since=${since}i ${Date.now()}000000`,
      RP_HOURLY,
    )
    await store.ensureSchema()
    expect(store.downsampleSince).toBe(since)
  }

  beforeAll(async () => {
    await store.ensureSchema()
    await store.writeLines(heartbeats('ds-1', 4, start, n))
    await store.writeLines(heartbeats('ds-mains', 4, start, n))
    // Moved to district 9 for its last two days: a second series for the same unit.
    const moved = start + 6 * DAY
    await store.writeLines(heartbeats('ds-1', 9, moved + 30_000, Math.floor((now - moved) / MIN)))
    // The downsample as the CQ leaves it: the CQ's own query, run once up to where it would be.
    await store.query(fiveMinSelect(db, `time >= ${start}ms AND time < ${covered}ms`))
  })

  afterAll(async () => {
    await store.query(`DROP DATABASE ${db}`)
  })

  it('gives a 7-day chart the same series as the raw points, and a 29-day one', async () => {
    await setMark(start - DAY)
    for (const device of ['ds-1', 'ds-mains']) {
      for (const days of [7, 29]) {
        const from = now - days * DAY
        expect(planChart(from, now, Date.now(), store.downsampleSince).kind).toBe('split')
        const fast = await store.heartbeats(device, from, now)
        const raw = await store.heartbeats(device, from, now, { raw: true })
        expect(fast.length).toBeLessThanOrEqual(500)
        expect(fast.reduce((s, r) => s + (r.samples as number), 0)).toBeGreaterThan(0)
        expectSameSeries(fast, raw)
      }
    }
  })

  it('reads the downsample where it is final and the raw points after it', async () => {
    await setMark(start - DAY)
    const from = now - 7 * DAY
    const plan = planChart(from, now, Date.now(), store.downsampleSince)
    if (plan.kind !== 'split') throw new Error(`expected a split, got ${plan.kind}`)
    // A bucket the downsample holds says 1 MiB free; the raw points beyond its reach say 7.
    const mid = plan.a + 3 * plan.step
    await store.writeLines(
      `${FIVEMIN_MEASUREMENT},device=ds-1,district=4 storage_free_mb=1,storage_free_mb_sum=1000,samples=1000i ${mid}000000`,
      RP_FIVEMIN,
    )
    await store.writeLines(
      `${FIVEMIN_MEASUREMENT},device=ds-1,district=9 storage_free_mb=1,storage_free_mb_sum=1,samples=1i ${plan.b}000000`,
      RP_FIVEMIN,
    )
    try {
      const rows = await store.heartbeats('ds-1', from, now)
      const at = (t: number) => rows.find((r) => r.time === t) as Record<string, number>
      expect(at(mid).storage_free_mb).toBeLessThan(50)
      expect(at(plan.b).storage_free_mb).toBeGreaterThan(600)
    } finally {
      for (const t of [mid, plan.b]) {
        await store.query(`DELETE FROM ${FIVEMIN_MEASUREMENT} WHERE time = ${t}ms`)
        await store.query(fiveMinSelect(db, `time >= ${t}ms AND time < ${t + 5 * MIN}ms`))
      }
    }
  })

  it('falls back to the raw points before the mark', async () => {
    // The CQ "created" 3 days ago: anything in the downsample before then is not to be trusted.
    const since = now - 3 * DAY
    await setMark(since)
    const bogus = Math.floor((now - 5 * DAY) / (5 * MIN)) * 5 * MIN
    await store.writeLines(
      `${FIVEMIN_MEASUREMENT},device=ds-1,district=4 storage_free_mb=-1,storage_free_mb_sum=-1000,samples=1000i ${bogus}000000`,
      RP_FIVEMIN,
    )
    const from = now - 7 * DAY
    const plan = planChart(from, now, Date.now(), store.downsampleSince)
    expect(plan).toMatchObject({ kind: 'split', a: Math.ceil(since / (30 * MIN)) * 30 * MIN })
    const fast = await store.heartbeats('ds-1', from, now)
    expectSameSeries(fast, await store.heartbeats('ds-1', from, now, { raw: true }))
    expect(fast.every((r) => r.storage_free_mb === null || (r.storage_free_mb as number) > 0)).toBe(true)
  })

  it('reads only raw points while the CQ is younger than its lag', async () => {
    await setMark(Date.now() - 5 * MIN)
    const from = now - 7 * DAY
    expect(planChart(from, now, Date.now(), store.downsampleSince).kind).toBe('raw')
    expectSameSeries(
      await store.heartbeats('ds-1', from, now),
      await store.heartbeats('ds-1', from, now, { raw: true }),
    )
  })
})
