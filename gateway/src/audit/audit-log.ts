import type { AuditEntry, ChainReport } from '@doorstep/proto'
import type { Kysely } from 'kysely'
import { migrateShared, type SharedDb, type SharedSchema } from '../db/index.js'
import type { Feature } from '../feature.js'
import type { Logger } from '../log.js'
import { canonicalJson, GENESIS, type Link, linkHash, verifyChainAsync } from './chain.js'

/** The audit log's tables in a gateway's own SQLite file (frozen: a change is a new step). */
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
  // The chain's head in a row of its own, which every append moves on first: the lock on it is what
  // keeps appends from several gateways in one line (see `append`). Filled from the entries there.
  `CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  );
  INSERT INTO audit_head (id, seq, hash)
    SELECT 1, COALESCE(MAX(seq), 0),
      COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '${GENESIS}')
    FROM audit_log;`,
]

/**
 * The same tables in a PostgreSQL shared by several gateways, step for step. The append-only rule is
 * a trigger function that raises on UPDATE and DELETE (and TRUNCATE, which skips row triggers).
 */
export const AUDIT_SCHEMA_POSTGRES = [
  `CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_subject ON audit_log (subject, seq);
  CREATE INDEX audit_log_action ON audit_log (action, seq);
  CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only';
    END
  $$;
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
  CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();`,
  'CREATE INDEX audit_log_actor ON audit_log (actor, seq);',
  `CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
  );
  INSERT INTO audit_head (id, seq, hash)
    SELECT 1, COALESCE(MAX(seq), 0),
      COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '${GENESIS}')
    FROM audit_log;`,
]

const SCHEMA: SharedSchema = { sqlite: AUDIT_SCHEMA, postgres: AUDIT_SCHEMA_POSTGRES }

/** Entries read at a time by `links` (and so by `verify`). */
const LINKS_PAGE = 1000

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

