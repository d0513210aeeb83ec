import type { CaseQueries } from './case-db.js'

/** The table `case_holds`: which clip hold each case placed on which event. */
export class CaseHoldTable {
  readonly #db: CaseQueries

  constructor(db: CaseQueries) {
    this.#db = db
  }

  async has(caseId: string, eventId: string): Promise<boolean> {
    const r = await this.#db
      .selectFrom('case_holds')
      .select('hold_id')
      .where('case_id', '=', caseId)
      .where('event_id', '=', eventId)
      .executeTakeFirst()
    return r !== undefined
  }

  async add(caseId: string, eventId: string, holdId: number): Promise<void> {
    await this.#db
      .insertInto('case_holds')
      .values({ case_id: caseId, event_id: eventId, hold_id: holdId })
      .onConflict((oc) => oc.columns(['case_id', 'event_id']).doNothing())
      .execute()
  }

  ofCase(caseId: string): Promise<Array<{ eventId: string; holdId: number }>> {
    return this.#db
      .selectFrom('case_holds')
      .select(['event_id as eventId', 'hold_id as holdId'])
      .where('case_id', '=', caseId)
      .orderBy('hold_id')
      .execute()
  }
}
