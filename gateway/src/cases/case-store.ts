import type {
  CaseArea,
  CaseView,
  ClipMedia,
  ConsentBasis,
  ConsentRecord,
  PullState,
  PullView,
} from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'
import { type Db, migrate, writeTransaction } from '../db/sqlite.js'
import { CUSTODY_SCHEMA } from './custody.js'

const SCHEMA = [
  `CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    window_from INTEGER NOT NULL,
    window_to INTEGER NOT NULL,
    area TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    closed_at INTEGER,
    closed_by TEXT
  );
  CREATE TABLE case_devices (
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    distance_m REAL,
    PRIMARY KEY (case_id, device_id)
  );
  CREATE INDEX case_devices_device ON case_devices (device_id);
  CREATE TABLE case_holds (
    case_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    hold_id INTEGER NOT NULL,
    PRIMARY KEY (case_id, event_id)
  );
  CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    pull_id TEXT,
    basis TEXT NOT NULL,
    granted INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    legal_order TEXT,
    note TEXT
  );
  CREATE INDEX consents_case_device ON consents (case_id, device_id, id);
  CREATE TABLE pulls (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    window_from INTEGER NOT NULL,
    window_to INTEGER NOT NULL,
    state TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    reason TEXT,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    sent_at INTEGER,
    sends INTEGER NOT NULL DEFAULT 0,
    accepted_at INTEGER,
    finished_at INTEGER,
    consent_id INTEGER,
    legal_order TEXT,
    sha256 TEXT,
    media TEXT,
    stored_at INTEGER,
    thumb INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX pulls_case ON pulls (case_id, device_id);
  CREATE INDEX pulls_state ON pulls (state, district);
  CREATE INDEX pulls_device ON pulls (device_id, state);
  ${CUSTODY_SCHEMA}`,
]

interface CaseRow {
  id: string
  number: string
  reason: string
  window_from: number
  window_to: number
  area: string
  state: 'open' | 'closed'
  created_by: string
  created_at: number
  closed_at: number | null
  closed_by: string | null
}

export interface CaseDeviceRow {
  case_id: string
  device_id: string
  district: number
  distance_m: number | null
}

