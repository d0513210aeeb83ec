import type { AuditEntry, ChainReport } from '@doorstep/proto'
import { type Db, migrate, writeTransaction } from '../db/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { canonicalJson, GENESIS, type Link, linkHash, verifyChain } from './chain.js'

export const AUDIT_SCHEMA = [
  `CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_subject ON audit_log (subject, seq);
  CREATE INDEX audit_log_action ON audit_log (action, seq);
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
  // Filtering by who did it is as common as by what. No index on `at`: entries are appended in time
  // order, so a time window is a run of `seq`, and an index would let the planner sort every match
  // of a wide window just to return its first page.
  'CREATE INDEX audit_log_actor ON audit_log (actor, seq);',
]

interface Row {
  seq: number
  at: number
  actor: string
  action: string
  subject: string
  details: string
  prev_hash: string
  hash: string
}

/** What an audit entry records; the log adds `seq`, `at` and the hashes. */
export interface AuditRecord {
  actor: string
  /** e.g. `clip.download`, `case.export`, `pull.request`, `hold.place`, `consent.decide`. */
  action: string
  /** e.g. `clip:{eventId}`, `case:{id}`, `pull:{id}`, `token:{id}`. */
  subject: string
  /** Plain JSON facts; never a token, secret or password. */
  details?: Record<string, unknown>
}

function toEntry(r: Row): AuditEntry {
  let details: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(r.details)
    details =
      parsed && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : { value: parsed }
  } catch {
    // Someone wrote garbage into the row: keep it visible, and the hash will not match.
    details = { unparseable: r.details }
  }
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    details,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}

/** What `list` selects by (`AuditQuery` once parsed): every filter given must match. */
export interface AuditFilter {
  after: number
  limit: number
  action?: string | undefined
  subject?: string | undefined
  actor?: string | undefined
  /** ms since the epoch, both inclusive. */
  from?: number | undefined
  to?: number | undefined
}

/**
 * The audit log: an append-only SQLite table whose entries are hash-chained
 * (see chain.ts). Triggers refuse UPDATE and DELETE, so a slip in code cannot
 * rewrite history; someone with the database file can, and `verify()` then
 * names the entry. Appends are synchronous and small: one transaction that
 * reads the head and inserts.
 */
export class AuditLog implements Feature {
  readonly name = 'audit'
  readonly #db: Db
  readonly #log: Logger | null
  readonly #now: () => number
  #started = false
  readonly #listeners: Array<(e: AuditEntry) => void> = []

  constructor(deps: { db: Db; log?: Logger; now?: () => number }) {
    this.#db = deps.db
    this.#log = deps.log?.child({ feature: 'audit' }) ?? null
    this.#now = deps.now ?? Date.now
  }

  start(): void {
    migrate(this.#db, 'audit', AUDIT_SCHEMA)
    this.#started = true
  }

  stop(): void {
    this.#started = false
  }

  /** `fn` hears of each entry once it is appended (log checkpoints count them). */
  onAppend(fn: (e: AuditEntry) => void): void {
    this.#listeners.push(fn)
  }

  append(rec: AuditRecord): AuditEntry {
    if (!this.#started) throw new Error('audit log is not started')
    const entry = this.#insert(rec)
    for (const fn of this.#listeners) fn(entry)
    return entry
  }

  #insert(rec: AuditRecord): AuditEntry {
    const db = this.#db
    return writeTransaction(db, () => {
      const head = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string }
        | undefined
      const body = {
        seq: (head?.seq ?? 0) + 1,
        at: this.#now(),
        actor: rec.actor,
        action: rec.action,
        subject: rec.subject,
        details: rec.details ?? {},
      }
      const prevHash = head?.hash ?? GENESIS
      const hash = linkHash(prevHash, body)
      db.prepare(
        'INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        body.seq,
        body.at,
        body.actor,
        body.action,
        body.subject,
        canonicalJson(body.details),
        prevHash,
        hash,
      )
      return { ...body, prevHash, hash }
    })
  }

  /** Like `append`, for side records (views, downloads): a failure is logged, never thrown at the caller. */
  record(rec: AuditRecord): void {
    try {
      this.append(rec)
    } catch (err) {
      this.#log?.error({ err, action: rec.action, subject: rec.subject }, 'audit append failed')
    }
  }

  list(q: AuditFilter): { entries: AuditEntry[]; next: number | null } {
    const where = ['seq > ?']
    const params: Array<string | number> = [q.after]
    for (const column of ['action', 'subject', 'actor'] as const) {
      const value = q[column]
      if (value) {
        where.push(`${column} = ?`)
        params.push(value)
      }
    }
    if (q.from !== undefined) {
      where.push('at >= ?')
      params.push(q.from)
    }
    if (q.to !== undefined) {
      where.push('at <= ?')
      params.push(q.to)
    }
    const rows = this.#db
      .prepare(`SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
      .all(...params, q.limit + 1) as Row[]
    const page = rows.slice(0, q.limit).map(toEntry)
    const last = page.at(-1)
    return { entries: page, next: rows.length > q.limit && last ? last.seq : null }
  }

  /** Number of entries and the last one's hash (GENESIS when empty): what a checkpoint signs. */
  head(): { entries: number; head: string } {
    const r = this.#db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; hash: string }
      | undefined
    return { entries: r?.seq ?? 0, head: r?.hash ?? GENESIS }
  }

  /** Every entry in order, streamed from the table (for checks against checkpoints). */
  *links(): Generator<Link> {
    const rows = this.#db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>
    for (const r of rows) yield toEntry(r) as unknown as Link
  }

  /** Re-computes the whole chain from the first entry. */
  verify(): ChainReport {
    const rows = this.#db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>
    function* links(): Generator<Link> {
      for (const r of rows) yield toEntry(r) as unknown as Link
    }
    const r = verifyChain(links())
    return { ok: r.problems.length === 0, entries: r.entries, head: r.head, problems: r.problems }
  }
}