interface AuditTables {
  audit_log: Row
  /** One row (id 1): the last entry's seq and hash, GENESIS and 0 before the first. */
  audit_head: { id: number; seq: number; hash: string }
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
 * The audit log: an append-only table whose entries are hash-chained (see chain.ts), on the shared
 * database (the gateway's SQLite file, or a PostgreSQL several gateways share), with one set of
 * queries for both. Triggers refuse UPDATE and DELETE, so a slip in code cannot rewrite history;
 * someone with the database can, and `verify()` then names the entry. An append is one short
 * transaction: it moves the head row on (which takes its lock), inserts the entry, and records its
 * hash in the head row.
 */
export class AuditLog implements Feature {
  readonly name = 'audit'
  readonly #shared: SharedDb
  readonly #db: Kysely<AuditTables>
  readonly #log: Logger | null
  readonly #now: () => number
  #started = false
  readonly #listeners: Array<(e: AuditEntry) => void> = []

  constructor(deps: { shared: SharedDb; log?: Logger; now?: () => number }) {
    this.#shared = deps.shared
    this.#db = deps.shared.tables<AuditTables>()
    this.#log = deps.log?.child({ feature: 'audit' }) ?? null
    this.#now = deps.now ?? Date.now
  }

  async start(): Promise<void> {
    await migrateShared(this.#shared, 'audit', SCHEMA)
    this.#started = true
  }

  stop(): void {
    this.#started = false
  }

  /**
   * `fn` hears of each entry once it is appended (log checkpoints count them). An entry appended
   * `within` a caller's transaction is told of before that transaction ends.
   */
  onAppend(fn: (e: AuditEntry) => void): void {
    this.#listeners.push(fn)
  }

  /**
   * Appends an entry. `within`, a query builder bound to a transaction on the same database (what
   * `SharedDb.write` hands its callback), makes the entry part of that transaction: it is there if
   * and only if the rest is. Without it the append is a transaction of its own. Rejects if the entry
   * could not be written.
   */
  async append<DB>(rec: AuditRecord, within?: Kysely<DB>): Promise<AuditEntry> {
    if (!this.#started) throw new Error('audit log is not started')
    const entry = within
      ? await this.#insert(within as unknown as Kysely<AuditTables>, rec)
      : await this.#shared.write<AuditTables, AuditEntry>((trx) => this.#insert(trx, rec))
    for (const fn of this.#listeners) fn(entry)
    return entry
  }

  async #insert(db: Kysely<AuditTables>, rec: AuditRecord): Promise<AuditEntry> {
    const details = rec.details ?? {}
    // Before any write: details that JSON cannot carry fail here, not halfway through.
    const detailsJson = canonicalJson(details)
    // Moving the head on is the append's first statement, and it takes the head's lock: PostgreSQL's
    // row lock until the transaction ends (SQLite's write lock is held from BEGIN IMMEDIATE already).
    // Another append, on this gateway or on another sharing the database, waits on it and then reads
    // the seq and hash this one leaves: no two appends ever chain onto the same entry.
    const head = await db
      .updateTable('audit_head')
      .set((eb) => ({ seq: eb('seq', '+', 1) }))
      .where('id', '=', 1)
      .returning(['seq', 'hash'])
      .executeTakeFirst()
    if (!head) throw new Error('audit_head has no row: the audit log is not migrated')
    const body = {
      seq: head.seq,
      at: this.#now(),
      actor: rec.actor,
      action: rec.action,
      subject: rec.subject,
      details,
    }
    const prevHash = head.hash
    const hash = linkHash(prevHash, body)
    await db
      .insertInto('audit_log')
      .values({
        seq: body.seq,
        at: body.at,
        actor: body.actor,
        action: body.action,
        subject: body.subject,
        details: detailsJson,
        prev_hash: prevHash,
        hash,
      })
      .execute()
    await db.updateTable('audit_head').set({ hash }).where('id', '=', 1).execute()
    return { ...body, prevHash, hash }
  }

  /**
   * Like `append`, for side records (views, downloads): a failure is logged, never thrown at the
   * caller. Async callers await it; others call it with `void`.
   */
  async record(rec: AuditRecord): Promise<void> {
    try {
      await this.append(rec)
    } catch (err) {
      this.#log?.error({ err, action: rec.action, subject: rec.subject }, 'audit append failed')
    }
  }

  async list(q: AuditFilter): Promise<{ entries: AuditEntry[]; next: number | null }> {
    let query = this.#db.selectFrom('audit_log').selectAll().where('seq', '>', q.after)
    for (const column of ['action', 'subject', 'actor'] as const) {
      const value = q[column]
      if (value) query = query.where(column, '=', value)
    }
    if (q.from !== undefined) query = query.where('at', '>=', q.from)
    if (q.to !== undefined) query = query.where('at', '<=', q.to)
    const rows = await query
      .orderBy('seq')
      .limit(q.limit + 1)
      .execute()
    const page = rows.slice(0, q.limit).map(toEntry)
    const last = page.at(-1)
    return { entries: page, next: rows.length > q.limit && last ? last.seq : null }
  }

  /** Number of entries and the last one's hash (GENESIS when empty): what a checkpoint signs. */
  async head(): Promise<{ entries: number; head: string }> {
    const r = await this.#db
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    return { entries: r?.seq ?? 0, head: r?.hash ?? GENESIS }
  }

  /**
   * Every entry in order, read from the table a page at a time by seq (for checks against
   * checkpoints): memory holds one page, and no read holds the database between pages.
   */
  async *links(): AsyncGenerator<Link> {
    let after: number | null = null
    for (;;) {
      let query = this.#db.selectFrom('audit_log').selectAll()
      if (after !== null) query = query.where('seq', '>', after)
      const rows = await query.orderBy('seq').limit(LINKS_PAGE).execute()
      for (const r of rows) yield toEntry(r) as unknown as Link
      const last = rows.at(-1)
      if (!last || rows.length < LINKS_PAGE) return
      after = last.seq
    }
  }

  /** Re-computes the whole chain from the first entry. */
  async verify(): Promise<ChainReport> {
    const r = await verifyChainAsync(this.links())
    return { ok: r.problems.length === 0, entries: r.entries, head: r.head, problems: r.problems }
  }
}
