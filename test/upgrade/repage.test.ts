import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { PAGE_SIZE } from '../../gateway/src/db/index.js'
import { REPAGE_SUFFIX, repageDatabase, UPGRADE_BACKUPS } from '../../gateway/src/upgrade/index.js'
import { capturingLogger } from '../helpers/log.js'
import { appendEvent, eventTuple, openSpool } from '../helpers/spool.js'
import { tempDir } from '../helpers/tmp.js'

const EVENTS = 3000
const IN_SPOOL = 40

/** A data dir whose database was made with 4 KiB pages, as earlier versions made it, holding events and spooled lines. */
async function fourKiBDataDir(): Promise<{ dir: string; cleanup: () => void; ids: string[] }> {
  const tmp = tempDir()
  const made = new Database(path.join(tmp.dir, 'doorstep.db'))
  made.pragma('page_size = 4096')
  made.pragma('journal_mode = WAL')
  made.exec('CREATE TABLE before_upgrade (x INTEGER)')
  made.close()
  const { spool, db } = await openSpool(tmp.dir)
  const ids: string[] = []
  try {
    for (let i = 0; i < EVENTS; i++) {
      const id = randomUUID()
      ids.push(id)
      await appendEvent(spool, 'events_1y', `ev ${i}`, eventTuple({ eventId: id, t: 1_000 + i }))
    }
    // The spool delivered most; what is left must survive the copy too.
    const delivered = (await spool.read(0, EVENTS)).slice(0, EVENTS - IN_SPOOL)
    spool.markDelivered(
      delivered.map((r) => r.seq),
      delivered.reduce((n, r) => n + r.line.length, 0),
    )
    expect((await spool.read(0, EVENTS)).length).toBe(IN_SPOOL)
  } finally {
    await spool.close()
    db.close()
  }
  return { dir: tmp.dir, cleanup: tmp.cleanup, ids }
}

const pageSizeOf = (file: string) => {
  const db = new Database(file, { readonly: true })
  try {
    return db.pragma('page_size', { simple: true }) as number
  } finally {
    db.close()
  }
}

describe('a database with 4 KiB pages', () => {
  it('is copied to 16 KiB pages at start, every row kept, the old file kept aside, progress logged', async () => {
    const d = await fourKiBDataDir()
    try {
      // What a conversion killed half-way leaves beside the database.
      fs.writeFileSync(path.join(d.dir, `doorstep.db${REPAGE_SUFFIX}`), 'half a copy')
      const { log, text } = capturingLogger()
      const r = await repageDatabase({ dataDir: d.dir, log, progressEveryMs: 1 })
      expect(r).toMatchObject({ converted: true, from: 4096, to: PAGE_SIZE })
      if (!r.converted) throw new Error('not converted')
      const file = path.join(d.dir, 'doorstep.db')
      expect(pageSizeOf(file)).toBe(PAGE_SIZE)
      expect(fs.existsSync(file + REPAGE_SUFFIX)).toBe(false)
      expect(pageSizeOf(r.kept)).toBe(4096)
      expect(r.kept.startsWith(path.join(d.dir, UPGRADE_BACKUPS))).toBe(true)
      expect(text()).toContain('converting the database to 16 KiB pages')
      expect(text()).toContain('converting the database: still copying')
      expect(text()).toContain('database converted to 16 KiB pages')

      // The gateway's own code on the converted file: every event, every spooled line, retries recognised.
      const { spool, db, index } = await openSpool(d.dir)
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
        expect(index.sizes().reduce((n, t) => n + t.rows, 0)).toBe(EVENTS)
        const left = await spool.read(0, EVENTS)
        expect(left.map((x) => x.line)).toEqual(
          Array.from({ length: IN_SPOOL }, (_, i) => `ev ${EVENTS - IN_SPOOL + i}`),
        )
        const retry = await appendEvent(
          spool,
          'events_1y',
          'ev again',
          eventTuple({ eventId: d.ids[17], t: 1_017 }),
        )
        expect(retry.duplicate).toBe(true)
        const fresh = await appendEvent(spool, 'events_1y', 'ev new', eventTuple({ t: 9_000 }))
        expect(fresh.duplicate).toBe(false)
      } finally {
        await spool.close()
        db.close()
      }
      // Once converted, a start leaves it alone.
      expect(await repageDatabase({ dataDir: d.dir, log })).toEqual({ converted: false, reason: 'current' })
    } finally {
      d.cleanup()
    }
  })

  it('without room for the copy is used as it is, with a warning saying how much room is needed', async () => {
    const d = await fourKiBDataDir()
    try {
      const { log, text } = capturingLogger()
      const r = await repageDatabase({ dataDir: d.dir, log, freeSpace: async () => 1024 })
      expect(r).toEqual({ converted: false, reason: 'no-room' })
      expect(pageSizeOf(path.join(d.dir, 'doorstep.db'))).toBe(4096)
      expect(text()).toMatch(/needs [\d.]+ \w+ free in the data dir/)
      expect(fs.existsSync(path.join(d.dir, UPGRADE_BACKUPS))).toBe(false)
    } finally {
      d.cleanup()
    }
  })

  it('a data dir without a database is left alone', async () => {
    const tmp = tempDir()
    try {
      const { log } = capturingLogger()
      expect(await repageDatabase({ dataDir: tmp.dir, log })).toEqual({ converted: false, reason: 'absent' })
      expect(fs.readdirSync(tmp.dir)).toEqual([])
    } finally {
      tmp.cleanup()
    }
  })
})
