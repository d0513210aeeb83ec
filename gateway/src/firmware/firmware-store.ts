import type { CampaignUnit, CampaignView, FirmwareImage, UnitUpdateState } from '@doorstep/proto'
import { type ExpressionBuilder, sql } from 'kysely'
import { z } from 'zod'
import { migrateShared, type SharedDb } from '../db/index.js'
import type { Logger } from '../log.js'
import type { CampaignRow, FirmwareQueries, FirmwareTables, ImageRow, UnitRow } from './firmware-db.js'
import { FIRMWARE_SCHEMA, FIRMWARE_SCHEMA_POSTGRES } from './firmware-migrations.js'

export type { CampaignRow, ImageRow, UnitRow } from './firmware-db.js'

/** States after which nothing more happens to a unit's update. */
export const FINAL_UNIT: ReadonlySet<UnitUpdateState> = new Set(['done', 'failed', 'rolled-back', 'skipped'])
/** States in which a unit has the command and is busy with it (it may download the image). */
export const HOLDING: readonly UnitUpdateState[] = ['offered', 'downloading', 'verifying', 'installing']
/** States that use the district's download budget: the unit has the offer and may be on the uplink. */
const DOWNLOADING: readonly UnitUpdateState[] = ['offered', 'downloading']
const FAILED: readonly UnitUpdateState[] = ['failed', 'rolled-back']

type NewCampaign = Omit<CampaignRow, 'wave' | 'baseline_finished' | 'baseline_failed'>
type NewUnit = Omit<UnitRow, 'bytes' | 'reason' | 'sends' | 'offered_at' | 'finished_at'>

/** What the tables tell of a change: a campaign's row, or a unit's (by its command id). */
export type FirmwareChange = { kind: 'campaign'; id: string } | { kind: 'unit'; cmdId: string }

/** The same, as a notice carries it, with the gateway that made it. */
const FirmwareNotice = z.intersection(
  z.union([
    z.object({ kind: z.literal('campaign'), id: z.string().min(1).max(64) }),
    z.object({ kind: z.literal('unit'), cmdId: z.string().min(1).max(64) }),
  ]),
  z.object({ node: z.string().max(200) }),
)

function downloading(eb: ExpressionBuilder<FirmwareTables, 'firmware_units'>) {
  return eb('state', 'in', DOWNLOADING)
}

/** The firmware tables over one query builder: the shared database's, or a transaction's. */
export class BoundFirmwareTables {
  readonly db: FirmwareQueries
  readonly #changed: (c: FirmwareChange, unit?: UnitRow) => void

  constructor(db: FirmwareQueries, changed: (c: FirmwareChange, unit?: UnitRow) => void) {
    this.db = db
    this.#changed = changed
  }

  async insertImage(r: ImageRow): Promise<void> {
    await this.db.insertInto('firmware_images').values(r).execute()
  }

  image(id: string): Promise<ImageRow | undefined> {
    return this.db.selectFrom('firmware_images').selectAll().where('id', '=', id).executeTakeFirst()
  }

  imageOf(model: string, version: string): Promise<ImageRow | undefined> {
    return this.db
      .selectFrom('firmware_images')
      .selectAll()
      .where('model', '=', model)
      .where('version', '=', version)
      .executeTakeFirst()
  }

  images(): Promise<ImageRow[]> {
    return this.db
      .selectFrom('firmware_images')
      .selectAll()
      .orderBy('uploaded_at', 'desc')
      .orderBy('id')
      .execute()
  }

  async insertCampaign(r: NewCampaign): Promise<void> {
    await this.db.insertInto('firmware_campaigns').values(r).execute()
    this.#changed({ kind: 'campaign', id: r.id })
  }

  campaign(id: string): Promise<CampaignRow | undefined> {
    return this.db.selectFrom('firmware_campaigns').selectAll().where('id', '=', id).executeTakeFirst()
  }

  campaigns(): Promise<CampaignRow[]> {
    return this.db
      .selectFrom('firmware_campaigns')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute()
  }

