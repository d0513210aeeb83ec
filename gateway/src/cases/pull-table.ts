import type { ClipMedia, PullState, PullView } from '@doorstep/proto'
import { type ExpressionBuilder, sql } from 'kysely'
import { WriterLeases } from '../uploads/index.js'
import type { CaseQueries, CaseTables, PullRow } from './case-db.js'
import type { ConsentTable } from './consent-table.js'

export type { PullRow } from './case-db.js'

/** What a new pull is given; the rest starts at its column's default. */
export type NewPull = Pick<
  PullRow,
  | 'id'
  | 'case_id'
  | 'device_id'
  | 'district'
  | 'window_from'
  | 'window_to'
  | 'state'
  | 'reason'
  | 'requested_by'
  | 'requested_at'
  | 'consent_id'
  | 'legal_order'
>

/** The fields of a stored recording, as `media` holds them. */
type RecordingMedia = Omit<ClipMedia, 'sha256' | 'bytes' | 'storedAt' | 'thumb'>

/** Pull states in which a unit has the command and may be uploading: they use the district's budget. */
function active(eb: ExpressionBuilder<CaseTables, 'pulls'>) {
  return eb.or([
    eb.and([eb('state', '=', 'pending'), eb('sent_at', 'is not', null)]),
    eb('state', '=', 'uploading'),
  ])
}

/** States after which nothing more happens to a pull. */
export const FINAL_STATES: ReadonlySet<PullState> = new Set(['done', 'refused', 'failed'])

/**
 * The table `pulls`: each request for a unit's recording, its delivery, upload and storage. A change
 * to what the dashboard shows of a pull (state, bytes, total, reason) is passed to `changed`, which
 * tells the listeners once the change is committed (see CaseStore).
 */
export class PullTable {
  readonly #db: CaseQueries
  readonly #consents: ConsentTable
  readonly #changed: (id: string) => void

  constructor(db: CaseQueries, consents: ConsentTable, changed: (id: string) => void) {
    this.#db = db
    this.#consents = consents
    this.#changed = changed
  }

  async insert(p: NewPull): Promise<void> {
    await this.#db
      .insertInto('pulls')
      .values({ ...p, n: sql<number>`(SELECT COALESCE(MAX(n), 0) + 1 FROM pulls)` })
      .execute()
    this.#changed(p.id)
  }

  /**
   * Takes the pull's row lock for the rest of the write transaction (an update of the row to itself):
   * a decision read after it sees what another gateway's decision committed, and a second decider
   * waits for this one. On SQLite the transaction's write lock does it already.
   */
  async lock(id: string): Promise<void> {
    await this.#db
      .updateTable('pulls')
      .set((eb) => ({ n: eb.ref('n') }))
      .where('id', '=', id)
      .execute()
  }

  /** Holds of PUTs on the pulls' uploads (`uploads/writer-lease.ts`), for gateway `node`. */
  writerLeases(node: string, now: () => number, lapseMs: number): WriterLeases {
    return new WriterLeases({ db: this.#db, row: { table: 'pulls', key: 'id' }, node, now, lapseMs })
  }

  get(id: string): Promise<PullRow | undefined> {
    return this.#db.selectFrom('pulls').selectAll().where('id', '=', id).executeTakeFirst()
  }

  ofCase(caseId: string): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('case_id', '=', caseId)
      .orderBy('requested_at')
      .orderBy('id')
      .execute()
  }

  /** The newest pull of a unit in a case. */
  latest(caseId: string, deviceId: string): Promise<PullRow | undefined> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('case_id', '=', caseId)
      .where('device_id', '=', deviceId)
      .orderBy('requested_at', 'desc')
      .orderBy('n', 'desc')
      .limit(1)
      .executeTakeFirst()
  }

