import type { CaseArea, CaseView } from '@doorstep/proto'
import type { Selectable } from 'kysely'
import type { CaseDeviceRow, CaseQueries, CasesRow } from './case-db.js'

export type { CaseDeviceRow } from './case-db.js'

function toCase(r: Selectable<CasesRow>): CaseView {
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
  readonly #db: CaseQueries

  constructor(db: CaseQueries) {
    this.#db = db
  }

  async insert(c: CaseView, devices: ReadonlyArray<Omit<CaseDeviceRow, 'case_id'>>): Promise<void> {
    await this.#db
      .insertInto('cases')
      .values({
        id: c.id,
        number: c.number,
        reason: c.reason,
        window_from: c.from,
        window_to: c.to,
        area: JSON.stringify(c.area),
        state: 'open',
        created_by: c.createdBy,
        created_at: c.createdAt,
      })
      .execute()
    // In chunks: a district-wide case covers hundreds of units, past SQLite's bound parameters per statement.
    for (let i = 0; i < devices.length; i += 200) {
      await this.#db
        .insertInto('case_devices')
        .values(devices.slice(i, i + 200).map((d) => ({ case_id: c.id, ...d })))
        .execute()
    }
  }

  async numberTaken(number: string): Promise<boolean> {
    const r = await this.#db.selectFrom('cases').select('id').where('number', '=', number).executeTakeFirst()
    return r !== undefined
  }

  async get(id: string): Promise<CaseView | undefined> {
    const r = await this.#db.selectFrom('cases').selectAll().where('id', '=', id).executeTakeFirst()
    return r ? toCase(r) : undefined
  }

  async list(state: 'open' | 'closed' | undefined): Promise<CaseView[]> {
    let q = this.#db.selectFrom('cases').selectAll()
    if (state) q = q.where('state', '=', state)
    const rows = await q.orderBy('created_at', 'desc').execute()
    return rows.map(toCase)
  }

  async close(id: string, by: string, at: number): Promise<void> {
    await this.#db
      .updateTable('cases')
      .set({ state: 'closed', closed_at: at, closed_by: by })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .execute()
  }

  devices(caseId: string): Promise<CaseDeviceRow[]> {
    return this.#db
      .selectFrom('case_devices')
      .selectAll()
      .where('case_id', '=', caseId)
      .orderBy('distance_m')
      .orderBy('device_id')
      .execute()
  }

  device(caseId: string, deviceId: string): Promise<CaseDeviceRow | undefined> {
    return this.#db
      .selectFrom('case_devices')
      .selectAll()
      .where('case_id', '=', caseId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst()
  }

  /** Open cases that include the unit (for holding its events as they arrive). */
  async openOf(deviceId: string): Promise<CaseView[]> {
    const rows = await this.#db
      .selectFrom('cases as c')
      .innerJoin('case_devices as d', 'd.case_id', 'c.id')
      .selectAll('c')
      .where('d.device_id', '=', deviceId)
      .where('c.state', '=', 'open')
      .execute()
    return rows.map(toCase)
  }

  /** Every unit that is in some open case. */
  async devicesInOpen(): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('case_devices as d')
      .innerJoin('cases as c', 'c.id', 'd.case_id')
      .select('d.device_id as id')
      .distinct()
      .where('c.state', '=', 'open')
      .execute()
    return rows.map((r) => r.id)
  }
}
