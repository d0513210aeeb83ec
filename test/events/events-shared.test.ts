// test:postgres: every gateway here is on its own PostgreSQL
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { type DeviceEvent, type EventList, EventsQuery, type EventView, topicFor } from '@doorstep/proto'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CaseStore } from '../../gateway/src/cases/case-store.js'
import { openPostgres } from '../../gateway/src/db/index.js'
import { type Db, openDb } from '../../gateway/src/db/sqlite.js'
import { EventBackfill } from '../../gateway/src/events/event-backfill.js'
import { EventIndex } from '../../gateway/src/events/event-index.js'
import { EventShipper } from '../../gateway/src/events/event-shipper.js'
import { SharedEventTable } from '../../gateway/src/events/shared-events.js'
import type { DeviceRecord } from '../../gateway/src/registry/registry.js'
import { deviceRecord, deviceRow } from '../helpers/devices.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { bearer } from '../helpers/http.js'
import { capturingLogger } from '../helpers/log.js'
import { connectUnit, end, publish } from '../helpers/mqtt.js'
import { event } from '../helpers/payloads.js'
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

const clip = { bytes: 100, sha256: 'c'.repeat(64), durationMs: 5000, codec: 'h264' }
const DAY = 86_400_000
const T0 = Date.UTC(2026, 5, 1)

function ev(over: Partial<DeviceEvent>): DeviceEvent {
  return { v: 1, ts: 0, eventId: randomUUID(), phase: 'start', kind: 'motion', score: 0.5, ...over }
}

let server: TestPostgres
beforeAll(async () => {
  server = await startTestPostgres()
}, 60_000)
afterAll(async () => {
  await server?.stop()
})

/**
 * Gateways sharing PostgreSQL copy what each indexed into one table, through an outbox each writes in
 * the commit that indexed the event: real SQLite files, a real PostgreSQL.
 */
