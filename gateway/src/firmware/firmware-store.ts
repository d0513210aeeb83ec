import type {
  CampaignState,
  CampaignUnit,
  CampaignView,
  FirmwareImage,
  UnitUpdateState,
} from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'
import { type Db, migrate, statementCache, writeTransaction } from '../db/index.js'
import { FIRMWARE_SCHEMA } from './firmware-migrations.js'

export interface ImageRow {
  id: string
  model: string
  version: string
  sha256: string
  size: number
  signature: string
  key_fingerprint: string
  uploaded_by: string
  uploaded_at: number
}

export interface CampaignRow {
  id: string
  name: string
  image_id: string
  from_min: string
  from_max: string
  /** JSON array of districts. */
  districts: string
  canary_pct: number
  /** JSON array of cumulative percentages. */
  waves: string
  wave: number
  pause_failure_pct: number
  pause_min_finished: number
  district_concurrency: number
  state: CampaignState
  reason: string | null
  /** Finished and failed units when the campaign was last resumed: the pause rule counts from there. */
  baseline_finished: number
  baseline_failed: number
  created_by: string
  created_at: number
  started_at: number | null
  finished_at: number | null
}

export interface UnitRow {
  campaign_id: string
  device_id: string
  district: number
  wave: number
  ord: number
  cmd_id: string
  state: UnitUpdateState
  from_version: string
  bytes: number
  reason: string | null
  sends: number
  offered_at: number | null
  finished_at: number | null
}

/** States after which nothing more happens to a unit's update. */
export const FINAL_UNIT: ReadonlySet<UnitUpdateState> = new Set(['done', 'failed', 'rolled-back', 'skipped'])
/** States in which a unit has the command and is busy with it (it may download the image). */
export const HOLDING: readonly UnitUpdateState[] = ['offered', 'downloading', 'verifying', 'installing']
/** States that use the district's download budget: the unit has the offer and may be on the uplink. */
const DOWNLOADING_SQL = "state IN ('offered', 'downloading')"
const FAILED: readonly UnitUpdateState[] = ['failed', 'rolled-back']

/** The feature's three tables on one connection; every statement prepared once. */
export class FirmwareStore {
  readonly #db: Db
  readonly #prep: (sql: string) => Statement
  /** Told after each change of a unit's row (live progress). */
  onUnit: ((u: UnitRow) => void) | null = null

  constructor(db: Db) {
    this.#db = db
    this.#prep = statementCache(db)
  }

  load(): void {
    migrate(this.#db, 'firmware', FIRMWARE_SCHEMA)
  }

  transaction<T>(fn: () => T): T {
    return writeTransaction(this.#db, fn)
  }

  insertImage(r: ImageRow): void {
    this.#prep(
      `INSERT INTO firmware_images (id, model, version, sha256, size, signature, key_fingerprint, uploaded_by,
         uploaded_at) VALUES (@id, @model, @version, @sha256, @size, @signature, @key_fingerprint, @uploaded_by,
         @uploaded_at)`,
    ).run(r)
  }

  image(id: string): ImageRow | undefined {
    return this.#prep('SELECT * FROM firmware_images WHERE id = ?').get(id) as ImageRow | undefined
  }

  imageOf(model: string, version: string): ImageRow | undefined {
    return this.#prep('SELECT * FROM firmware_images WHERE model = ? AND version = ?').get(model, version) as
      | ImageRow
      | undefined
  }

  images(): ImageRow[] {
    return this.#prep('SELECT * FROM firmware_images ORDER BY uploaded_at DESC, id').all() as ImageRow[]
  }

  insertCampaign(r: Omit<CampaignRow, 'wave' | 'baseline_finished' | 'baseline_failed'>): void {
    this.#prep(
      `INSERT INTO firmware_campaigns (id, name, image_id, from_min, from_max, districts, canary_pct, waves,
         pause_failure_pct, pause_min_finished, district_concurrency, state, reason, created_by, created_at,
         started_at, finished_at)
       VALUES (@id, @name, @image_id, @from_min, @from_max, @districts, @canary_pct, @waves, @pause_failure_pct,
         @pause_min_finished, @district_concurrency, @state, @reason, @created_by, @created_at, @started_at,
         @finished_at)`,
    ).run(r)
  }

  campaign(id: string): CampaignRow | undefined {
    return this.#prep('SELECT * FROM firmware_campaigns WHERE id = ?').get(id) as CampaignRow | undefined
  }

  campaigns(): CampaignRow[] {
    return this.#prep('SELECT * FROM firmware_campaigns ORDER BY created_at DESC, id').all() as CampaignRow[]
  }

