import type { ConsentBasis, PullState } from '@doorstep/proto'
import type { Generated, Kysely, Selectable } from 'kysely'

/** The tables of the cases feature as the query builder knows them (see case-migrations.ts). */
export interface CasesRow {
  id: string
  number: string
  reason: string
  window_from: number
  window_to: number
  /** The case's area, JSON. */
  area: string
  state: 'open' | 'closed'
  created_by: string
  created_at: number
  closed_at: number | null
  closed_by: string | null
  /** The custody log's last `seq`: the row every append updates first, so appends to one case queue. */
  custody_seq: Generated<number>
}

export interface CaseDeviceRow {
  case_id: string
  device_id: string
  district: number
  distance_m: number | null
}

export interface CaseHoldRow {
  case_id: string
  event_id: string
  hold_id: number
}

export interface ConsentRow {
  id: Generated<number>
  case_id: string
  device_id: string
  pull_id: string | null
  basis: ConsentBasis
  granted: number
  decided_by: string
  decided_at: number
  legal_order: string | null
  note: string | null
}

export interface PullsTable {
  id: string
  case_id: string
  device_id: string
  district: number
  window_from: number
  window_to: number
  state: PullState
  bytes: Generated<number>
  total: number | null
  reason: string | null
  requested_by: string
  requested_at: number
  sent_at: number | null
  sends: Generated<number>
  accepted_at: number | null
  finished_at: number | null
  consent_id: number | null
  legal_order: string | null
  /** Set before the recording is renamed into place (write-ahead); `stored_at` once it is. */
  sha256: string | null
  media: string | null
  stored_at: number | null
  thumb: Generated<number>
  /** Order of insertion: pulls asked in the same millisecond keep their order. */
  n: Generated<number>
  /** The PUT writing its recording now (uploads/writer-lease.ts), null when none. */
  writer: string | null
  /** When that PUT last took bytes, on its gateway's clock. */
  writer_seen: number | null
}

/** A pull as read from the table. */
export type PullRow = Selectable<PullsTable>

/** A district's row, updated first by each send into it (see PullTable.claimInBudget). */
export interface PullDistrictRow {
  district: number
  /** Pulls sent into the district, ever: what the lock's update changes. */
  sends: Generated<number>
}

export interface CustodyRow {
  case_id: string
  seq: number
  at: number
  actor: string
  action: string
  details: string
  prev_hash: string
  hash: string
}

export interface CaseTables {
  cases: CasesRow
  case_devices: CaseDeviceRow
  case_holds: CaseHoldRow
  consents: ConsentRow
  pulls: PullsTable
  pull_districts: PullDistrictRow
  custody_log: CustodyRow
}

/** The query builder over the cases tables: the shared database's, or one bound to a transaction. */
export type CaseQueries = Kysely<CaseTables>