describe('the event index gateways share in PostgreSQL', () => {
  const dirs = tempDir('doorstep-ev-shared-')
  const opened: Array<{ close(): Promise<void> | void }> = []
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close()
  })
  afterAll(() => dirs.cleanup())

  /** One gateway's side: its own SQLite index (outbox on), a shipper and the shared table. */
  const node = async (url: string, name: string) => {
    const shared = await openPostgres({ url, nodeId: name, log: capturingLogger().log })
    opened.push(shared)
    const db: Db = openDb(path.join(dirs.dir, `${name}-${randomUUID()}.db`))
    opened.push({
      close: () => {
        db.close()
      },
    })
    const index = new EventIndex(db, { outbox: true })
    index.load()
    const table = new SharedEventTable(shared)
    await table.migrate()
    const shipper = new EventShipper({
      db,
      index: () => index,
      table,
      node: name,
      log: capturingLogger().log,
    })
    opened.push({ close: () => shipper.stop() })
    return { shared, db, index, table, shipper }
  }

  it('merges an event whose start one gateway indexed and whose end and clip another did', async () => {
    const url = await server.database()
    const a = await node(url, 'a')
    const b = await node(url, 'b')
    const unit = deviceRecord({ id: 'cam-moved', lat: 30, lon: 120, district: 4 })
    const e = ev({ kind: 'person', score: 0.4, zone: 'gate' })
    a.index.record(unit, e, T0)
    b.index.record(unit, { ...e, phase: 'end', score: 0.9, zone: undefined, clip }, T0 + 12_000)
    // b ships first: its row alone dates the event back by the clip's length.
    await b.shipper.flush()
    expect(await a.table.get(e.eventId)).toMatchObject({ startedAt: T0 + 7_000, phase: 'end' })
    await a.shipper.flush()
    const merged = await b.table.get(e.eventId)
    expect(merged).toMatchObject({
      deviceId: 'cam-moved',
      phase: 'end',
      kind: 'person',
      score: 0.9,
      zone: 'gate',
      startedAt: T0,
      endedAt: T0 + 12_000,
      clip: { state: 'pending', bytes: 100, sha256: clip.sha256, durationMs: 5000, codec: 'h264' },
    })
    // The unit comes back to a with an update: a's row (start, update; no end, no clip) ships again and
    // takes nothing away.
    a.index.record(unit, { ...e, phase: 'update', score: 0.5 }, T0 + 5_000)
    await a.shipper.flush()
    expect(await b.table.get(e.eventId)).toMatchObject({
      phase: 'end',
      endedAt: T0 + 12_000,
      clip: { state: 'pending', sha256: clip.sha256 },
      startedAt: T0,
    })
    // The clip's gateway moves its state on; the row follows.
    b.index.setClipState(e.eventId, 'ready')
    await b.shipper.flush()
    expect((await a.table.get(e.eventId))?.clip.state).toBe('ready')
    const node_ = await a.shared
      .tables<{ events: { event_id: string; node: string; phases_seen: number } }>()
      .selectFrom('events')
      .select(['node', 'phases_seen'])
      .where('event_id', '=', e.eventId)
      .executeTakeFirst()
    expect(node_).toEqual({ node: 'b', phases_seen: 1 | 2 | 4 })
    // Another unit sending the same id through a third gateway, whose index has never seen it, ships a
    // row of its own: it changes nothing.
    const c = await node(url, 'c')
    c.index.record(deviceRecord({ id: 'cam-other', lat: 0, lon: 0 }), { ...e, phase: 'end', score: 1 }, T0)
    await c.shipper.flush()
    expect(await a.table.get(e.eventId)).toMatchObject({ deviceId: 'cam-moved', score: 0.9, startedAt: T0 })
    expect(c.shipper.pending()).toBe(0)
  })

  it('keeps what a gateway indexed in its outbox until the shared database takes it', async () => {
    const url = await server.database()
    const a = await node(url, 'a')
    const unit = deviceRecord({ id: 'cam-waiting', lat: 30, lon: 120 })
    const ids: string[] = []
    for (let i = 0; i < 1_200; i++) {
      const e = ev({ ts: T0 + i })
      ids.push(e.eventId)
      a.index.record(unit, e, T0 + i)
    }
    // A repeat of a phase already indexed changes nothing and is not queued again.
    a.index.record(unit, ev({ eventId: ids[0] as string }), T0 + 5)
    expect(a.shipper.pending()).toBe(1_200)
    // The gateway stops before shipping (killed, or PostgreSQL away): the outbox is in its own file.
    await a.shipper.stop()
    a.db.close()
    const again = openDb(a.db.name)
    opened.push({
      close: () => {
        again.close()
      },
    })
    const index = new EventIndex(again, { outbox: true })
    index.load()
    const shipper = new EventShipper({
      db: again,
      index: () => index,
      table: a.table,
      node: 'a',
      log: capturingLogger().log,
    })
    opened.push({ close: () => shipper.stop() })
    expect(shipper.pending()).toBe(1_200)
    await shipper.flush()
    expect(shipper.pending()).toBe(0)
    expect(shipper.shippedTotal).toBe(1_200)
    const page = await a.table.query(EventsQuery.parse({ device: 'cam-waiting', limit: '500' }))
    expect(page.events).toHaveLength(500)
    const all = await a.table.ofUnits(['cam-waiting'], 0, T0 + DAY, 5_000)
    expect(new Set(all.map((e) => e.id))).toEqual(new Set(ids))
  })

  it('answers the events API queries as the SQLite index does, page by page', async () => {
    // A database whose text sorts by language rules (ICU, as an operator's default may be), where
    // "aaaa…" comes before "AAAA…": the ids must still page in SQLite's byte order.
    const name = `evicu_${process.pid}`
    const admin = new pg.Client({ connectionString: server.url('postgres') })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
      const order = await admin.query(
        `SELECT x FROM (VALUES ('AAAA'), ('aaaa')) v(x) ORDER BY x COLLATE "en-US-x-icu"`,
      )
      expect(order.rows.map((r) => r.x)).toEqual(['aaaa', 'AAAA'])
    } finally {
      await admin.end()
    }
    const url = server.url(name)
    const a = await node(url, 'a')
    // A district of units around a point, events over forty days, some with clips.
    const units: DeviceRecord[] = []
    for (let i = 0; i < 24; i++)
      units.push(
        deviceRecord({
          id: `cam-q-${String(i).padStart(2, '0')}`,
          lat: 30 + (i % 6) * 0.004,
          lon: 120 + Math.floor(i / 6) * 0.004,
          district: 1 + (i % 3),
        }),
      )
    let n = 0
    for (let day = 0; day < 40; day++) {
      for (const u of units) {
        if ((day + Number(u.id.slice(-2))) % 2 !== 0) continue
        n++
        const t = T0 + day * DAY + (n % 7) * 3_600_000
        const e = ev({ kind: n % 2 ? 'person' : 'vehicle', score: (n % 10) / 10 })
        a.index.record(u, e, t)
        if (n % 4 === 0) {
          a.index.record(u, { ...e, phase: 'end', clip }, t + 9_000)
          if (n % 8 === 0) a.index.setClipState(e.eventId, 'ready')
        }
      }
    }
    // Two events at the same instant: the id breaks the tie, in the same order on both.
    const same = T0 + 20 * DAY
    a.index.record(units[0] as DeviceRecord, ev({ eventId: 'aaaaaaaa-0000-4000-8000-000000000000' }), same)
    a.index.record(units[0] as DeviceRecord, ev({ eventId: 'AAAAAAAA-0000-4000-8000-000000000000' }), same)
    await a.shipper.flush()
    expect(a.shipper.pending()).toBe(0)
    const queries: Array<Record<string, unknown>> = [
      { limit: 50 },
      { district: 2, from: T0 + 3 * DAY, to: T0 + 4 * DAY, limit: 7 },
      { near: '30.01,120.006,600', from: T0, to: T0 + 7 * DAY, limit: 9 },
      { device: 'cam-q-05', from: T0, to: T0 + 31 * DAY, limit: 4 },
      { hasClip: true, limit: 11 },
      { hasClip: false, kind: 'person', limit: 13 },
      { from: same - 1, to: same + 1, limit: 1 },
    ]
    for (const raw of queries) {
      const asText = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]))
      let q = EventsQuery.parse(asText)
      const local: string[] = []
      const shared: string[] = []
      for (let pageNo = 0; pageNo < 200; pageNo++) {
        const l = a.index.query(q)
        const s = await a.table.query(q)
        expect(s.events, JSON.stringify(raw)).toEqual(l.events)
        expect(s.nextCursor).toBe(l.nextCursor)
        local.push(...l.events.map((e) => e.id))
        shared.push(...s.events.map((e) => e.id))
        if (!l.nextCursor) break
        q = EventsQuery.parse({ ...asText, cursor: l.nextCursor })
      }
      expect(shared).toEqual(local)
      expect(local.length, JSON.stringify(raw)).toBeGreaterThan(0)
    }
    const ids = units.slice(0, 5).map((u) => u.id)
    expect(await a.table.ofUnits(ids, T0, T0 + 10 * DAY, 3)).toEqual(
      a.index.ofUnits(ids, T0, T0 + 10 * DAY, 3),
    )
  })

  it('copies in once what a gateway indexed before it shared the database, resuming after a stop', async () => {
    const url = await server.database()
    const file = path.join(dirs.dir, `alone-${randomUUID()}.db`)
    // A gateway on its own: no outbox; a month and more of events, most moved on into month tables.
    const alone = openDb(file)
    const before = new EventIndex(alone)
    before.load()
    const unit = deviceRecord({ id: 'cam-before', lat: 30, lon: 120 })
    const ids: string[] = []
    for (let i = 0; i < 1_234; i++) {
      const e = ev({})
      ids.push(e.eventId)
      before.record(unit, e, T0 - 40 * DAY + i * 3_000_000)
    }
    const limits = { maxRecentRows: 100, maxRecentAgeMs: 2 * DAY, quietMs: 1_000, chunkRows: 300 }
    for (let i = 0; i < 100 && before.rollOver(T0, limits).more; i++);
    const sizes = before.sizes()
    expect(sizes.length).toBeGreaterThan(2)
    expect(sizes.reduce((n, t) => n + t.rows, 0)).toBe(1_234)
    // The recent table first, a chunk of 500 at most.
    const firstChunk = Math.min(500, sizes[0]?.rows ?? 0)
    expect(firstChunk).toBeGreaterThan(0)
    alone.close()

    // It joins the cluster: outbox on, a shipper, and the copy.
    const db = openDb(file)
    opened.push({
      close: () => {
        db.close()
      },
    })
    const index = new EventIndex(db, { outbox: true })
    index.load()
    const shared = await openPostgres({ url, nodeId: 'late', log: capturingLogger().log })
    opened.push(shared)
    const table = new SharedEventTable(shared)
    await table.migrate()
    const shipper = new EventShipper({
      db,
      index: () => index,
      table,
      node: 'late',
      log: capturingLogger().log,
      intervalMs: 20,
    })
    shipper.start()
    opened.push({ close: () => shipper.stop() })
    const backfill = (stopAfter?: number) => {
      let asked = 0
      const b: EventBackfill = new EventBackfill({
        db,
        index: () => index,
        table,
        node: 'late',
        target: 'test-db',
        pending: () => {
          if (stopAfter !== undefined && ++asked > stopAfter) b.stop()
          return shipper.pending()
        },
        log: capturingLogger().log,
        pauseMs: 0,
      })
      return b
    }
    // Stopped after its first chunk (a restart): the cursor says how far it got.
    expect(await backfill(1).run()).toEqual({
      skipped: false,
      queued: firstChunk,
      resumedFrom: 0,
      done: false,
    })
    expect(db.prepare('SELECT queued FROM event_backfill WHERE target = ?').get('test-db')).toEqual({
      queued: firstChunk,
    })
    // Resumed after the chunk it named: 1,234 named in all, none twice.
    expect(await backfill().run()).toEqual({
      skipped: false,
      queued: 1_234,
      resumedFrom: firstChunk,
      done: true,
    })
    // Done means shipped: every event is in the shared table, the cursor is gone.
    const all = await table.ofUnits(['cam-before'], 0, T0 + 30 * DAY, 5_000)
    expect(new Set(all.map((e) => e.id))).toEqual(new Set(ids))
    expect(db.prepare('SELECT count(*) AS n FROM event_backfill').get()).toEqual({ n: 0 })
    // Once per database: a restart does not copy again.
    expect(await backfill().run()).toEqual({ skipped: true, queued: 0, resumedFrom: 0, done: true })
  })

  it('drops what is past retention, one gateway at a time, keeping what is held', async () => {
    const url = await server.database()
    const a = await node(url, 'a')
    // The cases tables, as the cases feature makes them on the same database.
    await new CaseStore(a.shared).load()
    const unit = deviceRecord({ id: 'cam-old', lat: 30, lon: 120 })
    const old: string[] = []
    for (let i = 0; i < 30; i++) {
      const e = ev({})
      old.push(e.eventId)
      a.index.record(unit, e, T0 - 400 * DAY + i)
    }
    const fresh = ev({})
    a.index.record(unit, fresh, T0)
    await a.shipper.flush()
    const heldHere = old[0] as string
    const heldByCase = old[1] as string
    await a.shared
      .tables<{ case_holds: { case_id: string; event_id: string; hold_id: number } }>()
      .insertInto('case_holds')
      .values({ case_id: randomUUID(), event_id: heldByCase, hold_id: 1 })
      .execute()
    // Another gateway sweeping (its lock held on a connection of its own): this one leaves it the turn.
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    try {
      await other.query('SELECT pg_advisory_lock(7310582207)')
      expect(await a.table.dropExpired(T0 - 365 * DAY, new Set([heldHere]))).toEqual({
        swept: false,
        removed: 0,
      })
      await other.query('SELECT pg_advisory_unlock(7310582207)')
    } finally {
      await other.end()
    }
    expect(await a.table.dropExpired(T0 - 365 * DAY, new Set([heldHere]))).toEqual({
      swept: true,
      removed: 28,
    })
    const left = await a.table.ofUnits(['cam-old'], 0, T0 + DAY, 100)
    expect(left.map((e) => e.id).sort()).toEqual([heldHere, heldByCase, fresh.eventId].sort())
  })
})

