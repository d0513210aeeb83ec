import type { ClipMedia, PullState, PullView } from '@doorstep/proto'
import type { Statement } from 'better-sqlite3'
import type { ConsentTable } from './consent-table.js'

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
type RecordingMedia = Omit<ClipMedia, 'sha256' | 'bytes' | 'storedAt' | 'thumb'>

/** Pull states in which a unit has the command and may be uploading: they use the district's budget. */
const ACTIVE_SQL = "((state = 'pending' AND sent_at IS NOT NULL) OR state = 'uploading')"
/** States after which nothing more happens to a pull. */
export const FINAL_STATES: ReadonlySet<PullState> = new Set(['done', 'refused', 'failed'])

/** The table `pulls`: each request for a unit's recording, its delivery, upload and storage. */
export class PullTable {
  readonly #prep: (sql: string) => Statement
  readonly #consents: ConsentTable
  /** Who is told a pull changed (live progress for the dashboard); see `#changed`. */
  onChange: ((row: PullRow) => void) | null = null
  readonly #pending = new Set<string>()

  constructor(prep: (sql: string) => Statement, consents: ConsentTable) {
    this.#prep = prep
    this.#consents = consents
  }

  insert(
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
    this.#changed(p.id)
  }

  /**
   * Tells `onChange` after the current synchronous work: better-sqlite3 transactions are synchronous,
   * so by then the change is committed or rolled back, and the row read then is what others see.
   * Several changes to one pull in the same tick are told once.
   */
  #changed(id: string): void {
    if (!this.onChange) return
    const first = this.#pending.size === 0
    this.#pending.add(id)
    if (!first) return
    queueMicrotask(() => {
      const ids = [...this.#pending]
      this.#pending.clear()
      for (const pid of ids) {
        const row = this.get(pid)
        if (row) this.onChange?.(row)
      }
    })
  }

  get(id: string): PullRow | undefined {
    return this.#prep('SELECT * FROM pulls WHERE id = ?').get(id) as PullRow | undefined
  }

  ofCase(caseId: string): PullRow[] {
    return this.#prep('SELECT * FROM pulls WHERE case_id = ? ORDER BY requested_at, id').all(
      caseId,
    ) as PullRow[]
  }

  /** The newest pull of a unit in a case. */
  latest(caseId: string, deviceId: string): PullRow | undefined {
    return this.#prep(
      'SELECT * FROM pulls WHERE case_id = ? AND device_id = ? ORDER BY requested_at DESC, rowid DESC LIMIT 1',
    ).get(caseId, deviceId) as PullRow | undefined
  }

  ofDevice(deviceId: string, states: readonly PullState[]): PullRow[] {
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
  inFlight(): PullRow[] {
    return this.#prep(`SELECT * FROM pulls WHERE ${ACTIVE_SQL}`).all() as PullRow[]
  }

  activeInDistrict(district: number): number {
    const r = this.#prep(`SELECT count(*) AS n FROM pulls WHERE district = ? AND ${ACTIVE_SQL}`).get(
      district,
    ) as { n: number }
    return r.n
  }

  /** Pulls caught by a crash between the write-ahead and `done` (see PullUploadTarget.recover). */
  committing(): PullRow[] {
    return this.#prep("SELECT * FROM pulls WHERE sha256 IS NOT NULL AND state != 'done'").all() as PullRow[]
  }

  withoutThumb(): PullRow[] {
    return this.#prep("SELECT * FROM pulls WHERE state = 'done' AND thumb = 0").all() as PullRow[]
  }

  update(id: string, patch: Partial<Omit<PullRow, 'id'>>): void {
    const keys = Object.keys(patch)
    if (keys.length === 0) return
    this.#prep(`UPDATE pulls SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({
      ...patch,
      id,
    })
    if ('state' in patch || 'bytes' in patch || 'total' in patch || 'reason' in patch) this.#changed(id)
  }

  /** Pulls of units registered to an owner contact (the owner's consent requests). */
  forOwner(deviceIds: readonly string[]): PullRow[] {
    if (deviceIds.length === 0) return []
    return this.#prep(
      `SELECT * FROM pulls WHERE device_id IN (${deviceIds.map(() => '?').join(',')})
           AND (state = 'awaiting-consent' OR consent_id IN (SELECT id FROM consents WHERE basis IN
             ('owner-approved', 'owner-declined', 'legal-order')))
         ORDER BY requested_at DESC`,
    ).all(...deviceIds) as PullRow[]
  }

  view(r: PullRow): PullView {
    const consent = r.consent_id === null ? null : (this.#consents.get(r.consent_id) ?? null)
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
