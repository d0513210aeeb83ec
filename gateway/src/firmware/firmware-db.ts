import type { CampaignState, UnitUpdateState } from '@doorstep/proto'
import type { Generated, Kysely, Selectable } from 'kysely'

/** The firmware feature's tables as the query builder knows them (see firmware-migrations.ts). */
export interface ImagesTable {
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

export interface CampaignsTable {
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
  wave: Generated<number>
  pause_failure_pct: number
  pause_min_finished: number
  district_concurrency: number
  state: CampaignState
  reason: string | null
  /** Finished and failed units when the campaign was last resumed: the pause rule counts from there. */
  baseline_finished: Generated<number>
  baseline_failed: Generated<number>
  created_by: string
  created_at: number
  started_at: number | null
  finished_at: number | null
}

export interface UnitsTable {
  campaign_id: string
  device_id: string
  district: number
  wave: number
  ord: number
  cmd_id: string
  state: UnitUpdateState
  from_version: string
  bytes: Generated<number>
  reason: string | null
  sends: Generated<number>
  offered_at: number | null
  finished_at: number | null
}

export interface FirmwareTables {
  firmware_images: ImagesTable
  firmware_campaigns: CampaignsTable
  firmware_units: UnitsTable
}

export type ImageRow = Selectable<ImagesTable>
export type CampaignRow = Selectable<CampaignsTable>
export type UnitRow = Selectable<UnitsTable>

/** The query builder over the firmware tables: the shared database's, or one bound to a transaction. */
export type FirmwareQueries = Kysely<FirmwareTables>
