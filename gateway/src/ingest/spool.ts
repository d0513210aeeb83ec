import { type Db, migrate, openDb } from '../db/sqlite.js'

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

export type AppendResult = { duplicate: false; seq: number } | { duplicate: true }

interface PendingEvent {
  key: string
  rp: string
  line: string
  resolve: (r: AppendResult) => void
  reject: (e: unknown) => void
}

/**
 * The durable FIFO between MQTT and InfluxDB: SQLite in WAL mode with
 * synchronous=FULL. A commit returns only after the WAL is fsync'd, so a row
 * survives a killed process and a power cut. Appends made in the same turn of
 * the event loop share one transaction (group commit): one fsync for many
 * events, which is what lets QoS 1 run at tens of thousands per second.
 */
export class Spool {
  readonly #file: string
  #db: Db | null = null
  #events: PendingEvent[] = []
  #lines: Array<{ rp: string; line: string }> = []
  #deletes: SpoolRow[][] = []
  #scheduled = false
  #rows = 0
  #bytes = 0
  #stmts: {
    insertLine: import('better-sqlite3').Statement
    insertSeen: import('better-sqlite3').Statement
    del: import('better-sqlite3').Statement
    delRange: import('better-sqlite3').Statement
    read: import('better-sqlite3').Statement
  } | null = null

  constructor(file: string) {
    this.#file = file
  }

  open(): void {
    const db = openDb(this.#file, { synchronous: 'FULL' })
    migrate(db, 'spool', SCHEMA)
    this.#db = db
    this.#stmts = {
      insertLine: db.prepare('INSERT INTO spool (rp, line) VALUES (?, ?)'),
      insertSeen: db.prepare('INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, ?)'),
      del: db.prepare('DELETE FROM spool WHERE seq = ?'),
      delRange: db.prepare('DELETE FROM spool WHERE seq BETWEEN ? AND ?'),
      read: db.prepare('SELECT seq, rp, line FROM spool WHERE seq > ? ORDER BY seq LIMIT ?'),
    }
    const s = db.prepare('SELECT count(*) AS n, coalesce(sum(length(line)), 0) AS b FROM spool').get() as {
      n: number
      b: number
    }
    this.#rows = s.n
    this.#bytes = s.b
  }

  close(): void {
    this.#commit()
    this.#db?.close()
    this.#db = null
    this.#stmts = null
  }

  get rows(): number {
    return this.#rows
  }

  get bytes(): number {
    return this.#bytes
  }

  /**
   * Appends an event's line unless its key (event id and phase) was seen
   * before. Resolves once the row is durable: only then may the unit be told
   * the event was accepted.
   */
  appendEvent(key: string, rp: string, line: string): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.#events.push({ key, rp, line, resolve, reject })
      this.#schedule()
    })
  }

  /** Appends lines nobody waits for (heartbeats spilled while InfluxDB is away). */
  appendLines(rp: string, lines: readonly string[]): void {
    for (const line of lines) this.#lines.push({ rp, line })
    this.#schedule()
  }

  /** Rows written to InfluxDB; removed in the next group commit. */
  markDelivered(rows: readonly SpoolRow[]): void {
    if (rows.length === 0) return
    this.#deletes.push(rows.slice())
    this.#schedule()
  }

  /** The oldest rows after `afterSeq`, in order; pending appends are committed first. */
  read(afterSeq: number, limit: number): SpoolRow[] {
    this.#commit()
    return this.#stmts!.read.all(afterSeq, limit) as SpoolRow[]
  }

  /** Forgets event keys older than `before` (ms); a retry later than that is a new event. */
  pruneSeen(before: number): number {
    return this.#db!.prepare('DELETE FROM seen_events WHERE at < ?').run(before).changes
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => this.#commit())
  }

  #commit(): void {
    this.#scheduled = false
    if (this.#events.length === 0 && this.#lines.length === 0 && this.#deletes.length === 0) return
    const events = this.#events
    const lines = this.#lines
    const deletes = this.#deletes
    this.#events = []
    this.#lines = []
    this.#deletes = []
    const s = this.#stmts
    if (!s) {
      const err = new Error('spool is closed')
      for (const e of events) e.reject(err)
      return
    }
    const now = Date.now()
    const results: AppendResult[] = []
    try {
      this.#db!.transaction(() => {
        for (const e of events) {
          if (s.insertSeen.run(e.key, now).changes === 0) {
            results.push({ duplicate: true })
            continue
          }
          results.push({ duplicate: false, seq: Number(s.insertLine.run(e.rp, e.line).lastInsertRowid) })
        }
        for (const l of lines) s.insertLine.run(l.rp, l.line)
        for (const group of deletes) {
          // A batch's events are usually one run of sequence numbers: one range delete instead of one each.
          let lo = Number.POSITIVE_INFINITY
          let hi = 0
          for (const d of group) {
            if (d.seq < lo) lo = d.seq
            if (d.seq > hi) hi = d.seq
          }
          if (hi - lo + 1 === group.length) s.delRange.run(lo, hi)
          else for (const d of group) s.del.run(d.seq)
        }
      })()
    } catch (err) {
      for (const e of events) e.reject(err)
      return
    }
    let added = 0
    let addedBytes = 0
    for (let i = 0; i < events.length; i++) {
      const r = results[i] as AppendResult
      if (!r.duplicate) {
        added++
        addedBytes += (events[i] as PendingEvent).line.length
      }
    }
    for (const l of lines) addedBytes += l.line.length
    added += lines.length
    let removedBytes = 0
    let removed = 0
    for (const group of deletes) {
      removed += group.length
      for (const d of group) removedBytes += d.line.length
    }
    this.#rows += added - removed
    this.#bytes += addedBytes - removedBytes
    for (let i = 0; i < events.length; i++) (events[i] as PendingEvent).resolve(results[i] as AppendResult)
  }
}
