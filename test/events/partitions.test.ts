import { randomUUID } from 'node:crypto'
import { EventsQuery } from '@doorstep/proto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Db, migrate, openDb } from '../../gateway/src/db/sqlite.js'
import {
  EVENTS_SCHEMA,
  EventIndex,
  eventKey,
  type RolloverLimits,
} from '../../gateway/src/events/event-index.js'
import { IdFilter } from '../../gateway/src/events/id-filter.js'
import { tableDdl } from '../../gateway/src/events/partitions.js'
import { eventTuple, site } from '../helpers/spool.js'
import { tempDir } from '../helpers/tmp.js'

const DAY = 86_400_000
const NOW = Date.UTC(2026, 11, 5, 12)
/** Small limits so a few hundred rows exercise the moves. */
const LIMITS: RolloverLimits = {
  maxRecentRows: 50,
  maxRecentAgeMs: 2 * DAY,
  quietMs: 60_000,
  chunkRows: 40,
  partRows: 30,
}

const sites = Array.from({ length: 12 }, (_, i) => ({
  id: `cam-${i}`,
  district: 1 + (i % 3),
  lat: 29.3 + i * 0.001,
  lon: 117.2 + i * 0.001,
}))

/**
 * The event index in monthly tables: two connections to one file, as in the gateway (the ingest
 * worker's, which keeps the months' id filters and moves rows on, and the main thread's).
 */
