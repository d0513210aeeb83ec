import type { ChainReport, CustodyEntry } from '@doorstep/proto'
import type { Selectable } from 'kysely'
import { canonicalJson, GENESIS, type Link, linkHash, verifyChain } from '../audit/index.js'
import type { SharedDb } from '../db/index.js'
import type { CaseQueries, CaseTables, CustodyRow } from './case-db.js'

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

function toEntry(r: Selectable<CustodyRow>): CustodyEntry {
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
 *
 * An append first advances the case's `custody_seq`: on PostgreSQL that row's lock makes appends to
 * one case from several gateways wait their turn, so the chain stays linear; on SQLite the
 * transaction holds the file's write lock from its start.
 */
export class CustodyLog {
  readonly #shared: SharedDb
  readonly #db: CaseQueries
  readonly #now: () => number

  constructor(shared: SharedDb, now: () => number) {
    this.#shared = shared
    this.#db = shared.tables<CaseTables>()
    this.#now = now
  }

  /** Appends an entry; with `within` (a transaction's query builder) as part of that transaction. */
  append(
    caseId: string,
    actor: string,
    action: string,
    details: Record<string, unknown> = {},
    within?: CaseQueries,
  ): Promise<CustodyEntry> {
    if (within) return this.#append(within, caseId, actor, action, details)
    return this.#shared.write<CaseTables, CustodyEntry>((trx) =>
      this.#append(trx, caseId, actor, action, details),
    )
  }

  async #append(
    db: CaseQueries,
    caseId: string,
    actor: string,
    action: string,
    details: Record<string, unknown>,
  ): Promise<CustodyEntry> {
    const turn = await db
      .updateTable('cases')
      .set((eb) => ({ custody_seq: eb('custody_seq', '+', 1) }))
      .where('id', '=', caseId)
      .returning('custody_seq')
      .executeTakeFirst()
    if (!turn) throw new Error(`custody log: no case ${caseId}`)
    const seq = Number(turn.custody_seq)
    const before =
      seq > 1
        ? await db
            .selectFrom('custody_log')
            .select('hash')
            .where('case_id', '=', caseId)
            .where('seq', '=', seq - 1)
            .executeTakeFirst()
        : undefined
    const body = { caseId, seq, at: this.#now(), actor, action, details }
    const prevHash = before?.hash ?? GENESIS
    const hash = linkHash(prevHash, body)
    await db
      .insertInto('custody_log')
      .values({
        case_id: caseId,
        seq,
        at: body.at,
        actor,
        action,
        details: canonicalJson(details),
        prev_hash: prevHash,
        hash,
      })
      .execute()
    return { ...body, prevHash, hash }
  }

  /** Whether the case's log already has an entry of `action` about this pull. */
  async hasPullEntry(caseId: string, action: string, pullId: string): Promise<boolean> {
    // Details are canonical JSON, so the pull's id appears in exactly this form; a pull id is a UUID,
    // which holds no LIKE wildcard.
    const r = await this.#db
      .selectFrom('custody_log')
      .select('seq')
      .where('case_id', '=', caseId)
      .where('action', '=', action)
      .where('details', 'like', `%"pullId":${JSON.stringify(pullId)}%`)
      .limit(1)
      .executeTakeFirst()
    return r !== undefined
  }

  async entries(caseId: string): Promise<CustodyEntry[]> {
    const rows = await this.#db
      .selectFrom('custody_log')
      .selectAll()
      .where('case_id', '=', caseId)
      .orderBy('seq')
      .execute()
    return rows.map(toEntry)
  }

  /** Each case's number of entries and last hash: what a checkpoint signs. */
  async heads(): Promise<Array<{ caseId: string; entries: number; head: string }>> {
    const rows = await this.#db
      .selectFrom('custody_log as c')
      .innerJoin(
        (eb) =>
          eb
            .selectFrom('custody_log')
            .select(['case_id', (e) => e.fn.max('seq').as('seq')])
            .groupBy('case_id')
            .as('m'),
        (join) => join.onRef('m.case_id', '=', 'c.case_id').onRef('m.seq', '=', 'c.seq'),
      )
      .select(['c.case_id', 'c.seq', 'c.hash'])
      .execute()
    return rows.map((r) => ({ caseId: r.case_id, entries: Number(r.seq), head: r.hash }))
  }

  async verify(caseId: string): Promise<ChainReport> {
    const r = verifyChain((await this.entries(caseId)) as unknown as Link[])
    return { ok: r.problems.length === 0, entries: r.entries, head: r.head, problems: r.problems }
  }
}

/** `custody.jsonl`: one canonical JSON entry per line, in order. */
export function custodyJsonl(entries: readonly CustodyEntry[]): string {
  return entries.map((e) => `${canonicalJson(e)}\n`).join('')
}
