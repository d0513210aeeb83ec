import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Db } from '../../gateway/src/db/sqlite.js'
import { FIVEMIN_MEASUREMENT, missedByCqs } from '../../gateway/src/influx/heartbeat-schema.js'
import { InfluxStore, RP_FIVEMIN, RP_HOURLY, RP_RAW } from '../../gateway/src/influx/influx-store.js'
import { BatchWriter } from '../../gateway/src/ingest/batch-writer.js'
import { LateHeartbeats } from '../../gateway/src/ingest/late-heartbeats.js'
import type { Spool } from '../../gateway/src/ingest/spool.js'
import { createLogger } from '../../gateway/src/log.js'
import { createMetrics } from '../../gateway/src/metrics.js'
import { openSpool } from '../helpers/spool.js'
import { tempDir } from '../helpers/tmp.js'

const MIN = 60_000
const HOUR = 60 * MIN

function heartbeat(device: string, t: number, i: number): string {
  return `heartbeat,device=${device},district=3 uptime_s=${i * 30}i,storage_free_mb=${900 - i},storage_total_mb=2000,signal_dbm=${-60 - (i % 9)},temperature_c=${20 + (i % 5)},recording=true,skew_ms=0i,model="cam" ${t}${String(i % 1_000_000).padStart(6, '0')}`
}

describe('LateHeartbeats', () => {
  const now = Date.UTC(2026, 11, 5, 12, 7, 0)

  it('notes heartbeats the CQs have passed by, and nothing else', () => {
    const late = new LateHeartbeats()
    // Stamped a minute ago, in this hour: the 5-minute CQ still recomputes its bucket.
    late.note(heartbeat('u', now - MIN, 1), now)
    // Other measurements are not downsampled.
    late.note(`presence,device=u state="online" ${now - 3 * HOUR}000000`, now)
    expect(late.take()).toBeNull()
    late.note(heartbeat('u', now - 40 * MIN, 2), now)
    late.note(heartbeat('u', now - 3 * HOUR, 3), now)
    late.note(heartbeat('u', now - 2 * HOUR, 4), now)
    expect(late.take()).toEqual({ from: now - 3 * HOUR, to: now - 40 * MIN, count: 3 })
    expect(late.take()).toBeNull()
  })

  it('counts a heartbeat from the last hour as late once that hour has ended', () => {
    // 11:59 written at 12:01: in time for the 5-minute CQ, too late for the hourly one.
    expect(missedByCqs(now - 8 * MIN, now - 6 * MIN)).toBe(true)
    expect(missedByCqs(now - 8 * MIN, now - 8 * MIN + 5_000)).toBe(false)
  })

  it('puts back a range whose recomputation failed, merged with what came since', () => {
    const late = new LateHeartbeats()
    late.note(heartbeat('u', now - 2 * HOUR, 1), now)
    const r = late.take()
    late.note(heartbeat('u', now - 5 * HOUR, 2), now)
    late.restore(r!)
    expect(late.take()).toEqual({ from: now - 5 * HOUR, to: now - 2 * HOUR, count: 2 })
  })
})

describe('a spool replayed hours late fills the downsamples (real influxd)', () => {
  const log = createLogger('silent')
  const db = `t_late_${process.pid}_${Date.now()}`
  const store = new InfluxStore({ url: inject('influxUrl'), db, log })
  const tmp = tempDir('doorstep-late-')
  let spool: Spool
  let sqlite: Db
  let writer: BatchWriter
  /** Two hours of heartbeats every 30 s, ending 3 hours ago: an outage the CQs ran over without them. */
  const end = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR
  const start = end - 2 * HOUR
  const n = (end - start) / 30_000

  beforeAll(async () => {
    await store.ensureSchema()
    ;({ spool, db: sqlite } = await openSpool(tmp.dir))
    const lines = Array.from({ length: n }, (_, i) => heartbeat('late-1', start + i * 30_000, i))
    spool.appendLines('', lines)
  })

  afterAll(async () => {
    await writer?.stop()
    await spool?.close()
    sqlite?.close()
    await store.query(`DROP DATABASE "${db}"`).catch(() => {})
    tmp.cleanup()
  })

  it('recomputes the 5-minute and hourly buckets the replay wrote into, as the raw points give them', async () => {
    const where = `device = 'late-1' AND time >= ${start}ms AND time < ${end}ms`
    const fiveMin = () =>
      store.query<{ time: number; storage_free_mb: number; samples: number }>(
        `SELECT storage_free_mb, samples FROM "${RP_FIVEMIN}"."${FIVEMIN_MEASUREMENT}" WHERE ${where}`,
      )
    await expect.poll(() => spool.rows, { timeout: 5_000 }).toBe(n)
    expect(await fiveMin()).toEqual([])

    writer = new BatchWriter(store, spool, log, createMetrics(), {
      batchSize: 500,
      flushMs: 50,
      queueMax: 10_000,
    })
    writer.start()
    await expect.poll(async () => (await fiveMin()).length, { timeout: 20_000 }).toBe(24)

    const raw = await store.query<{ time: number; storage_free_mb: number; samples: number }>(
      `SELECT mean(storage_free_mb) AS storage_free_mb, count(uptime_s) AS samples FROM "${RP_RAW}".heartbeat WHERE ${where} GROUP BY time(5m)`,
    )
    const got = await fiveMin()
    expect(got.map((r) => r.time)).toEqual(raw.map((r) => r.time))
    for (const [i, r] of raw.entries()) {
      expect(got[i]?.samples).toBe(10)
      expect(got[i]?.storage_free_mb).toBeCloseTo(r.storage_free_mb, 6)
    }
    const hourly = await store.query<{ time: number; samples: number }>(
      `SELECT samples FROM "${RP_HOURLY}".heartbeat_hourly WHERE ${where}`,
    )
    expect(hourly).toEqual([
      { time: start, samples: 120 },
      { time: start + HOUR, samples: 120 },
    ])
    expect(spool.rows).toBe(0)
  })
})