describe('event index in monthly tables', () => {
  let tmp: { dir: string; cleanup: () => void }
  let mainDb: Db
  let workerDb: Db
  let main: EventIndex
  let worker: EventIndex

  const admit = (tuple: ReturnType<typeof eventTuple>) =>
    workerDb.transaction(() => {
      worker.refresh()
      return worker.admit(tuple)
    })()
  const moveAll = () => {
    let moved = 0
    for (let i = 0; i < 1000; i++) {
      const step = worker.rollOver(NOW, LIMITS)
      moved += step.moved
      if (!step.more) break
    }
    return moved
  }
  const total = () => main.sizes().reduce((n, t) => n + t.rows, 0)
  /** A new worker connection, as after a restart: it loads the catalogue and the months' filters. */
  const reopenWorker = () => {
    workerDb.close()
    workerDb = openDb(`${tmp.dir}/doorstep.db`)
    worker = new EventIndex(workerDb)
    worker.prepare({ filters: true })
  }
  /** Each of `ids` (from `fill`, unit by position) is recognised again. */
  const expectAllRepeats = (ids: readonly string[]) => {
    for (const [i, id] of ids.entries())
      expect(admit(eventTuple({ eventId: id, from: sites[i % sites.length], t: NOW }))).toBe('repeat')
  }

  beforeEach(() => {
    tmp = tempDir('doorstep-event-months-')
    mainDb = openDb(`${tmp.dir}/doorstep.db`)
    main = new EventIndex(mainDb)
    main.load()
    workerDb = openDb(`${tmp.dir}/doorstep.db`)
    worker = new EventIndex(workerDb)
    worker.prepare({ filters: true })
  })
  afterEach(() => {
    mainDb.close()
    workerDb.close()
    tmp.cleanup()
  })

  /** 300 events over the last four months, from 12 units. */
  function fill(): string[] {
    const ids: string[] = []
    for (let i = 0; i < 300; i++) {
      const eventId = randomUUID()
      ids.push(eventId)
      const t = NOW - Math.floor((i / 300) * 120 * DAY) - 5 * 60_000
      expect(admit(eventTuple({ eventId, from: sites[i % sites.length], t }))).toBe('new')
    }
    return ids
  }

  it('moves quiet rows into their months; every query answers the same before and after', () => {
    fill()
    const queries: Array<Record<string, string>> = [
      {},
      { district: '2' },
      { device: 'cam-5' },
      { from: String(NOW - 45 * DAY), to: String(NOW - 10 * DAY) },
      { near: `${29.3 + 0.004},${117.2 + 0.004},300` },
      { district: '1', from: String(NOW - 100 * DAY), limit: '7' },
    ]
    /** Every page of a query, following its cursor. */
    const pages = (q: Record<string, string>) => {
      const out: string[][] = []
      let cursor: string | null = null
      do {
        const page = main.query(EventsQuery.parse({ limit: '20', ...q, ...(cursor ? { cursor } : {}) }))
        out.push(page.events.map((e) => e.id))
        cursor = page.nextCursor
      } while (cursor && out.length < 100)
      return out
    }
    const before = queries.map(pages)
    expect(before[0]?.flat()).toHaveLength(300)

    const moved = moveAll()
    expect(moved).toBeGreaterThan(250)
    const sizes = main.sizes()
    expect(sizes[0]).toMatchObject({ table: 'event_recent' })
    expect(sizes[0]?.rows).toBeLessThanOrEqual(LIMITS.maxRecentRows)
    // Four or five months, named by the month of each event's start.
    expect(sizes.slice(1).map((s) => s.table)).toEqual(
      expect.arrayContaining(['event_m_202612', 'event_m_202611', 'event_m_202610', 'event_m_202609']),
    )
    expect(total()).toBe(300)
    expect(queries.map(pages)).toEqual(before)
  })

  it('over the size limit, the units take turns: each chunk holds the run of units after the last one', () => {
    /** Ten quiet events from each unit, in the last hour. */
    const tenEach = () => {
      for (let i = 0; i < 10; i++)
        for (const from of sites) admit(eventTuple({ from, t: NOW - 30 * 60_000 + i * 1000 }))
    }
    const inRecent = () =>
      new Map(
        (
          mainDb
            .prepare('SELECT device_id AS d, count(*) AS n FROM event_recent GROUP BY device_id')
            .all() as Array<{
            d: string
            n: number
          }>
        ).map((r) => [r.d, r.n]),
      )
    /** The units one move took rows of, in the order they sort. */
    const step = () => {
      const before = inRecent()
      const r = worker.rollOver(NOW, LIMITS)
      const after = inRecent()
      return {
        moved: r.moved,
        units: [...before.keys()].filter((d) => (after.get(d) ?? 0) < (before.get(d) ?? 0)).sort(),
      }
    }
    tenEach()
    // Units sort as text: cam-0, cam-1, cam-10, cam-11, cam-2, …; a chunk of 40 is four units' ten rows.
    expect(step()).toEqual({ moved: 40, units: ['cam-0', 'cam-1', 'cam-10', 'cam-11'] })
    expect(step()).toEqual({ moved: 40, units: ['cam-2', 'cam-3', 'cam-4', 'cam-5'] })
    // Under the limit (40 of 50) and nothing two days old: nothing moves.
    expect(step()).toEqual({ moved: 0, units: [] })
    tenEach()
    // The turn goes on after cam-5 (cam-6 and cam-7 now hold twenty each), then wraps to the first.
    expect(step()).toEqual({ moved: 40, units: ['cam-6', 'cam-7'] })
    expect(step()).toEqual({ moved: 40, units: ['cam-8', 'cam-9'] })
    expect(step()).toEqual({ moved: 40, units: ['cam-0', 'cam-1', 'cam-10', 'cam-11'] })
    expect(step().moved).toBe(0)
    expect(total()).toBe(240)
  })

  it("answers a case's units and window in one query, the same as one query per unit, capped per unit", () => {
    fill()
    moveAll()
    const units = ['cam-1', 'cam-4', 'cam-7']
    const from = NOW - 90 * DAY
    const to = NOW - 20 * DAY
    const one = (device: string) =>
      main.query(EventsQuery.parse({ device, from: String(from), to: String(to), limit: '500' })).events
    const each = units.flatMap(one).sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1))
    expect(each.length).toBeGreaterThan(20)
    const all = main.ofUnits(units, from, to, 1000)
    expect(all.map((e) => e.id)).toEqual(each.map((e) => e.id))
    // Across months: the window spans at least three tables.
    expect(new Set(all.map((e) => new Date(e.startedAt).getUTCMonth())).size).toBeGreaterThanOrEqual(3)
    // At most three of each unit, its newest three.
    const capped = main.ofUnits(units, from, to, 3)
    expect(capped).toHaveLength(9)
    for (const u of units)
      expect(capped.filter((e) => e.deviceId === u).map((e) => e.id)).toEqual(
        one(u)
          .slice(0, 3)
          .map((e) => e.id),
      )
    expect(main.ofUnits([], from, to, 3)).toEqual([])
  })

  it('recognises a retry of a moved event, merges its later phases there, and refuses another unit', () => {
    const ids = fill()
    moveAll()
    const old = ids[290] as string
    const from = sites[290 % sites.length]
    expect(main.sizes()[0]?.rows).toBeLessThan(300)
    expect(admit(eventTuple({ eventId: old, from, t: NOW - 119 * DAY }))).toBe('repeat')
    expect(admit(eventTuple({ eventId: old, from, phase: 'end', t: NOW - 119 * DAY + 10_000 }))).toBe(
      'merged',
    )
    expect(admit(eventTuple({ eventId: old, from: site, phase: 'update', t: NOW }))).toBe('foreign')
    expect(main.get(old)).toMatchObject({ id: old, phase: 'end', deviceId: from?.id })
    expect(total()).toBe(300)
    // The clip state of a moved event is set where it lives.
    main.setClipState(old, 'ready')
    expect(main.get(old)?.clip.state).toBe('ready')
  })

  it('a late start that dates a moved event into an earlier month moves its row there', () => {
    fill()
    const id = randomUUID()
    const endAt = Date.UTC(2026, 9, 1, 0, 0, 30)
    expect(admit(eventTuple({ eventId: id, phase: 'end', t: endAt }))).toBe('new')
    moveAll()
    /** The event's rows in all the parts of `month`. */
    const inMonth = (month: number) =>
      (
        mainDb.prepare('SELECT name FROM event_partitions WHERE month = ?').all(month) as Array<{
          name: string
        }>
      )
        .map(
          ({ name }) =>
            (mainDb.prepare(`SELECT count(*) AS n FROM ${name} WHERE event_id = ?`).get(id) as { n: number })
              .n,
        )
        .reduce((a, b) => a + b, 0)
    expect(inMonth(202610)).toBe(1)
    expect(admit(eventTuple({ eventId: id, phase: 'start', t: endAt - 60_000 }))).toBe('merged')
    expect(inMonth(202610)).toBe(0)
    expect(inMonth(202609)).toBe(1)
    expect(main.get(id)).toMatchObject({ startedAt: endAt - 60_000, phase: 'end' })
    expect(admit(eventTuple({ eventId: id, phase: 'start', t: endAt - 60_000 }))).toBe('repeat')
  })

  it('a worker that stopped without writing its filters makes them again, and still knows every id', () => {
    const ids = fill()
    moveAll()
    // No saveFilters: as after a crash. A new worker connection loads the months.
    reopenWorker()
    expectAllRepeats(ids)
    // Written at close: one filter per month, in the row of its first part, counting all its parts' rows.
    worker.saveFilters()
    const saved = mainDb
      .prepare(
        `SELECT month, count(*) AS parts, sum(rows) AS rows, sum(filter IS NOT NULL) AS filters,
           max(CASE WHEN name = 'event_m_' || month THEN filter_rows END) AS filter_rows
         FROM event_partitions WHERE month IS NOT NULL GROUP BY month`,
      )
      .all() as Array<{ month: number; parts: number; rows: number; filters: number; filter_rows: number }>
    expect(saved.length).toBeGreaterThan(3)
    expect(saved.some((m) => m.parts > 1)).toBe(true)
    for (const m of saved) expect(m).toMatchObject({ filters: 1, filter_rows: m.rows })
    // Read back as they were, not made again: an id put in a month's table behind the catalogue's back
    // (which a filter made from the tables would know) is not searched for.
    const sneaked = randomUUID()
    const cols = 'device_id, district, kind, phase, score, zone, started_at, ended_at, updated_at, lat, lon'
    mainDb
      .prepare(
        `INSERT INTO event_m_202612 (event_id, id_key, ${cols}) SELECT ?, ?, ${cols} FROM event_m_202612 LIMIT 1`,
      )
      .run(sneaked, eventKey(sneaked))
    reopenWorker()
    expectAllRepeats(ids)
    expect(admit(eventTuple({ eventId: sneaked, t: NOW }))).toBe('new')
  })

  it('drops months past retention as tables, keeps held events, and the worker carries on', () => {
    const ids = fill()
    moveAll()
    const before = NOW - 60 * DAY
    const held = ids.find((id) => {
      const e = main.get(id)
      return e !== undefined && e.startedAt < Date.UTC(2026, 9, 1)
    }) as string
    expect(held).toBeDefined()
    const r = main.dropExpired(before, new Set([held]))
    expect(r.months).toEqual(expect.arrayContaining([202608, 202609]))
    expect(r.kept).toBe(1)
    const tables = (
      mainDb
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'event_m_%'")
        .all() as Array<{
        name: string
      }>
    ).map((t) => t.name)
    expect(tables).not.toContain('event_m_202609')
    // A month goes whole, once all of it is past the cut: nothing is left of the months before the one
    // the cut falls in, but the held event.
    const left = main.query(EventsQuery.parse({ to: String(Date.UTC(2026, 9, 1) - 1), limit: '500' })).events
    expect(left.map((e) => e.id)).toEqual([held])
    expect(main.get(held)).toMatchObject({ id: held })
    expect(total()).toBe(300 - r.removed)
    // The worker's next commit sees the catalogue change: no missing table, the held id still a repeat.
    const heldSite = sites[ids.indexOf(held) % sites.length]
    expect(admit(eventTuple({ eventId: held, from: heldSite, t: NOW }))).toBe('repeat')
    expect(admit(eventTuple({ t: NOW }))).toBe('new')
    expect(worker.rollOver(NOW, LIMITS).moved).toBeGreaterThanOrEqual(0)
    // A second sweep has nothing to do.
    expect(main.dropExpired(before, new Set([held]))).toEqual({ months: [], removed: 0, kept: 0 })
  })

  it('converts an index made by an earlier version: its rows move into months while it runs', () => {
    const file = `${tmp.dir}/old.db`
    const old = openDb(file)
    // The integer key, as the earlier version computed it in its migration and merges.
    old.function('doorstep_event_key', { deterministic: true }, (id) => eventKey(String(id)))
    migrate(old, 'events', EVENTS_SCHEMA.slice(0, 4))
    const insert = old.prepare(
      `INSERT INTO event_index (event_id, id_key, device_id, district, kind, phase, score, started_at, updated_at,
         lat, lon, phases_seen)
       VALUES (?, doorstep_event_key(?), 'cam-1', 7, 'motion', 'end', 0.5, ?, ?, 29.3, 117.2, 7)`,
    )
    const ids: string[] = []
    old.transaction(() => {
      for (let i = 0; i < 500; i++) {
        const id = randomUUID()
        ids.push(id)
        insert.run(id, id, NOW - i * 6 * 3_600_000, NOW - i * 6 * 3_600_000)
      }
    })()
    const upgraded = new EventIndex(old)
    upgraded.load()
    expect(upgraded.sizes()).toEqual([{ table: 'event_recent', rows: 500 }])
    const w = openDb(file)
    const wi = new EventIndex(w)
    wi.prepare({ filters: true })
    let steps = 0
    while (wi.rollOver(NOW, LIMITS).more && steps < 100) steps++
    expect(steps).toBeGreaterThan(3)
    const sizes = upgraded.sizes()
    expect(sizes.reduce((n, t) => n + t.rows, 0)).toBe(500)
    expect(sizes[0]?.rows).toBeLessThanOrEqual(LIMITS.maxRecentRows)
    for (const id of ids) expect(upgraded.get(id)?.id).toBe(id)
    w.close()
    old.close()
  })

  it('takes the months of a version before parts as they are: first parts, their filters made again', () => {
    const file = `${tmp.dir}/before-parts.db`
    const old = openDb(file)
    old.function('doorstep_event_key', { deterministic: true }, (id) => eventKey(String(id)))
    // The catalogue as it was (one table a month, the month unique), with a month of 40 events in it and
    // its filter written with the shape of then (10 bits an id).
    migrate(old, 'events', EVENTS_SCHEMA.slice(0, -1))
    old.exec(tableDdl('event_m_202611'))
    const ids = Array.from({ length: 40 }, () => randomUUID())
    const insert = old.prepare(
      `INSERT INTO event_m_202611 (event_id, id_key, device_id, district, kind, phase, score, started_at, updated_at,
         lat, lon, phases_seen)
       VALUES (?, doorstep_event_key(?), 'cam-1', 1, 'motion', 'end', 0.5, ?, ?, 29.3, 117.2, 7)`,
    )
    const at = Date.UTC(2026, 10, 20)
    for (const id of ids) insert.run(id, id, at, at)
    old
      .prepare(
        `INSERT INTO event_partitions (name, month, rows, filter, filter_capacity, filter_rows)
         VALUES ('event_m_202611', 202611, 40, ?, 250000, 40)`,
      )
      .run(new Uint8Array(Math.ceil((250_000 * 10) / 32) * 4))
    old.close()

    mainDb.close()
    workerDb.close()
    mainDb = openDb(file)
    main = new EventIndex(mainDb)
    main.load()
    workerDb = openDb(file)
    worker = new EventIndex(workerDb)
    worker.prepare({ filters: true })
    // The filter of then is not taken for one of now (it would miss every id): made again, it knows them.
    for (const id of ids) expect(admit(eventTuple({ eventId: id, from: sites[1], t: at }))).toBe('repeat')
    // The month is over its part's size: its late events go on in a second part, found like the rest.
    const late = Array.from({ length: 60 }, () => randomUUID())
    for (const id of late) admit(eventTuple({ eventId: id, from: sites[2], t: at + 60_000 }))
    moveAll()
    expect(main.sizes().map((t) => t.table)).toEqual(
      expect.arrayContaining(['event_m_202611', 'event_m_202611_2', 'event_m_202611_3']),
    )
    for (const id of [...ids, ...late]) expect(main.get(id)?.id).toBe(id)
    for (const id of late)
      expect(admit(eventTuple({ eventId: id, from: sites[2], t: at + 60_000 }))).toBe('repeat')
  })
})

