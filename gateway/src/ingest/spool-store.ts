import type { Statement } from 'better-sqlite3'
import { type Db, migrate, openDb } from '../db/sqlite.js'
import type { IndexTuple } from '../events/event-index.js'

const SCHEMA = [
  `CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, rp TEXT NOT NULL, line TEXT NOT NULL);
   CREATE TABLE seen_events (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX seen_events_at ON seen_events (at);`,
]

export interface SpoolRow {
  seq: number
  /** Retention policy the line is written to; '' for the database default. */
  rp: string
  line: string
}

/** An event to append, as an array for the same reason as IndexTuple: [dedup key, rp, line, index]. */
export type EventRow = [key: string, rp: string, line: string, index: IndexTuple | null]

/**
 * One group commit: events to append unless seen (each with what the event
 * index merges once it is durable), loose lines, and delivered rows to delete.
 */
export interface CommitRequest {
  events: EventRow[]
  lines: Array<{ rp: string; line: string }>
  /** Each entry is one delivered batch: a `[lo, hi]` run when contiguous, else the sequence numbers. */
  deletes: Array<{ lo: number; hi: number } | { seqs: number[] }>
}

/** Per event of the request: its sequence number, or -1 when it was a retry of a stored event. */
export type CommitResult = number[]

/**
 * The spool's SQLite side: WAL with synchronous=FULL, so `commit` returns only
 * once the WAL is fsync'd. It runs on the spool's worker thread, so that the
 * fsync waits there and not on the ingest path.
 */
export class SpoolStore {
  readonly #db: Db
  readonly #s: {
    insertLine: Statement
    insertSeen: Statement
    del: Statement
    delRange: Statement
    read: Statement
    prune: Statement
  }

  constructor(file: string) {
    const db = openDb(file, { synchronous: 'FULL' })
    migrate(db, 'spool', SCHEMA)
    this.#db = db
    this.#s = {
      insertLine: db.prepare('INSERT INTO spool (rp, line) VALUES (?, ?)'),
      insertSeen: db.prepare('INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, ?)'),
      del: db.prepare('DELETE FROM spool WHERE seq = ?'),
      delRange: db.prepare('DELETE FROM spool WHERE seq BETWEEN ? AND ?'),
      read: db.prepare('SELECT seq, rp, line FROM spool WHERE seq > ? ORDER BY seq LIMIT ?'),
      prune: db.prepare('DELETE FROM seen_events WHERE at < ?'),
    }
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

  commit(req: CommitRequest, now: number): CommitResult {
    const s = this.#s
    const out: CommitResult = []
    this.#db.transaction(() => {
      for (const [key, rp, line] of req.events) {
        out.push(
          s.insertSeen.run(key, now).changes === 0 ? -1 : Number(s.insertLine.run(rp, line).lastInsertRowid),
        )
      }
      for (const l of req.lines) s.insertLine.run(l.rp, l.line)
      for (const d of req.deletes) {
        if ('lo' in d) s.delRange.run(d.lo, d.hi)
        else for (const seq of d.seqs) s.del.run(seq)
      }
    })()
    return out
  }

  read(afterSeq: number, limit: number): SpoolRow[] {
    return this.#s.read.all(afterSeq, limit) as SpoolRow[]
  }

  prune(before: number): number {
    return this.#s.prune.run(before).changes
  }

  close(): void {
    this.#db.close()
  }
}
