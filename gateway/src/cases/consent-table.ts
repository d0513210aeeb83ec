import type { ConsentBasis, ConsentRecord } from '@doorstep/proto'
import type { Selectable } from 'kysely'
import type { CaseQueries, ConsentRow } from './case-db.js'

function toConsent(r: Selectable<ConsentRow>): ConsentRecord {
  return {
    id: r.id,
    basis: r.basis,
    granted: r.granted === 1,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    legalOrder: r.legal_order,
    note: r.note,
  }
}

/** The table `consents`: every decision on a unit's footage in a case, kept in order. */
export class ConsentTable {
  readonly #db: CaseQueries

  constructor(db: CaseQueries) {
    this.#db = db
  }

  async insert(c: {
    caseId: string
    deviceId: string
    pullId: string | null
    basis: ConsentBasis
    granted: boolean
    decidedBy: string
    decidedAt: number
    legalOrder?: string | null
    note?: string | null
  }): Promise<ConsentRecord> {
    const r = await this.#db
      .insertInto('consents')
      .values({
        case_id: c.caseId,
        device_id: c.deviceId,
        pull_id: c.pullId,
        basis: c.basis,
        granted: c.granted ? 1 : 0,
        decided_by: c.decidedBy,
        decided_at: c.decidedAt,
        legal_order: c.legalOrder ?? null,
        note: c.note ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toConsent(r)
  }

  async get(id: number): Promise<ConsentRecord | undefined> {
    const r = await this.#db.selectFrom('consents').selectAll().where('id', '=', id).executeTakeFirst()
    return r ? toConsent(r) : undefined
  }

  /** The decision in force for a unit in a case: the latest one recorded. */
  async current(caseId: string, deviceId: string): Promise<ConsentRecord | null> {
    const r = await this.#db
      .selectFrom('consents')
      .selectAll()
      .where('case_id', '=', caseId)
      .where('device_id', '=', deviceId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst()
    return r ? toConsent(r) : null
  }
}