  running(): Promise<CampaignRow[]> {
    return this.db
      .selectFrom('firmware_campaigns')
      .selectAll()
      .where('state', '=', 'running')
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  /**
   * Changes a campaign, only while it is in one of `from` when given: true when the row changed. Two
   * gateways deciding the same step (a wave, the end, a pause) at once: one of them makes it.
   */
  async updateCampaign(
    id: string,
    patch: Partial<Omit<CampaignRow, 'id'>>,
    when: { from?: readonly CampaignRow['state'][]; wave?: number } = {},
  ): Promise<boolean> {
    if (Object.keys(patch).length === 0) return false
    let q = this.db.updateTable('firmware_campaigns').set(patch).where('id', '=', id)
    if (when.from) q = q.where('state', 'in', when.from)
    if (when.wave !== undefined) q = q.where('wave', '=', when.wave)
    const r = await q.executeTakeFirst()
    if (r.numUpdatedRows !== 1n) return false
    this.#changed({ kind: 'campaign', id })
    return true
  }

  async insertUnits(rows: readonly NewUnit[]): Promise<void> {
    // In slices: one statement's parameters are limited (SQLite 32,766; PostgreSQL 65,535).
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('firmware_units')
        .values(rows.slice(i, i + 500))
        .execute()
    }
  }

  unitByCmd(cmdId: string): Promise<UnitRow | undefined> {
    return this.db.selectFrom('firmware_units').selectAll().where('cmd_id', '=', cmdId).executeTakeFirst()
  }

  units(campaignId: string, state?: UnitUpdateState): Promise<UnitRow[]> {
    let q = this.db.selectFrom('firmware_units').selectAll().where('campaign_id', '=', campaignId)
    if (state) q = q.where('state', '=', state)
    return q.orderBy('ord').execute()
  }

  /** Units of a campaign's open waves still waiting for their offer, in rollout order. */
  waiting(campaignId: string, wave: number): Promise<UnitRow[]> {
    return this.db
      .selectFrom('firmware_units')
      .selectAll()
      .where('campaign_id', '=', campaignId)
      .where('wave', '<=', wave)
      .where('state', '=', 'pending')
      .orderBy('ord')
      .execute()
  }

  /** A unit's updates in any of `states`, across campaigns. */
  ofDevice(deviceId: string, states: readonly UnitUpdateState[]): Promise<UnitRow[]> {
    return this.db
      .selectFrom('firmware_units')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('state', 'in', states)
      .execute()
  }

  /** Whether `deviceId` holds an offer of `imageId` now (only then may it download the image). */
  async holdsOffer(deviceId: string, imageId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('firmware_units as u')
      .innerJoin('firmware_campaigns as c', 'c.id', 'u.campaign_id')
      .select(sql<number>`1`.as('one'))
      .where('u.device_id', '=', deviceId)
      .where('c.image_id', '=', imageId)
      .where('u.state', 'in', ['offered', 'downloading', 'verifying'])
      .limit(1)
      .executeTakeFirst()
    return r !== undefined
  }

  /** Units that take part in a campaign not yet over: they may not join another. */
  async busyDevices(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('firmware_units as u')
      .innerJoin('firmware_campaigns as c', 'c.id', 'u.campaign_id')
      .select('u.device_id')
      .where('c.state', 'in', ['draft', 'running', 'paused'])
      .where('u.state', 'not in', [...FINAL_UNIT])
      .execute()
    return new Set(rows.map((r) => r.device_id))
  }

  async downloadingInDistrict(campaignId: string, district: number): Promise<number> {
    const r = await this.db
      .selectFrom('firmware_units')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('campaign_id', '=', campaignId)
      .where('district', '=', district)
      .where(downloading)
      .executeTakeFirstOrThrow()
    return Number(r.n)
  }

