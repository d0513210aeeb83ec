import type { CaseArea, CaseView } from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'

interface CaseRow {
  id: string
  number: string
  reason: string
  window_from: number
  window_to: number
  area: string
  state: 'open' | 'closed'
  created_by: string
  created_at: number
  closed_at: number | null
  closed_by: string | null
}

export interface CaseDeviceRow {
  case_id: string
  device_id: string
  district: number
  distance_m: number | null
}

function toCase(r: CaseRow): CaseView {
  return {
    id: r.id,
    number: r.number,
    reason: r.reason,
    from: r.window_from,
    to: r.window_to,
    area: JSON.parse(r.area) as CaseArea,
    state: r.state,
    createdBy: r.created_by,
    createdAt: r.created_at,
    closedAt: r.closed_at,
    closedBy: r.closed_by,
  }
}

/** The tables `cases` and `case_devices`: a case, and the units its area covered when it was opened. */
export class CaseTable {
  readonly #prep: (sql: string) => Statement

  constructor(prep: (sql: string) => Statement) {
    this.#prep = prep
  }

  insert(c: CaseView, devices: ReadonlyArray<Omit<CaseDeviceRow, 'case_id'>>): void {
    this.#prep(
      `INSERT INTO cases (id, number, reason, window_from, window_to, area, state, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
    ).run(c.id, c.number, c.reason, c.from, c.to, JSON.stringify(c.area), c.createdBy, c.createdAt)
    const add = this.#prep(
      'INSERT INTO case_devices (case_id, device_id, district, distance_m) VALUES (?, ?, ?, ?)',
    )
    for (const d of devices) add.run(c.id, d.device_id, d.district, d.distance_m)
  }

  numberTaken(number: string): boolean {
    return this.#prep('SELECT 1 FROM cases WHERE number = ?').get(number) !== undefined
  }

  get(id: string): CaseView | undefined {
    const r = this.#prep('SELECT * FROM cases WHERE id = ?').get(id) as CaseRow | undefined
    return r ? toCase(r) : undefined
  }

  list(state: 'open' | 'closed' | undefined): CaseView[] {
    const rows = (
      state
        ? this.#prep('SELECT * FROM cases WHERE state = ? ORDER BY created_at DESC').all(state)
        : this.#prep('SELECT * FROM cases ORDER BY created_at DESC').all()
    ) as CaseRow[]
    return rows.map(toCase)
  }

  close(id: string, by: string, at: number): void {
    this.#prep(
      "UPDATE cases SET state = 'closed', closed_at = ?, closed_by = ? WHERE id = ? AND state = 'open'",
    ).run(at, by, id)
  }

  devices(caseId: string): CaseDeviceRow[] {
    return this.#prep('SELECT * FROM case_devices WHERE case_id = ? ORDER BY distance_m, device_id').all(
      caseId,
    ) as CaseDeviceRow[]
  }

  device(caseId: string, deviceId: string): CaseDeviceRow | undefined {
    return this.#prep('SELECT * FROM case_devices WHERE case_id = ? AND device_id = ?').get(
      caseId,
      deviceId,
    ) as CaseDeviceRow | undefined
  }

  /** Open cases that include the unit (for holding its events as they arrive). */
  openOf(deviceId: string): CaseView[] {
    const rows = this.#prep(
      `SELECT c.* FROM cases c JOIN case_devices d ON d.case_id = c.id
         WHERE d.device_id = ? AND c.state = 'open'`,
    ).all(deviceId) as CaseRow[]
    return rows.map(toCase)
  }

  /** Every unit that is in some open case. */
  devicesInOpen(): string[] {
    const rows = this.#prep(
      `SELECT DISTINCT d.device_id AS id FROM case_devices d JOIN cases c ON c.id = d.case_id
         WHERE c.state = 'open'`,
    ).all() as Array<{ id: string }>
    return rows.map((r) => r.id)
  }
}