  ofDevice(deviceId: string, states: readonly PullState[]): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('state', 'in', states)
      .orderBy('requested_at')
      .execute()
  }

  /** Pulls waiting to be sent, oldest first. */
  unsent(): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('state', '=', 'pending')
      .where('sent_at', 'is', null)
      .orderBy('requested_at')
      .orderBy('n')
      .execute()
  }

  /** Pulls a unit has (sent, accepted or uploading), across districts. */
  inFlight(): Promise<PullRow[]> {
    return this.#db.selectFrom('pulls').selectAll().where(active).execute()
  }

  async activeInDistrict(district: number): Promise<number> {
    const r = await this.#db
      .selectFrom('pulls')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('district', '=', district)
      .where(active)
      .executeTakeFirstOrThrow()
    return Number(r.n)
  }

  /**
   * Marks an unsent pending pull as sent, unless someone did first (another gateway's pump, or a
   * decision that moved it meanwhile): true when this call took it, and only then is it sent.
   */
  async claim(p: PullRow, at: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('pulls')
      .set({ sent_at: at, sends: p.sends + 1 })
      .where('id', '=', p.id)
      .where('state', '=', 'pending')
      .where('sent_at', 'is', null)
      .where('sends', '=', p.sends)
      .executeTakeFirst()
    return r.numUpdatedRows === 1n
  }

  /**
   * `claim`, if the pull's district has fewer than `budget` pulls in flight. Call it inside a write
   * transaction: the district's row is updated first, so a second gateway sending into the same
   * district waits for this transaction and then counts this pull as in flight (on SQLite, writers
   * are one at a time anyway). Without that lock two gateways each see room for one more and both send.
   */
  async claimInBudget(p: PullRow, at: number, budget: number): Promise<boolean> {
    await this.#db
      .insertInto('pull_districts')
      .values({ district: p.district })
      .onConflict((oc) => oc.column('district').doNothing())
      .execute()
    await this.#db
      .updateTable('pull_districts')
      .set((eb) => ({ sends: eb('sends', '+', 1) }))
      .where('district', '=', p.district)
      .execute()
    if ((await this.activeInDistrict(p.district)) >= budget) return false
    return this.claim(p, at)
  }

  /**
   * Marks an unsent pending pull `offline` (its unit is connected to no gateway), unless it was sent
   * or moved meanwhile: true when this call changed it.
   */
  async markOffline(id: string): Promise<boolean> {
    const r = await this.#db
      .updateTable('pulls')
      .set({ state: 'offline' })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('sent_at', 'is', null)
      .executeTakeFirst()
    if (r.numUpdatedRows !== 1n) return false
    this.#changed(id)
    return true
  }

  /** Pulls waiting for their unit to come back, oldest first. */
  waiting(): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('state', '=', 'offline')
      .orderBy('requested_at')
      .orderBy('n')
      .execute()
  }

  /** Pulls caught by a crash between the write-ahead and `done` (see PullUploadTarget.recover). */
  committing(): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('sha256', 'is not', null)
      .where('state', '!=', 'done')
      .execute()
  }

  withoutThumb(): Promise<PullRow[]> {
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('state', '=', 'done')
      .where('thumb', '=', 0)
      .execute()
  }

  async update(id: string, patch: Partial<Omit<PullRow, 'id' | 'n'>>): Promise<void> {
    if (Object.keys(patch).length === 0) return
    await this.#db.updateTable('pulls').set(patch).where('id', '=', id).execute()
    if ('state' in patch || 'bytes' in patch || 'total' in patch || 'reason' in patch) this.#changed(id)
  }

  /** Pulls of units registered to an owner contact (the owner's consent requests). */
  forOwner(deviceIds: readonly string[]): Promise<PullRow[]> {
    if (deviceIds.length === 0) return Promise.resolve([])
    return this.#db
      .selectFrom('pulls')
      .selectAll()
      .where('device_id', 'in', deviceIds)
      .where((eb) =>
        eb.or([
          eb('state', '=', 'awaiting-consent'),
          eb(
            'consent_id',
            'in',
            eb
              .selectFrom('consents')
              .select('consents.id')
              .where('basis', 'in', ['owner-approved', 'owner-declined', 'legal-order']),
          ),
        ]),
      )
      .orderBy('requested_at', 'desc')
      .execute()
  }

  async view(r: PullRow): Promise<PullView> {
    const consent = r.consent_id === null ? null : ((await this.#consents.get(r.consent_id)) ?? null)
    const media = r.stored_at !== null && r.media && r.sha256 ? (JSON.parse(r.media) as RecordingMedia) : null
    return {
      id: r.id,
      caseId: r.case_id,
      deviceId: r.device_id,
      district: r.district,
      from: r.window_from,
      to: r.window_to,
      state: r.state,
      bytes: r.bytes,
      total: r.total,
      reason: r.reason,
      requestedBy: r.requested_by,
      requestedAt: r.requested_at,
      sentAt: r.sent_at,
      sends: r.sends,
      acceptedAt: r.accepted_at,
      finishedAt: r.finished_at,
      consent,
      recording:
        media && r.sha256 && r.stored_at !== null && r.total !== null
          ? { ...media, sha256: r.sha256, bytes: r.total, storedAt: r.stored_at, thumb: r.thumb === 1 }
          : null,
    }
  }
}