  /**
   * Marks a waiting unit `offered`, if its campaign is still running with the unit's wave open and the
   * district has fewer than the campaign's budget downloading: the changed row when this call made the
   * offer, else undefined. Call it inside a write transaction: the campaign's row is updated first (to
   * itself), so a second gateway offering in the same campaign waits for this transaction and then
   * counts this offer (on SQLite, writers are one at a time anyway).
   */
  async claimOffer(u: UnitRow, at: number): Promise<UnitRow | undefined> {
    await this.db
      .updateTable('firmware_campaigns')
      .set((eb) => ({ wave: eb.ref('wave') }))
      .where('id', '=', u.campaign_id)
      .execute()
    const c = await this.campaign(u.campaign_id)
    if (c?.state !== 'running' || u.wave > c.wave) return undefined
    if ((await this.downloadingInDistrict(c.id, u.district)) >= c.district_concurrency) return undefined
    const patch = { state: 'offered' as const, offered_at: u.offered_at ?? at, sends: u.sends + 1 }
    const r = await this.db
      .updateTable('firmware_units')
      .set(patch)
      .where('campaign_id', '=', u.campaign_id)
      .where('device_id', '=', u.device_id)
      .where('state', '=', 'pending')
      .where('sends', '=', u.sends)
      .executeTakeFirst()
    if (r.numUpdatedRows !== 1n) return undefined
    const next = { ...u, ...patch }
    this.#changed({ kind: 'unit', cmdId: u.cmd_id }, next)
    return next
  }

  /** Units with the command when the gateway last stopped, across campaigns. */
  inFlight(): Promise<UnitRow[]> {
    return this.db.selectFrom('firmware_units').selectAll().where(downloading).execute()
  }

  async counts(campaignId: string): Promise<Record<UnitUpdateState, number>> {
    const out: Record<UnitUpdateState, number> = {
      pending: 0,
      offered: 0,
      downloading: 0,
      verifying: 0,
      installing: 0,
      done: 0,
      failed: 0,
      'rolled-back': 0,
      skipped: 0,
    }
    const rows = await this.db
      .selectFrom('firmware_units')
      .select(['state', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('campaign_id', '=', campaignId)
      .groupBy('state')
      .execute()
    for (const r of rows) out[r.state] = Number(r.n)
    return out
  }

  /** Units finished (done or failed) and failed (failed or rolled back). */
  async outcomes(campaignId: string): Promise<{ finished: number; failed: number }> {
    const c = await this.counts(campaignId)
    const failed = FAILED.reduce((n, s) => n + c[s], 0)
    return { finished: c.done + failed, failed }
  }

  /**
   * Changes a unit's row, only while it is in `from` when given (a report that raced another gateway's
   * change then changes nothing): the row as changed, or undefined when it was not.
   */
  async updateUnit(
    u: UnitRow,
    patch: Partial<Omit<UnitRow, 'campaign_id' | 'device_id' | 'cmd_id'>>,
    from?: readonly UnitUpdateState[],
  ): Promise<UnitRow | undefined> {
    if (Object.keys(patch).length === 0) return u
    let q = this.db
      .updateTable('firmware_units')
      .set(patch)
      .where('campaign_id', '=', u.campaign_id)
      .where('device_id', '=', u.device_id)
    if (from) q = q.where('state', 'in', from)
    const r = await q.executeTakeFirst()
    if (r.numUpdatedRows !== 1n) return undefined
    const next = { ...u, ...patch } as UnitRow
    this.#changed({ kind: 'unit', cmdId: u.cmd_id }, next)
    return next
  }
}

/** The PostgreSQL channel on which gateways tell each other that a campaign or a unit's update changed. */
const FIRMWARE_CHANNEL = 'doorstep_firmware'

/**
 * The firmware feature's tables in the shared database (the gateway's SQLite file, or PostgreSQL):
 * images, campaigns and their units, with their migrations and write transactions.
 *
 * Change notices, once committed (a change in a transaction that rolls back is not told): `onUnit`
 * hears of each change to a unit's row this gateway made, as made. On PostgreSQL each change is also
 * announced by NOTIFY with this gateway's node id, and the other gateways reread the row and tell
 * their `onUnit` or `onCampaign` (`elsewhere`), so a dashboard on any gateway follows every unit, and
 * any gateway's rollout may offer what a change made possible. A gateway's own campaign changes are
 * told by the rollout that makes them. `onResync` is called when the connection that listens comes
 * back (notices sent meanwhile are lost).
 */
export class FirmwareStore extends BoundFirmwareTables {
  readonly #shared: SharedDb
  readonly #node: string
  readonly #log: Logger | null
  onUnit: ((u: UnitRow, elsewhere: boolean) => void) | null = null
  onCampaign: ((c: CampaignRow) => void) | null = null
  onResync: (() => void) | null = null

  constructor(shared: SharedDb, node: string, log?: Logger) {
    super(shared.tables<FirmwareTables>(), (c, unit) => this.#tell([{ change: c, unit }]))
    this.#shared = shared
    this.#node = node
    this.#log = log ?? null
  }

  /** Whether other gateways share these tables (and so hear of changes only by notice). */
  get shared(): boolean {
    return this.#shared.dialect === 'postgres'
  }

  async load(): Promise<void> {
    await migrateShared(this.#shared, 'firmware', {
      sqlite: FIRMWARE_SCHEMA,
      postgres: FIRMWARE_SCHEMA_POSTGRES,
    })
    await this.#shared.listen(
      FIRMWARE_CHANNEL,
      (payload) => void this.#notice(payload),
      () => this.onResync?.(),
    )
  }

  /** Runs `fn` in one write transaction over the tables (see `SharedDb.write`). */
  async transaction<R>(fn: (t: BoundFirmwareTables) => Promise<R>): Promise<R> {
    const changed: Array<{ change: FirmwareChange; unit?: UnitRow | undefined }> = []
    const out = await this.#shared.write<FirmwareTables, R>((trx) =>
      fn(new BoundFirmwareTables(trx, (change, unit) => changed.push({ change, unit }))),
    )
    this.#tell(changed)
    return out
  }

