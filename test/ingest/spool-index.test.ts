import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AuditLog } from '../../gateway/src/audit/audit-log.js'
import { openDb } from '../../gateway/src/db/sqlite.js'
import { EventIndex, fromIndexTuple, toIndexTuple } from '../../gateway/src/events/event-index.js'
import { Spool } from '../../gateway/src/ingest/spool.js'
import { createLogger } from '../../gateway/src/log.js'
import { tempDir } from '../helpers/tmp.js'

const site = { id: 'cam-1', district: 7, lat: 29.3, lon: 117.2 }
const clip = { bytes: 1234, sha256: 'a'.repeat(64), durationMs: 10_000, codec: 'h264' }

describe('the event index written by the spool worker (real SQLite, two threads)', () => {
  it('an index tuple carries everything the merge reads, and nothing is invented', () => {
    const ev = {
      eventId: randomUUID(),
      phase: 'end' as const,
      kind: 'person' as const,
      score: 0.9,
      zone: 'gate',
      clip,
    }
    expect(fromIndexTuple(toIndexTuple(site, ev, 42))).toEqual({ device: site, event: ev, t: 42 })
    const bare = { eventId: randomUUID(), phase: 'start' as const, kind: 'motion' as const, score: 0.1 }
    const back = fromIndexTuple(toIndexTuple(site, bare, 7))
    expect(back.event).toEqual(bare)
    expect('clip' in back.event || 'zone' in back.event).toBe(false)
  })

  it('indexes each event before its append resolves, and refuses another unit’s id', async () => {
    const tmp = tempDir()
    const db = openDb(`${tmp.dir}/doorstep.db`)
    const index = new EventIndex(db)
    index.load()
    const reports: Array<{ notIndexed: string[]; error?: string }> = []
    const spool = new Spool(`${tmp.dir}/spool.db`, {
      indexFile: `${tmp.dir}/doorstep.db`,
      onIndexReport: (r) => reports.push(r),
    })
    await spool.open()
    try {
      const id = randomUUID()
      const ev = { eventId: id, phase: 'start' as const, kind: 'vehicle' as const, score: 0.4 }
      const r = await spool.appendEvent(`cam-1:${id}:start`, 'events_1y', 'l1', toIndexTuple(site, ev, 1000))
      expect(r.duplicate).toBe(false)
      // Read at once on the main thread's own connection: the append resolved only after the index commit.
      expect(index.get(id)).toMatchObject({
        id,
        deviceId: 'cam-1',
        district: 7,
        kind: 'vehicle',
        startedAt: 1000,
      })
      const other = { ...site, id: 'cam-2' }
      await spool.appendEvent(
        `cam-2:${id}:end`,
        'events_1y',
        'l2',
        toIndexTuple(other, { ...ev, phase: 'end' }, 2000),
      )
      expect(index.get(id)?.deviceId).toBe('cam-1')
      expect(index.get(id)?.phase).toBe('start')
      expect(reports).toEqual([{ notIndexed: [id] }])
    } finally {
      await spool.close()
      db.close()
      tmp.cleanup()
    }
  })

  it('a retry of an event that is in the spool but not yet indexed (killed in between) gets indexed', async () => {
    const tmp = tempDir()
    const db = openDb(`${tmp.dir}/doorstep.db`)
    const index = new EventIndex(db)
    index.load()
    const id = randomUUID()
    const ev = { eventId: id, phase: 'start' as const, kind: 'person' as const, score: 0.7 }
    // The spool's commit without the index's: what a kill between the two leaves behind.
    const bare = new Spool(`${tmp.dir}/spool.db`)
    await bare.open()
    await bare.appendEvent(`cam-1:${id}:start`, 'events_1y', 'l1')
    await bare.close()
    expect(index.get(id)).toBeUndefined()
    const spool = new Spool(`${tmp.dir}/spool.db`, { indexFile: `${tmp.dir}/doorstep.db` })
    await spool.open()
    try {
      const retry = await spool.appendEvent(
        `cam-1:${id}:start`,
        'events_1y',
        'l1',
        toIndexTuple(site, ev, 3000),
      )
      expect(retry).toEqual({ duplicate: true })
      expect(spool.rows).toBe(1)
      expect(index.get(id)).toMatchObject({ id, kind: 'person', score: 0.7, startedAt: 3000 })
    } finally {
      await spool.close()
      db.close()
      tmp.cleanup()
    }
  })

  it('main-thread transactions that read before they write never fail while the worker indexes', async () => {
    const tmp = tempDir()
    const db = openDb(`${tmp.dir}/doorstep.db`)
    new EventIndex(db).load()
    // The audit log reads the chain head, then appends: a deferred transaction would hit a stale snapshot.
    const audit = new AuditLog({ db, log: createLogger('silent') })
    audit.start()
    const spool = new Spool(`${tmp.dir}/spool.db`, { indexFile: `${tmp.dir}/doorstep.db` })
    await spool.open()
    try {
      const appends: Array<Promise<unknown>> = []
      let audited = 0
      for (let round = 0; round < 40; round++) {
        for (let i = 0; i < 100; i++) {
          const id = randomUUID()
          appends.push(
            spool.appendEvent(
              `cam-1:${id}:start`,
              'events_1y',
              `l${round}-${i}`,
              toIndexTuple(
                site,
                { eventId: id, phase: 'start', kind: 'motion', score: 0.5 },
                round * 1000 + i,
              ),
            ),
          )
        }
        // `append` throws when its transaction fails (`record` would only log).
        for (let i = 0; i < 10; i++) {
          audit.append({ actor: 'test', action: 'probe', subject: `round:${round}` })
          audited++
        }
        await new Promise((r) => setImmediate(r))
      }
      await Promise.all(appends)
      expect(db.prepare('SELECT count(*) AS n FROM event_index').get()).toEqual({ n: 4000 })
      expect(audited).toBe(400)
      expect(audit.verify()).toMatchObject({ ok: true, entries: 400 })
    } finally {
      await spool.close()
      audit.stop()
      db.close()
      tmp.cleanup()
    }
  })
})