interface ConsentRow {
  id: number
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

export interface PullRow {
  id: string
  case_id: string
  device_id: string
  district: number
  window_from: number
  window_to: number
  state: PullState
  bytes: number
  total: number | null
  reason: string | null
  requested_by: string
  requested_at: number
  sent_at: number | null
  sends: number
  accepted_at: number | null
  finished_at: number | null
  consent_id: number | null
  legal_order: string | null
  /** Set before the recording is renamed into place (write-ahead); `stored_at` once it is. */
  sha256: string | null
  media: string | null
  stored_at: number | null
  thumb: number
}

/** The fields of a stored recording, as `media` holds them. */
export type RecordingMedia = Omit<ClipMedia, 'sha256' | 'bytes' | 'storedAt' | 'thumb'>

function toCase(r: CaseRow): CaseView {
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

function toConsent(r: ConsentRow): ConsentRecord {
  return {
    id: r.id,
    basis: r.basis,
    granted: r.granted === 1,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    legalOrder: r.legal_order,
    note: r.note,
  }
}

/** Pull states in which a unit has the command and may be uploading: they use the district's budget. */
export const ACTIVE_SQL = "((state = 'pending' AND sent_at IS NOT NULL) OR state = 'uploading')"
/** States after which nothing more happens to a pull. */
export const FINAL_STATES: ReadonlySet<PullState> = new Set(['done', 'refused', 'failed'])

/** The cases feature's tables: cases, their units and holds, consent records, pulls, custody. */
export class CaseStore {
  readonly #db: Db
  readonly #stmts = new Map<string, Statement>()

  constructor(db: Db) {
    this.#db = db
  }

  load(): void {
    migrate(this.#db, 'cases', SCHEMA)
  }

  /** Each statement is prepared once: some of these queries run on every connect and disconnect of a unit. */
  #prep(sql: string): Statement {
    let st = this.#stmts.get(sql)
    if (!st) {
      st = this.#db.prepare(sql)
      this.#stmts.set(sql, st)
    }
    return st
  }

  transaction<T>(fn: () => T): T {
    return writeTransaction(this.#db, fn)
  }

  // ---- cases --------------------------------------------------------------------------------

  insertCase(c: CaseView, devices: ReadonlyArray<Omit<CaseDeviceRow, 'case_id'>>): void {
    this.#prep(
      `INSERT INTO cases (id, number, reason, window_from, window_to, area, state, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
    ).run(c.id, c.number, c.reason, c.from, c.to, JSON.stringify(c.area), c.createdBy, c.createdAt)
    const add = this.#prep(
      'INSERT INTO case_devices (case_id, device_id, district, distance_m) VALUES (?, ?, ?, ?)',
    )
    for (const d of devices) add.run(c.id, d.device_id, d.district, d.distance_m)
  }

  numberTaken(number: string): boolean {
    return this.#prep('SELECT 1 FROM cases WHERE number = ?').get(number) !== undefined
  }

  getCase(id: string): CaseView | undefined {
    const r = this.#prep('SELECT * FROM cases WHERE id = ?').get(id) as CaseRow | undefined
    return r ? toCase(r) : undefined
  }

  listCases(state: 'open' | 'closed' | undefined): CaseView[] {
    const rows = (
      state
        ? this.#prep('SELECT * FROM cases WHERE state = ? ORDER BY created_at DESC').all(state)
        : this.#prep('SELECT * FROM cases ORDER BY created_at DESC').all()
    ) as CaseRow[]
    return rows.map(toCase)
  }

  closeCase(id: string, by: string, at: number): void {
    this.#prep(
      "UPDATE cases SET state = 'closed', closed_at = ?, closed_by = ? WHERE id = ? AND state = 'open'",
    ).run(at, by, id)
  }

  caseDevices(caseId: string): CaseDeviceRow[] {
    return this.#prep('SELECT * FROM case_devices WHERE case_id = ? ORDER BY distance_m, device_id').all(
      caseId,
    ) as CaseDeviceRow[]
  }

  caseDevice(caseId: string, deviceId: string): CaseDeviceRow | undefined {
    return this.#prep('SELECT * FROM case_devices WHERE case_id = ? AND device_id = ?').get(
      caseId,
      deviceId,
    ) as CaseDeviceRow | undefined
  }

  /** Open cases that include the unit (for holding its events as they arrive). */
  openCasesOf(deviceId: string): CaseView[] {
    const rows = this.#prep(
      `SELECT c.* FROM cases c JOIN case_devices d ON d.case_id = c.id
         WHERE d.device_id = ? AND c.state = 'open'`,
    ).all(deviceId) as CaseRow[]
    return rows.map(toCase)
  }

  /** Every unit that is in some open case. */
  devicesInOpenCases(): string[] {
    const rows = this.#prep(
      `SELECT DISTINCT d.device_id AS id FROM case_devices d JOIN cases c ON c.id = d.case_id
         WHERE c.state = 'open'`,
    ).all() as Array<{ id: string }>
    return rows.map((r) => r.id)
  }

  // ---- holds --------------------------------------------------------------------------------

  hasCaseHold(caseId: string, eventId: string): boolean {
    return (
      this.#prep('SELECT 1 FROM case_holds WHERE case_id = ? AND event_id = ?').get(caseId, eventId) !==
      undefined
    )
  }

  addCaseHold(caseId: string, eventId: string, holdId: number): void {
    this.#prep('INSERT OR IGNORE INTO case_holds (case_id, event_id, hold_id) VALUES (?, ?, ?)').run(
      caseId,
      eventId,
      holdId,
    )
  }

  caseHolds(caseId: string): Array<{ eventId: string; holdId: number }> {
    return this.#prep(
      'SELECT event_id AS eventId, hold_id AS holdId FROM case_holds WHERE case_id = ? ORDER BY hold_id',
    ).all(caseId) as Array<{ eventId: string; holdId: number }>
  }

  // ---- consent ------------------------------------------------------------------------------

  insertConsent(c: {
    caseId: string
    deviceId: string
    pullId: string | null
    basis: ConsentBasis
    granted: boolean
    decidedBy: string
    decidedAt: number
    legalOrder?: string | null
    note?: string | null
  }): ConsentRecord {
    const r = this.#prep(
      `INSERT INTO consents (case_id, device_id, pull_id, basis, granted, decided_by, decided_at, legal_order, note)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ).get(
      c.caseId,
      c.deviceId,
      c.pullId,
      c.basis,
      c.granted ? 1 : 0,
      c.decidedBy,
      c.decidedAt,
      c.legalOrder ?? null,
      c.note ?? null,
    ) as ConsentRow
    return toConsent(r)
  }

  consent(id: number): ConsentRecord | undefined {
    const r = this.#prep('SELECT * FROM consents WHERE id = ?').get(id) as ConsentRow | undefined
    return r ? toConsent(r) : undefined
  }

  /** The decision in force for a unit in a case: the latest one recorded. */
  currentConsent(caseId: string, deviceId: string): ConsentRecord | null {
    const r = this.#prep(
      'SELECT * FROM consents WHERE case_id = ? AND device_id = ? ORDER BY id DESC LIMIT 1',
    ).get(caseId, deviceId) as ConsentRow | undefined
    return r ? toConsent(r) : null
  }

  // ---- pulls --------------------------------------------------------------------------------

  insertPull(
    p: Pick<
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
    >,
  ): void {
    this.#prep(
      `INSERT INTO pulls (id, case_id, device_id, district, window_from, window_to, state, reason, requested_by,
           requested_at, consent_id, legal_order)
         VALUES (@id, @case_id, @device_id, @district, @window_from, @window_to, @state, @reason, @requested_by,
           @requested_at, @consent_id, @legal_order)`,
    ).run(p)
  }

