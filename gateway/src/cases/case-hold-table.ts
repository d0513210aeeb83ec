import type { Statement } from 'better-sqlite3'

/** The table `case_holds`: which clip hold each case placed on which event. */
export class CaseHoldTable {
  readonly #prep: (sql: string) => Statement

  constructor(prep: (sql: string) => Statement) {
    this.#prep = prep
  }

  has(caseId: string, eventId: string): boolean {
    return (
      this.#prep('SELECT 1 FROM case_holds WHERE case_id = ? AND event_id = ?').get(caseId, eventId) !==
      undefined
    )
  }

  add(caseId: string, eventId: string, holdId: number): void {
    this.#prep('INSERT OR IGNORE INTO case_holds (case_id, event_id, hold_id) VALUES (?, ?, ?)').run(
      caseId,
      eventId,
      holdId,
    )
  }

  ofCase(caseId: string): Array<{ eventId: string; holdId: number }> {
    return this.#prep(
      'SELECT event_id AS eventId, hold_id AS holdId FROM case_holds WHERE case_id = ? ORDER BY hold_id',
    ).all(caseId) as Array<{ eventId: string; holdId: number }>
  }
}
