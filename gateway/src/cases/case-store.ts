import { type Db, migrate, statementCache, writeTransaction } from '../db/index.js'
import { CaseHoldTable } from './case-hold-table.js'
import { CASES_SCHEMA } from './case-migrations.js'
import { CaseTable } from './case-table.js'
import { ConsentTable } from './consent-table.js'
import { PullTable } from './pull-table.js'

/**
 * The cases feature's tables on one connection: cases and their units, their
 * holds, consent records and pulls (the custody log has its own, `custody.ts`).
 * Each statement is prepared once and shared by the tables.
 */
export class CaseStore {
  readonly #db: Db
  readonly cases: CaseTable
  readonly holds: CaseHoldTable
  readonly consents: ConsentTable
  readonly pulls: PullTable

  constructor(db: Db) {
    this.#db = db
    const prep = statementCache(db)
    this.cases = new CaseTable(prep)
    this.holds = new CaseHoldTable(prep)
    this.consents = new ConsentTable(prep)
    this.pulls = new PullTable(prep, this.consents)
  }

  load(): void {
    migrate(this.#db, 'cases', CASES_SCHEMA)
  }

  transaction<T>(fn: () => T): T {
    return writeTransaction(this.#db, fn)
  }
}
