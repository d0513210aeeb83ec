import { z } from 'zod'
import { migrateShared, type SharedDb } from '../db/index.js'
import type { Logger } from '../log.js'
import type { CaseQueries, CaseTables, PullRow } from './case-db.js'
import { CaseHoldTable } from './case-hold-table.js'
import { CASES_SCHEMA, CASES_SCHEMA_POSTGRES } from './case-migrations.js'
import { CaseTable } from './case-table.js'
import { ConsentTable } from './consent-table.js'
import { PullTable } from './pull-table.js'

/** The cases tables over one query builder: the shared database's, or a transaction's. */
export class BoundCaseTables {
  readonly db: CaseQueries
  readonly cases: CaseTable
  readonly holds: CaseHoldTable
  readonly consents: ConsentTable
  readonly pulls: PullTable

  constructor(db: CaseQueries, pullChanged: (id: string) => void) {
    this.db = db
    this.cases = new CaseTable(db)
    this.holds = new CaseHoldTable(db)
    this.consents = new ConsentTable(db)
    this.pulls = new PullTable(db, this.consents, pullChanged)
  }
}

/** PostgreSQL channels on which gateways tell each other that a pull, or a case, changed. */
const PULLS_CHANNEL = 'doorstep_pulls'
const CASES_CHANNEL = 'doorstep_cases'

/** What a case notice says: which case, its number, and whether it is now open or closed. */
const CaseNotice = z.object({
  caseId: z.string().min(1).max(64),
  number: z.string().max(200),
  state: z.enum(['open', 'closed']),
})
export type CaseNotice = z.infer<typeof CaseNotice>

/**
 * The cases feature's tables in the shared database (the gateway's SQLite file, or PostgreSQL): cases
 * and their units, their holds, consent records, pulls and the custody log (`custody.ts`), with their
 * migrations and write transactions.
 *
 * Change notices: `onPullChange` hears of each pull whose progress changed, once the change is
 * committed (a pull changed in a transaction that rolls back is not told), and `onCaseChange` of each
 * case opened or closed. On PostgreSQL the notices go through NOTIFY, so every gateway hears every
 * change, its own included; `onResync` is called when the connection that listens comes back (notices
 * sent meanwhile are lost).
 */
export class CaseStore extends BoundCaseTables {
  readonly #shared: SharedDb
  readonly #log: Logger | null
  onPullChange: ((row: PullRow) => void) | null = null
  onCaseChange: ((notice: CaseNotice) => void) | null = null
  onResync: (() => void) | null = null
  readonly #pending = new Set<string>()

  constructor(shared: SharedDb, log?: Logger) {
    super(shared.tables<CaseTables>(), (id) => this.#pullsChanged([id]))
    this.#shared = shared
    this.#log = log ?? null
  }

  /** Whether other gateways share these tables (and so hear of changes only by notice). */
  get shared(): boolean {
    return this.#shared.dialect === 'postgres'
  }

  async load(): Promise<void> {
    await migrateShared(this.#shared, 'cases', { sqlite: CASES_SCHEMA, postgres: CASES_SCHEMA_POSTGRES })
    const resync = () => this.onResync?.()
    await this.#shared.listen(PULLS_CHANNEL, (id) => this.#queue([id]), resync)
    await this.#shared.listen(CASES_CHANNEL, (payload) => this.#caseNotice(payload), resync)
  }

  /** Runs `fn` in one write transaction over the tables (see `SharedDb.write`). */
  async transaction<R>(fn: (t: BoundCaseTables) => Promise<R>): Promise<R> {
    const changed: string[] = []
    const out = await this.#shared.write<CaseTables, R>((trx) =>
      fn(new BoundCaseTables(trx, (id) => changed.push(id))),
    )
    this.#pullsChanged(changed)
    return out
  }

  /** A case was opened or closed: every gateway's `onCaseChange` hears of it. */
  caseChanged(notice: CaseNotice): void {
    if (!this.shared) {
      this.onCaseChange?.(notice)
      return
    }
    this.#shared.notify(CASES_CHANNEL, JSON.stringify(notice)).catch((err: Error) => {
      // Those gateways learn of the case at their next resync or restart; this one at once.
      this.#log?.warn({ err: err.message, caseId: notice.caseId }, 'other gateways not told of a case change')
      this.onCaseChange?.(notice)
    })
  }

  #caseNotice(payload: string): void {
    let notice: CaseNotice
    try {
      notice = CaseNotice.parse(JSON.parse(payload))
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'a case notice that does not parse; ignored')
      return
    }
    this.onCaseChange?.(notice)
  }

  #pullsChanged(ids: readonly string[]): void {
    if (ids.length === 0) return
    if (!this.shared) {
      this.#queue(ids)
      return
    }
    for (const id of new Set(ids)) {
      this.#shared.notify(PULLS_CHANNEL, id).catch((err: Error) => {
        this.#log?.warn({ err: err.message, pullId: id }, 'other gateways not told of a pull change')
        this.#queue([id])
      })
    }
  }

  /** Tells `onPullChange` of these pulls soon: several changes to one pull close together are told once. */
  #queue(ids: readonly string[]): void {
    if (!this.onPullChange || ids.length === 0) return
    const first = this.#pending.size === 0
    for (const id of ids) this.#pending.add(id)
    if (first) setImmediate(() => void this.#tell())
  }

  async #tell(): Promise<void> {
    const ids = [...this.#pending]
    this.#pending.clear()
    for (const id of ids) {
      const row = await this.pulls.get(id).catch(() => undefined)
      if (row) this.onPullChange?.(row)
    }
  }
}
