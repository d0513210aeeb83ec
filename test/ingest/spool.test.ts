import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AuditLog } from '../../gateway/src/audit/audit-log.js'
import { sqliteSharedDb } from '../../gateway/src/db/shared-db.js'
import { type Db, migrate, openDb, PAGE_SIZE } from '../../gateway/src/db/sqlite.js'
import { EVENTS_SCHEMA, EventIndex, eventKey, toIndexTuple } from '../../gateway/src/events/event-index.js'
import type { Spool, SpoolRow } from '../../gateway/src/ingest/spool.js'
import { createLogger } from '../../gateway/src/log.js'
import { appendEvent, eventTuple, openSpool, site } from '../helpers/spool.js'
import { tempDir } from '../helpers/tmp.js'

describe('Spool (real SQLite on a worker thread)', () => {
  let tmp: ReturnType<typeof tempDir>
  let spool: Spool
  let db: Db
  let index: EventIndex
  let notIndexed: string[]
  beforeEach(async () => {
    tmp = tempDir()
    notIndexed = []
    ;({ spool, db, index } = await openSpool(tmp.dir, { onNotIndexed: (ids) => notIndexed.push(...ids) }))
  })
  afterEach(async () => {
    await spool.close()
    db.close()
    tmp.cleanup()
  })

  it('appends events durably, in order, indexed before it resolves, and recognises a retried event', async () => {
    const e1 = randomUUID()
    const [a, b, dup] = await Promise.all([
      appendEvent(spool, 'events_1y', 'event a 1', eventTuple({ eventId: e1 })),
      appendEvent(spool, 'events_1y', 'event b 2', eventTuple()),
      appendEvent(spool, 'events_1y', 'event a 1', eventTuple({ eventId: e1 })),
    ])
    expect(a).toEqual({ duplicate: false, seq: expect.any(Number) })
    expect(b.duplicate).toBe(false)
    expect(dup).toEqual({ duplicate: true })
    expect((await spool.read(0, 10)).map((r) => [r.rp, r.line])).toEqual([
      ['events_1y', 'event a 1'],
      ['events_1y', 'event b 2'],
    ])
    expect(spool.rows).toBe(2)
    // Read at once on the main thread's own connection: the append resolved after the one commit.
    expect(index.get(e1)).toMatchObject({ id: e1, deviceId: 'cam-1', district: 7, phase: 'start' })
  })

  it('tells every appender of a group larger than one slice, in order, and commits what they append meanwhile', async () => {
    // 1,000 appenders are told over several turns of the event loop; appends made by the first ones
    // (a broker reading a unit's next message once it is acknowledged) must be committed too.
    const told: number[] = []
    const followUps: Array<Promise<unknown>> = []
    const first = Array.from({ length: 1000 }, (_, i) =>
      appendEvent(spool, 'events_1y', `event n=${i}`, eventTuple()).then((r) => {
        told.push(i)
        if (i % 100 === 0) followUps.push(appendEvent(spool, 'events_1y', `event next=${i}`, eventTuple()))
        return r
      }),
    )
    const results = await Promise.all(first)
    expect(told).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    const seqs = results.map((r) => (r.duplicate ? -1 : r.seq))
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number))).toBe(true)
    expect(await Promise.all(followUps)).toHaveLength(10)
    expect(spool.rows).toBe(1010)
    const lines = (await spool.read(0, 2000)).map((r) => r.line)
    expect(lines.slice(0, 1000)).toEqual(Array.from({ length: 1000 }, (_, i) => `event n=${i}`))
    expect(lines.slice(1000).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `event next=${i * 100}`).sort(),
    )
  })

  it('the same event id in another phase is a new record, and merges into the event', async () => {
    const id = randomUUID()
    const r1 = await appendEvent(spool, 'events_1y', 'start', eventTuple({ eventId: id, score: 0.4 }))
    const r2 = await appendEvent(
      spool,
      'events_1y',
      'end',
      eventTuple({ eventId: id, phase: 'end', score: 0.9, t: 5000 }),
    )
    expect(r1.duplicate || r2.duplicate).toBe(false)
    expect(index.get(id)).toMatchObject({ phase: 'end', score: 0.9, startedAt: 1000, endedAt: 5000 })
  })

  it('stores another unit’s event id but keeps it out of that unit’s event, and says so', async () => {
    const id = randomUUID()
    await appendEvent(spool, 'events_1y', 'mine', eventTuple({ eventId: id }))
    const other = { ...site, id: 'cam-2' }
    const r = await appendEvent(
      spool,
      'events_1y',
      'theirs',
      eventTuple({ eventId: id, phase: 'end', from: other }),
    )
    expect(r.duplicate).toBe(false)
    expect(index.get(id)).toMatchObject({ deviceId: 'cam-1', phase: 'start' })
    expect(notIndexed).toEqual([id])
    expect((await spool.read(0, 10)).map((x) => x.line)).toEqual(['mine', 'theirs'])
  })

  it('survives a reopen (what was acknowledged is on disk) and forgets delivered rows', async () => {
    const e1 = randomUUID()
    await appendEvent(spool, 'events_1y', 'line-1', eventTuple({ eventId: e1 }))
    await appendEvent(spool, 'events_1y', 'line-2', eventTuple())
    const rows = await spool.read(0, 10)
    spool.markDelivered([(rows[0] as SpoolRow).seq], (rows[0] as SpoolRow).line.length)
    // Closing commits what is pending: the delivered row goes, the other stays.
    await spool.close()
    db.close()
    ;({ spool, db, index } = await openSpool(tmp.dir))
    expect((await spool.read(0, 10)).map((r) => r.line)).toEqual(['line-2'])
    expect(spool.rows).toBe(1)
    expect(spool.bytes).toBe('line-2'.length)
    // What was seen survives too: a retry after a restart lands once, even after its row was delivered.
    expect(await appendEvent(spool, 'events_1y', 'line-1', eventTuple({ eventId: e1 }))).toEqual({
      duplicate: true,
    })
  })

  it('main-thread transactions that read before they write never fail while the worker commits', async () => {
    // The audit log reads the chain head, then appends: a deferred transaction would hit a stale snapshot.
    const audit = new AuditLog({ shared: sqliteSharedDb(db), log: createLogger('silent') })
    await audit.start()
    const appends: Array<Promise<unknown>> = []
    let audited = 0
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++)
        appends.push(appendEvent(spool, 'events_1y', `l${round}-${i}`, eventTuple()))
      // `append` rejects when its transaction fails (`record` would only log).
      for (let i = 0; i < 10; i++) {
        await audit.append({ actor: 'test', action: 'probe', subject: `round:${round}` })
        audited++
      }
      await new Promise((r) => setImmediate(r))
    }
    await Promise.all(appends)
    // Counted in every table: the worker may have moved some on into their months meanwhile.
    const index = new EventIndex(db)
    index.prepare()
    expect(index.sizes().reduce((n, t) => n + t.rows, 0)).toBe(4000)
    expect(audited).toBe(400)
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 400 })
    audit.stop()
  })
})