  pull(id: string): PullRow | undefined {
    return this.#prep('SELECT * FROM pulls WHERE id = ?').get(id) as PullRow | undefined
  }

  pullsOfCase(caseId: string): PullRow[] {
    return this.#prep('SELECT * FROM pulls WHERE case_id = ? ORDER BY requested_at, id').all(
      caseId,
    ) as PullRow[]
  }

  /** The newest pull of a unit in a case. */
  latestPull(caseId: string, deviceId: string): PullRow | undefined {
    return this.#prep(
      'SELECT * FROM pulls WHERE case_id = ? AND device_id = ? ORDER BY requested_at DESC, rowid DESC LIMIT 1',
    ).get(caseId, deviceId) as PullRow | undefined
  }

  pullsOfDevice(deviceId: string, states: readonly PullState[]): PullRow[] {
    return this.#prep(
      `SELECT * FROM pulls WHERE device_id = ? AND state IN (${states.map(() => '?').join(',')})
         ORDER BY requested_at`,
    ).all(deviceId, ...states) as PullRow[]
  }

  /** Pulls waiting to be sent, oldest first. */
  unsent(): PullRow[] {
    return this.#prep(
      "SELECT * FROM pulls WHERE state = 'pending' AND sent_at IS NULL ORDER BY requested_at, rowid",
    ).all() as PullRow[]
  }

  /** Pulls a unit has (sent, accepted or uploading), across districts. */
  pullsInFlight(): PullRow[] {
    return this.#prep(`SELECT * FROM pulls WHERE ${ACTIVE_SQL}`).all() as PullRow[]
  }

  activeInDistrict(district: number): number {
    const r = this.#prep(`SELECT count(*) AS n FROM pulls WHERE district = ? AND ${ACTIVE_SQL}`).get(
      district,
    ) as { n: number }
    return r.n
  }

  /** Pulls caught by a crash between the write-ahead and `done` (see PullUploads.recover). */
  committing(): PullRow[] {
    return this.#prep("SELECT * FROM pulls WHERE sha256 IS NOT NULL AND state != 'done'").all() as PullRow[]
  }

  pullsWithoutThumb(): PullRow[] {
    return this.#prep("SELECT * FROM pulls WHERE state = 'done' AND thumb = 0").all() as PullRow[]
  }

  updatePull(id: string, patch: Partial<Omit<PullRow, 'id'>>): void {
    const keys = Object.keys(patch)
    if (keys.length === 0) return
    this.#prep(`UPDATE pulls SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({
      ...patch,
      id,
    })
  }

  /** Pulls of units registered to an owner contact (the owner's consent requests). */
  pullsForOwner(deviceIds: readonly string[]): PullRow[] {
    if (deviceIds.length === 0) return []
    return this.#prep(
      `SELECT * FROM pulls WHERE device_id IN (${deviceIds.map(() => '?').join(',')})
           AND (state = 'awaiting-consent' OR consent_id IN (SELECT id FROM consents WHERE basis IN
             ('owner-approved', 'owner-declined', 'legal-order')))
         ORDER BY requested_at DESC`,
    ).all(...deviceIds) as PullRow[]
  }

  pullView(r: PullRow): PullView {
    const consent = r.consent_id === null ? null : (this.consent(r.consent_id) ?? null)
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