/**
 * Two in-process gateways on one PostgreSQL: a unit connected to one is listed by the other's events
 * API, and a case opened through the other lists its events.
 */
describe('the events of every gateway, through any gateway', () => {
  let a: TestGateway
  let b: TestGateway

  beforeAll(async () => {
    const url = await server.database()
    a = await startTestGateway({ DOORSTEP_DATABASE_URL: url, DOORSTEP_NODE_ID: 'ev-a' })
    b = await startTestGateway({ DOORSTEP_DATABASE_URL: url, DOORSTEP_NODE_ID: 'ev-b' })
  }, 60_000)
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
  })

  it("lists a unit's events on a gateway it never connected to, within a second", async () => {
    const created = await b.gateway.registry.create(
      deviceRow({ id: 'cam-on-b', district: 12, lat: 30.5, lon: 120.5 }),
    )
    await until('a knows the unit', () => a.gateway.registry.get('cam-on-b') !== undefined)
    const unit = await connectUnit(b.gateway.mqttUrl, created.id, created.secret)
    try {
      const ids: string[] = []
      for (let i = 0; i < 5; i++) {
        const e = event({ ts: Date.now() - (5 - i) * 1000, kind: 'person' })
        ids.unshift(e.eventId)
        await publish(unit, topicFor('event', 'cam-on-b'), e, 1)
      }
      const sent = Date.now()
      const listOn = async (g: TestGateway) => {
        const res = await fetch(`${g.gateway.httpUrl}/api/v1/events?district=12`, {
          headers: bearer(g.adminToken),
        })
        expect(res.status).toBe(200)
        return ((await res.json()) as EventList).events.map((e: EventView) => e.id)
      }
      // b shipped before answering: what it acknowledged, it lists at once.
      expect(await listOn(b)).toEqual(ids)
      await until('a lists them', async () => (await listOn(a)).length === 5, 5_000)
      expect(Date.now() - sent).toBeLessThan(2_000)
      expect(await listOn(a)).toEqual(ids)
      const one = await fetch(`${a.gateway.httpUrl}/api/v1/events/${ids[0]}`, {
        headers: bearer(a.adminToken),
      })
      expect(one.status).toBe(200)
      expect((await one.json()) as EventView).toMatchObject({
        id: ids[0],
        deviceId: 'cam-on-b',
        district: 12,
      })
      // A case opened through a lists the events of b's unit.
      const res = await fetch(`${a.gateway.httpUrl}/api/v1/cases`, {
        method: 'POST',
        headers: { ...bearer(a.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({
          number: 'EV-SHARED-1',
          reason: 'a break-in on the street',
          from: sent - 60_000,
          to: sent + 60_000,
          area: { kind: 'devices', ids: ['cam-on-b'] },
        }),
      })
      expect(res.status).toBe(201)
      const opened = (await res.json()) as { case: { id: string }; events: EventView[] }
      expect(opened.events.map((e) => e.id)).toEqual(ids)
      const detail = await fetch(`${a.gateway.httpUrl}/api/v1/cases/${opened.case.id}`, {
        headers: bearer(a.adminToken),
      })
      expect(detail.status, await detail.clone().text()).toBe(200)
      const body = (await detail.json()) as { events: EventView[] }
      expect(body.events.map((e) => e.id)).toEqual(ids)
    } finally {
      await end(unit)
    }
  }, 60_000)
})