describe('upgrades', () => {
  it('a new database gets 16 KiB pages; one made with 4 KiB pages keeps them and its spool works', async () => {
    const fresh = tempDir()
    const old = tempDir()
    const made = new Database(`${old.dir}/doorstep.db`)
    made.pragma('page_size = 4096')
    made.pragma('journal_mode = WAL')
    made.exec('CREATE TABLE before_upgrade (x INTEGER)')
    made.close()
    for (const [dir, pageSize] of [
      [fresh.dir, PAGE_SIZE],
      [old.dir, 4096],
    ] as const) {
      const { spool, db } = await openSpool(dir)
      try {
        expect(db.pragma('page_size', { simple: true })).toBe(pageSize)
        const r = await appendEvent(spool, 'events_1y', 'ev 1', eventTuple())
        expect(r.duplicate).toBe(false)
        expect((await spool.read(0, 10)).map((x) => x.line)).toEqual(['ev 1'])
      } finally {
        await spool.close()
        db.close()
      }
    }
    fresh.cleanup()
    old.cleanup()
  })

  it('moves the rows of an older version’s spool file in, in order, and removes the file', async () => {
    const tmp = tempDir()
    const legacy = openDb(`${tmp.dir}/spool.db`, { synchronous: 'FULL' })
    legacy.exec(`CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, rp TEXT NOT NULL, line TEXT NOT NULL);
      CREATE TABLE seen_events (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;`)
    const ins = legacy.prepare('INSERT INTO spool (rp, line) VALUES (?, ?)')
    for (const [rp, line] of [
      ['', 'hb 1'],
      ['events_1y', 'ev 2'],
      ['', 'hb 3'],
    ]) {
      ins.run(rp, line)
    }
    legacy.close()
    const { spool, db } = await openSpool(tmp.dir, { legacyFile: `${tmp.dir}/spool.db` })
    try {
      expect((await spool.read(0, 10)).map((r) => [r.rp, r.line])).toEqual([
        ['', 'hb 1'],
        ['events_1y', 'ev 2'],
        ['', 'hb 3'],
      ])
      expect(spool.rows).toBe(3)
      expect(fs.existsSync(`${tmp.dir}/spool.db`)).toBe(false)
    } finally {
      await spool.close()
      db.close()
      tmp.cleanup()
    }
  })

  it('an index made before phases were tracked recognises retries of the phases its rows reached', () => {
    const db = openDb(':memory:')
    migrate(db, 'events', EVENTS_SCHEMA.slice(0, 1))
    const id = randomUUID()
    db.prepare(
      `INSERT INTO event_index (event_id, device_id, district, kind, phase, score, started_at, updated_at, lat, lon)
       VALUES (?, 'cam-1', 7, 'motion', 'update', 0.5, 1000, 2000, 29.3, 117.2)`,
    ).run(id)
    const index = new EventIndex(db)
    index.load()
    const admit = (phase: 'start' | 'update' | 'end') =>
      db.transaction(() => index.admit(eventTuple({ eventId: id, phase })))()
    expect(admit('start')).toBe('repeat')
    expect(admit('update')).toBe('repeat')
    expect(admit('end')).toBe('merged')
    expect(admit('end')).toBe('repeat')
    db.close()
  })
})

