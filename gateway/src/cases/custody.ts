import type { ChainReport, CustodyEntry } from '@doorstep/proto'
import { canonicalJson, GENESIS, type Link, linkHash, verifyChain } from '../audit/index.js'
import { type Db, writeTransaction } from '../db/index.js'

/** Part of the cases schema (see case-migrations.ts); kept next to the code that writes it. */
export const CUSTODY_SCHEMA = `CREATE TABLE custody_log (
    case_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
  );
  CREATE TRIGGER custody_log_no_update BEFORE UPDATE ON custody_log
    BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END;
  CREATE TRIGGER custody_log_no_delete BEFORE DELETE ON custody_log
    BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END;`

interface Row {
  case_id: string
  seq: number
  at: number
  actor: string
  action: string
  details: string
  prev_hash: string
  hash: string
}

function toEntry(r: Row): CustodyEntry {
  let details: Record<string, unknown>
  try {
    details = JSON.parse(r.details) as Record<string, unknown>
  } catch {
    details = { unparseable: r.details }
  }
  return {
    caseId: r.case_id,
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    details,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}

/**
 * The chain of custody of one case: everything that happened to its evidence
 * (created, holds, pulls sent and answered, consent, recordings received,
 * exports), one hash chain per case, in the same form as the audit log. The
 * export carries it as `custody.jsonl`, one entry a line, for `doorstep verify`.
 */
export class CustodyLog {
  readonly #db: Db
  readonly #now: () => number

  constructor(db: Db, now: () => number) {
    this.#db = db
    this.#now = now
  }

  append(caseId: string, actor: string, action: string, details: Record<string, unknown> = {}): CustodyEntry {
    const db = this.#db
    return writeTransaction(db, () => {
      const head = db
        .prepare('SELECT seq, hash FROM custody_log WHERE case_id = ? ORDER BY seq DESC LIMIT 1')
        .get(caseId) as { seq: number; hash: string } | undefined
      const body = { caseId, seq: (head?.seq ?? 0) + 1, at: this.#now(), actor, action, details }
      const prevHash = head?.hash ?? GENESIS
      const hash = linkHash(prevHash, body)
      db.prepare(
        'INSERT INTO custody_log (case_id, seq, at, actor, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(caseId, body.seq, body.at, actor, action, canonicalJson(details), prevHash, hash)
      return { ...body, prevHash, hash }
    })
  }

  /** Whether the case's log already has an entry of `action` about this pull. */
  hasPullEntry(caseId: string, action: string, pullId: string): boolean {
    return (
      this.#db
        .prepare(
          "SELECT 1 FROM custody_log WHERE case_id = ? AND action = ? AND json_extract(details, '$.pullId') = ? LIMIT 1",
        )
        .get(caseId, action, pullId) !== undefined
    )
  }

  entries(caseId: string): CustodyEntry[] {
    const rows = this.#db
      .prepare('SELECT * FROM custody_log WHERE case_id = ? ORDER BY seq')
      .all(caseId) as Row[]
    return rows.map(toEntry)
  }

  /** Each case's number of entries and last hash: what a checkpoint signs. */
  heads(): Array<{ caseId: string; entries: number; head: string }> {
    const rows = this.#db
      .prepare(
        `SELECT c.case_id, c.seq, c.hash FROM custody_log c
         JOIN (SELECT case_id, MAX(seq) AS seq FROM custody_log GROUP BY case_id) m
           ON m.case_id = c.case_id AND m.seq = c.seq`,
      )
      .all() as Array<{ case_id: string; seq: number; hash: string }>
    return rows.map((r) => ({ caseId: r.case_id, entries: r.seq, head: r.hash }))
  }

  verify(caseId: string): ChainReport {
    const r = verifyChain(this.entries(caseId) as unknown as Link[])
    return { ok: r.problems.length === 0, entries: r.entries, head: r.head, problems: r.problems }
  }
}

/** `custody.jsonl`: one canonical JSON entry per line, in order. */
export function custodyJsonl(entries: readonly CustodyEntry[]): string {
  return entries.map((e) => `${canonicalJson(e)}\n`).join('')
}
