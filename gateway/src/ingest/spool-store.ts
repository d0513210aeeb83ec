import fs from 'node:fs'
import type { Statement } from 'better-sqlite3'
import { type Db, migrate, openDb, writeTransaction } from '../db/index.js'
import { EventIndex, type IndexTuple, type RolloverStep } from '../events/index.js'

/** WAL the spool lets grow before SQLite copies it back into the database. */
const WAL_BETWEEN_CHECKPOINTS = 40 * 1024 * 1024

/** The spool connection's page cache, KiB. */
const CACHE_KIB = 32 * 1024

export const SPOOL_SCHEMA = [
  `CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, rp TEXT NOT NULL, line TEXT NOT NULL);`,
]

export interface SpoolRow {
  seq: number
  /** Retention policy the line is written to; '' for the database default. */
  rp: string
  line: string
}

/** Slots one event takes in `CommitRequest.events`: its retention policy, its line, its IndexTuple. */
export const EVENT_SLOTS = 3

/** One slot of `CommitRequest.events`. */
export type EventSlot = string | IndexTuple

/**
 * One group commit: events to index and append unless they are repeats,
 * loose lines, and delivered rows to delete.
 */
export interface CommitRequest {
  /** The group's events laid end to end, EVENT_SLOTS each: `rp, line, index`. */
  events: EventSlot[]
  lines: Array<{ rp: string; line: string }>
  /** Each entry is one delivered batch: a `[lo, hi]` run when contiguous, else the sequence numbers. */
  deletes: Array<{ lo: number; hi: number } | { seqs: number[] }>
}

/** What a commit answers: per event its sequence number (-1: a retry), and the event ids the index refused. */
export interface CommitResult {
  seqs: number[]
  /** Stored, but not indexed: the id belongs to another unit. */
  notIndexed: string[]
}

/**
 * The spool's SQLite side: a table in the gateway's own database, written
 * over a connection with synchronous=FULL, so `commit` returns only once the
 * WAL is fsync'd. Each group is one transaction that merges the events into
 * the event index (which also tells a unit's retry from a new message) and
 * appends their lines: durable, indexed and seen-once are one commit, one
 * fsync. It runs on the spool's worker thread, so that the fsync and the
 * index's page writes wait there and not on the ingest path.
 */
export class SpoolStore {
  readonly #db: Db
  readonly #index: EventIndex
  readonly #s: {
    insertLine: Statement
    del: Statement
    delRange: Statement
    read: Statement
  }

  /**
   * `file` is the gateway's database (the events feature made the index in
   * it). `legacyFile` is the separate spool file of older versions: rows
   * still in it are moved in, in order, and the file is removed. With
   * `outbox`, each event indexed or changed is named in the event outbox in
   * its commit (gateways sharing PostgreSQL ship those rows to it).
   */
  constructor(file: string, legacyFile?: string, opts: { outbox?: boolean } = {}) {
    const db = openDb(file, { synchronous: 'FULL' })
    // Fewer checkpoints: each rewrites every index page touched since the last; 40 MiB of WAL between them.
    const pageSize = db.pragma('page_size', { simple: true }) as number
    db.pragma(`wal_autocheckpoint = ${Math.ceil(WAL_BETWEEN_CHECKPOINTS / pageSize)}`)
    // The index's random keys touch pages all over it; past SQLite's default 2 MiB cache each commit
    // re-read them from the OS and spilled dirty ones early (bench:spool-commit, see gateway/README.md).
    db.pragma(`cache_size = -${CACHE_KIB}`)
    migrate(db, 'spool', SPOOL_SCHEMA)
    this.#db = db
    this.#index = new EventIndex(db, { outbox: opts.outbox ?? false })
    this.#index.prepare({ filters: true })
    this.#s = {
      insertLine: db.prepare('INSERT INTO spool (rp, line) VALUES (?, ?)'),
      del: db.prepare('DELETE FROM spool WHERE seq = ?'),
      delRange: db.prepare('DELETE FROM spool WHERE seq BETWEEN ? AND ?'),
      read: db.prepare('SELECT seq, rp, line FROM spool WHERE seq > ? ORDER BY seq LIMIT ?'),
    }
    if (legacyFile && fs.existsSync(legacyFile)) this.#importLegacy(legacyFile)
  }

  stats(): { rows: number; bytes: number } {
    const s = this.#db
      .prepare('SELECT count(*) AS n, coalesce(sum(length(line)), 0) AS b FROM spool')
      .get() as {
      n: number
      b: number
    }
    return { rows: s.n, bytes: s.b }
  }

  commit(req: CommitRequest): CommitResult {
    const s = this.#s
    const index = this.#index
    const out: CommitResult = { seqs: [], notIndexed: [] }
    writeTransaction(this.#db, () => {
      index.refresh()
      const ev = req.events
      for (let i = 0; i < ev.length; i += EVENT_SLOTS) {
        const tuple = ev[i + 2] as IndexTuple
        const admitted = index.admit(tuple)
        if (admitted === 'repeat') {
          out.seqs.push(-1)
          continue
        }
        // Another unit's id: its line is kept (it is that unit's data), but it cannot touch the event.
        if (admitted === 'foreign') out.notIndexed.push(tuple[0])
        out.seqs.push(Number(s.insertLine.run(ev[i], ev[i + 1]).lastInsertRowid))
      }
      for (const l of req.lines) s.insertLine.run(l.rp, l.line)
      for (const d of req.deletes) {
        if ('lo' in d) s.delRange.run(d.lo, d.hi)
        else for (const seq of d.seqs) s.del.run(seq)
      }
    })
    return out
  }

  read(afterSeq: number, limit: number): SpoolRow[] {
    return this.#s.read.all(afterSeq, limit) as SpoolRow[]
  }

  /** Moves one chunk of the event index's quiet rows on into their months (see events/rollover.ts). */
  rollOver(now: number): RolloverStep {
    return this.#index.rollOver(now)
  }

  close(): void {
    this.#index.saveFilters()
    this.#db.close()
  }

  /**
   * Moves an older version's spool file in. A crash after the copy and before
   * the removal copies the rows again on the next start; written twice, a
   * point overwrites itself in InfluxDB (same series, same time).
   */
  #importLegacy(legacyFile: string): void {
    const db = this.#db
    db.prepare('ATTACH DATABASE ? AS legacy').run(legacyFile)
    try {
      const hasSpool = db
        .prepare("SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = 'spool'")
        .get()
      if (hasSpool) {
        writeTransaction(db, () => {
          db.exec('INSERT INTO main.spool (rp, line) SELECT rp, line FROM legacy.spool ORDER BY seq')
        })
      }
    } finally {
      db.exec('DETACH DATABASE legacy')
    }
    for (const f of [legacyFile, `${legacyFile}-wal`, `${legacyFile}-shm`]) fs.rmSync(f, { force: true })
  }
}