describe('IdFilter', () => {
  it('never misses an id it was given, rarely claims one it was not, and reads back from its bytes', () => {
    const f = new IdFilter(100_000)
    const key = () => Math.floor(Math.random() * 2 ** 48)
    const added = Array.from({ length: 100_000 }, key)
    for (const k of added) f.add(k)
    expect(added.every((k) => f.mayHave(k))).toBe(true)
    let false_ = 0
    for (let i = 0; i < 100_000; i++) if (f.mayHave(key())) false_++
    // 14 bits and 9 probes an id: about 0.1% when full.
    expect(false_ / 100_000).toBeLessThan(0.005)
    const copy = IdFilter.read(100_000, Uint8Array.from(f.bytes()))
    expect(added.every((k) => copy?.mayHave(k))).toBe(true)
    // Bytes of another shape (an earlier version's 10 bits an id) are not taken for this one's.
    expect(IdFilter.read(100_000, new Uint8Array(Math.ceil((100_000 * 10) / 32) * 4))).toBeNull()
    // Keys that differ only in their high bits (ids from firmware that numbers them) still spread.
    const seq = new IdFilter(10_000)
    for (let i = 0; i < 10_000; i++) seq.add(i * 2 ** 32)
    let seqFalse = 0
    for (let i = 10_000; i < 20_000; i++) if (seq.mayHave(i * 2 ** 32)) seqFalse++
    expect(seqFalse / 10_000).toBeLessThan(0.02)
  })
})