  running(): CampaignRow[] {
    return this.#prep(
      "SELECT * FROM firmware_campaigns WHERE state = 'running' ORDER BY created_at, id",
    ).all() as CampaignRow[]
  }

  updateCampaign(id: string, patch: Partial<Omit<CampaignRow, 'id'>>): void {
    const keys = Object.keys(patch)
    if (keys.length === 0) return
    this.#prep(
      `UPDATE firmware_campaigns SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`,
    ).run({ ...patch, id })
  }

  insertUnit(r: Omit<UnitRow, 'bytes' | 'reason' | 'sends' | 'offered_at' | 'finished_at'>): void {
    this.#prep(
      `INSERT INTO firmware_units (campaign_id, device_id, district, wave, ord, cmd_id, state, from_version)
       VALUES (@campaign_id, @device_id, @district, @wave, @ord, @cmd_id, @state, @from_version)`,
    ).run(r)
  }

  unitByCmd(cmdId: string): UnitRow | undefined {
    return this.#prep('SELECT * FROM firmware_units WHERE cmd_id = ?').get(cmdId) as UnitRow | undefined
  }

  units(campaignId: string, state?: UnitUpdateState): UnitRow[] {
    if (state)
      return this.#prep('SELECT * FROM firmware_units WHERE campaign_id = ? AND state = ? ORDER BY ord').all(
        campaignId,
        state,
      ) as UnitRow[]
    return this.#prep('SELECT * FROM firmware_units WHERE campaign_id = ? ORDER BY ord').all(
      campaignId,
    ) as UnitRow[]
  }

  /** Units of a campaign's open waves still waiting for their offer, in rollout order. */
  waiting(campaignId: string, wave: number): UnitRow[] {
    return this.#prep(
      "SELECT * FROM firmware_units WHERE campaign_id = ? AND wave <= ? AND state = 'pending' ORDER BY ord",
    ).all(campaignId, wave) as UnitRow[]
  }

  /** A unit's updates in any of `states`, across campaigns. */
  ofDevice(deviceId: string, states: readonly UnitUpdateState[]): UnitRow[] {
    return this.#prep(
      `SELECT * FROM firmware_units WHERE device_id = ? AND state IN (${states.map(() => '?').join(',')})`,
    ).all(deviceId, ...states) as UnitRow[]
  }

  /** Whether `deviceId` holds an offer of `imageId` now (only then may it download the image). */
  holdsOffer(deviceId: string, imageId: string): boolean {
    return (
      this.#prep(
        `SELECT 1 FROM firmware_units u JOIN firmware_campaigns c ON c.id = u.campaign_id
         WHERE u.device_id = ? AND c.image_id = ? AND u.state IN ('offered', 'downloading', 'verifying')
         LIMIT 1`,
      ).get(deviceId, imageId) !== undefined
    )
  }

  /** Units that take part in a campaign not yet over: they may not join another. */
  busyDevices(): Set<string> {
    const rows = this.#prep(
      `SELECT u.device_id FROM firmware_units u JOIN firmware_campaigns c ON c.id = u.campaign_id
       WHERE c.state IN ('draft', 'running', 'paused') AND u.state NOT IN ('done', 'failed', 'rolled-back', 'skipped')`,
    ).all() as Array<{ device_id: string }>
    return new Set(rows.map((r) => r.device_id))
  }

  downloadingInDistrict(campaignId: string, district: number): number {
    const r = this.#prep(
      `SELECT count(*) AS n FROM firmware_units WHERE campaign_id = ? AND district = ? AND ${DOWNLOADING_SQL}`,
    ).get(campaignId, district) as { n: number }
    return r.n
  }

  /** Units with the command when the gateway last stopped, across campaigns. */
  inFlight(): UnitRow[] {
    return this.#prep(`SELECT * FROM firmware_units WHERE ${DOWNLOADING_SQL}`).all() as UnitRow[]
  }

  counts(campaignId: string): Record<UnitUpdateState, number> {
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
    const rows = this.#prep(
      'SELECT state, count(*) AS n FROM firmware_units WHERE campaign_id = ? GROUP BY state',
    ).all(campaignId) as Array<{ state: UnitUpdateState; n: number }>
    for (const r of rows) out[r.state] = r.n
    return out
  }

  /** Units finished (done or failed) and failed (failed or rolled back). */
  outcomes(campaignId: string): { finished: number; failed: number } {
    const c = this.counts(campaignId)
    const failed = FAILED.reduce((n, s) => n + c[s], 0)
    return { finished: c.done + failed, failed }
  }

  updateUnit(u: UnitRow, patch: Partial<Omit<UnitRow, 'campaign_id' | 'device_id'>>): UnitRow {
    const keys = Object.keys(patch)
    if (keys.length === 0) return u
    this.#prep(
      `UPDATE firmware_units SET ${keys.map((k) => `${k} = @${k}`).join(', ')}
       WHERE campaign_id = @campaign_id AND device_id = @device_id`,
    ).run({ ...patch, campaign_id: u.campaign_id, device_id: u.device_id })
    const next = { ...u, ...patch }
    this.onUnit?.(next)
    return next
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

  campaignView(c: CampaignRow): CampaignView {
    const image = this.image(c.image_id) as ImageRow
    const counts = this.counts(c.id)
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
