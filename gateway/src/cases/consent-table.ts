import type { ConsentBasis, ConsentRecord } from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'

interface ConsentRow {
  id: number
  case_id: string
  device_id: string
  pull_id: string | null
  basis: ConsentBasis
  granted: number
  decided_by: string
  decided_at: number
  legal_order: string | null
  note: string | null
}

function toConsent(r: ConsentRow): ConsentRecord {
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
  readonly #prep: (sql: string) => Statement

  constructor(prep: (sql: string) => Statement) {
    this.#prep = prep
  }

  insert(c: {
    caseId: string
    deviceId: string
    pullId: string | null
    basis: ConsentBasis
    granted: boolean
    decidedBy: string
    decidedAt: number
    legalOrder?: string | null
    note?: string | null
  }): ConsentRecord {
    const r = this.#prep(
      `INSERT INTO consents (case_id, device_id, pull_id, basis, granted, decided_by, decided_at, legal_order, note)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ).get(
      c.caseId,
      c.deviceId,
      c.pullId,
      c.basis,
      c.granted ? 1 : 0,
      c.decidedBy,
      c.decidedAt,
      c.legalOrder ?? null,
      c.note ?? null,
    ) as ConsentRow
    return toConsent(r)
  }

  get(id: number): ConsentRecord | undefined {
    const r = this.#prep('SELECT * FROM consents WHERE id = ?').get(id) as ConsentRow | undefined
    return r ? toConsent(r) : undefined
  }

  /** The decision in force for a unit in a case: the latest one recorded. */
  current(caseId: string, deviceId: string): ConsentRecord | null {
    const r = this.#prep(
      'SELECT * FROM consents WHERE case_id = ? AND device_id = ? ORDER BY id DESC LIMIT 1',
    ).get(caseId, deviceId) as ConsentRow | undefined
    return r ? toConsent(r) : null
  }
}