describe('EventIndex key', () => {
  it('tells apart ids that share the key’s leading digits, and keeps each id to one row', () => {
    const db = openDb(':memory:')
    const index = new EventIndex(db)
    index.load()
    const a = '0123abcd-ef01-4aaa-8aaa-000000000001'
    const b = '0123abcd-ef01-4bbb-9bbb-000000000002'
    expect(eventKey(a)).toBe(eventKey(b))
    const admit = (eventId: string, phase: 'start' | 'end', from = site) =>
      db.transaction(() => index.admit(eventTuple({ eventId, phase, from })))()
    expect(admit(a, 'start')).toBe('new')
    expect(admit(b, 'start')).toBe('new')
    expect(admit(a, 'start')).toBe('repeat')
    expect(admit(b, 'end')).toBe('merged')
    expect(admit(a, 'end', { ...site, id: 'cam-2' })).toBe('foreign')
    expect(index.get(a)).toMatchObject({ id: a, phase: 'start' })
    expect(index.get(b)).toMatchObject({ id: b, phase: 'end' })
    expect(db.prepare('SELECT count(*) AS n FROM event_recent').get()).toEqual({ n: 2 })
    db.close()
  })

  it('an index from before the integer key is rebuilt with its rows, which are found by id', () => {
    const db = openDb(':memory:')
    migrate(db, 'events', EVENTS_SCHEMA.slice(0, 2))
    const ids = [randomUUID(), randomUUID()]
    for (const [i, id] of ids.entries()) {
      db.prepare(
        `INSERT INTO event_index (event_id, device_id, district, kind, phase, score, started_at, updated_at, lat, lon, phases_seen)
         VALUES (?, 'cam-1', 7, 'motion', 'start', 0.5, ?, ?, 29.3, 117.2, 1)`,
      ).run(id, 1000 + i, 1000 + i)
    }
    const index = new EventIndex(db)
    index.load()
    for (const id of ids)
      expect(index.get(id)).toMatchObject({ id, deviceId: 'cam-1', startedAt: expect.any(Number) })
    const names = (
      db.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'event_recent'").all() as Array<{
        name: string
      }>
    ).map((r) => r.name)
    expect(names).toContain('event_index_key')
    expect(names).not.toContain('sqlite_autoindex_event_index_1')
    const admit = (eventId: string) => db.transaction(() => index.admit(eventTuple({ eventId })))()
    expect(admit(ids[0] as string)).toBe('repeat')
    db.close()
  })
})

describe('IndexTuple', () => {
  it('is merged with everything it carries and nothing invented', () => {
    const db = openDb(':memory:')
    const index = new EventIndex(db)
    index.load()
    const clip = { bytes: 1234, sha256: 'a'.repeat(64), durationMs: 10_000, codec: 'h264' }
    const far = { id: 'cam-9', district: 12, lat: 29.41, lon: 117.05 }
    const ended = {
      eventId: randomUUID(),
      phase: 'end' as const,
      kind: 'person' as const,
      score: 0.9,
      zone: 'gate',
      clip,
    }
    const bare = { eventId: randomUUID(), phase: 'start' as const, kind: 'motion' as const, score: 0.1 }
    const admitted = db.transaction(() => [
      index.admit(toIndexTuple(far, ended, 50_000)),
      index.admit(toIndexTuple(site, bare, 7)),
    ])()
    expect(admitted).toEqual(['new', 'new'])
    expect(index.get(ended.eventId)).toMatchObject({
      deviceId: 'cam-9',
      district: 12,
      lat: 29.41,
      lon: 117.05,
      kind: 'person',
      phase: 'end',
      score: 0.9,
      zone: 'gate',
      // An end seen first began a clip's length before it.
      startedAt: 40_000,
      endedAt: 50_000,
      clip: { state: 'pending', bytes: 1234, sha256: 'a'.repeat(64), durationMs: 10_000, codec: 'h264' },
    })
    expect(index.get(bare.eventId)).toMatchObject({
      deviceId: 'cam-1',
      kind: 'motion',
      phase: 'start',
      zone: null,
      startedAt: 7,
      endedAt: null,
      clip: { state: 'none', bytes: null, sha256: null, durationMs: null, codec: null },
    })
    db.close()
  })
})