  #tell(changes: ReadonlyArray<{ change: FirmwareChange; unit?: UnitRow | undefined }>): void {
    for (const { change, unit } of changes) {
      if (unit) this.onUnit?.(unit, false)
      if (!this.shared) continue
      this.#shared
        .notify(FIRMWARE_CHANNEL, JSON.stringify({ ...change, node: this.#node }))
        .catch((err: Error) => {
          // The others see it at their next resync (or when they read the row); nothing is lost here.
          this.#log?.warn({ err: err.message }, 'other gateways not told of a firmware change')
        })
    }
  }

  async #notice(payload: string): Promise<void> {
    let notice: z.infer<typeof FirmwareNotice>
    try {
      notice = FirmwareNotice.parse(JSON.parse(payload))
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'a firmware notice that does not parse; ignored')
      return
    }
    // This gateway's own change was told as it was made.
    if (notice.node === this.#node) return
    try {
      if (notice.kind === 'campaign') {
        const c = await this.campaign(notice.id)
        if (c) this.onCampaign?.(c)
      } else {
        const u = await this.unitByCmd(notice.cmdId)
        if (u) this.onUnit?.(u, true)
      }
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'a firmware change not reread')
    }
  }

  imageView(r: ImageRow): FirmwareImage {
    return {
      id: r.id,
      model: r.model,
      version: r.version,
      sha256: r.sha256,
      size: r.size,
      signature: r.signature,
      keyFingerprint: r.key_fingerprint,
      uploadedBy: r.uploaded_by,
      uploadedAt: r.uploaded_at,
    }
  }

  async campaignView(c: CampaignRow): Promise<CampaignView> {
    const image = (await this.image(c.image_id)) as ImageRow
    const counts = await this.counts(c.id)
    return {
      id: c.id,
      name: c.name,
      state: c.state,
      reason: c.reason,
      image: this.imageView(image),
      fromVersions: { min: c.from_min, max: c.from_max },
      districts: JSON.parse(c.districts) as number[],
      canaryPct: c.canary_pct,
      waves: JSON.parse(c.waves) as number[],
      wave: c.wave,
      pauseFailurePct: c.pause_failure_pct,
      pauseMinFinished: c.pause_min_finished,
      districtConcurrency: c.district_concurrency,
      units: Object.values(counts).reduce((a, b) => a + b, 0),
      counts,
      createdBy: c.created_by,
      createdAt: c.created_at,
      startedAt: c.started_at,
      finishedAt: c.finished_at,
    }
  }

  unitView(u: UnitRow): CampaignUnit {
    return {
      deviceId: u.device_id,
      district: u.district,
      wave: u.wave,
      state: u.state,
      fromVersion: u.from_version,
      bytes: u.bytes,
      reason: u.reason,
      offeredAt: u.offered_at,
      finishedAt: u.finished_at,
    }
  }
}
