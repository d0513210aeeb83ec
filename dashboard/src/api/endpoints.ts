import type {
  AuditEntry,
  CaseDetail,
  CasePreview,
  CasePreviewQuery,
  CaseView,
  ChainReport,
  ConsentDecision,
  ConsentRecord,
  ConsentRequests,
  CustodyEntry,
  DeviceCreateInput,
  DeviceCredentials,
  DeviceListResponse,
  DeviceSecretRotated,
  DeviceView,
  EventDetail,
  EventList,
  EventsQuery,
  EvidenceKeys,
  HealthResponse,
  HeartbeatsResponse,
  LegalOrder,
  LiveState,
  LogsReport,
  MapResponse,
  Me,
  PullView,
  Role,
  TokenIssued,
  TokenView,
} from '@doorstep/proto'
import { errorFromBody, networkError } from './errors.js'
import { FirmwareApi } from './firmware.js'
import type { HttpClient } from './http.js'

/** A case as the form sends it: times in ms since the epoch. */
export type CaseOpen = { number: string; reason: string } & CasePreviewQuery

/** `GET /api/v1/cases/:id/custody` (CustodyReport in proto). */
export interface CustodyAnswer {
  entries: CustodyEntry[]
  verify: ChainReport
}

/** The evidence ZIP as downloaded, with the file name the gateway gave it. */
export interface ExportFile {
  blob: Blob
  name: string
}

/** What the dashboard asks GET /api/v1/events for (EventsQuery's values; the URL carries them as text). */
export type EventQuery = Partial<
  Pick<EventsQuery, 'from' | 'to' | 'district' | 'device' | 'kind' | 'hasClip' | 'limit' | 'cursor'>
>

/** Where a pull stands after the owner's decision (ConsentDecided in proto). */
export interface ConsentDecidedAnswer {
  pullId: string
  state: PullView['state']
  consent: ConsentRecord | null
}

/** A page of GET /api/v1/audit (AuditPage in proto): pass `next` back as `after`. */
export interface AuditPageAnswer {
  entries: AuditEntry[]
  next: number | null
}

/** What GET /api/v1/audit filters on (AuditQuery in proto). */
export interface AuditFilter {
  after?: number
  limit?: number
  action?: string
  subject?: string
  /** Exactly as recorded, e.g. `Ann (admin #1)`. */
  actor?: string
  /** ms since the epoch, both inclusive. */
  from?: number
  to?: number
}

/** The largest page GET /api/v1/devices allows (DeviceListQuery in proto). */
export const DEVICE_PAGE_MAX = 5000

/** Every gateway route the dashboard calls, in one place. */
export class Api {
  readonly http: HttpClient
  readonly #token: () => string | null
  /** Firmware images and update campaigns. */
  readonly firmware: FirmwareApi

  constructor(http: HttpClient, token: () => string | null) {
    this.http = http
    this.#token = token
    this.firmware = new FirmwareApi(http, token)
  }

  /** Checks a token before it is stored, and says whose it is: every role may ask. */
  checkToken(token: string, signal?: AbortSignal): Promise<Me> {
    return this.http.get('api/v1/me', undefined, signal, token)
  }

  me(signal?: AbortSignal): Promise<Me> {
    return this.http.get('api/v1/me', undefined, signal)
  }

  /** Public: the evidence signing keys, the current one first. */
  evidenceKeys(signal?: AbortSignal): Promise<EvidenceKeys> {
    return this.http.get('api/v1/evidence/keys', undefined, signal)
  }

  health(signal?: AbortSignal): Promise<HealthResponse> {
    return this.http.get('api/v1/health', undefined, signal)
  }

  /** Every unit's position and live state, and the tile source, for the map. */
  map(signal?: AbortSignal): Promise<MapResponse> {
    return this.http.get('api/v1/map', undefined, signal)
  }

  devices(
    q: { district?: number; state?: LiveState; q?: string; limit?: number; offset?: number },
    signal?: AbortSignal,
  ): Promise<DeviceListResponse> {
    return this.http.get('api/v1/devices', { limit: DEVICE_PAGE_MAX, ...q }, signal)
  }

  device(id: string, signal?: AbortSignal): Promise<DeviceView> {
    return this.http.get(`api/v1/devices/${encodeURIComponent(id)}`, undefined, signal)
  }

  heartbeats(id: string, from: number, to: number, signal?: AbortSignal): Promise<HeartbeatsResponse> {
    return this.http.get(`api/v1/devices/${encodeURIComponent(id)}/heartbeats`, { from, to }, signal)
  }

  events(q: EventQuery, signal?: AbortSignal): Promise<EventList> {
    return this.http.get('api/v1/events', { ...q }, signal)
  }

  event(id: string, signal?: AbortSignal): Promise<EventDetail> {
    return this.http.get(`api/v1/events/${encodeURIComponent(id)}`, undefined, signal)
  }

  /** The owner's own units (an owner token only). */
  myDevices(signal?: AbortSignal): Promise<DeviceListResponse> {
    return this.http.get('api/v1/my/devices', undefined, signal)
  }

  /** Events of one of the owner's units, newest first; their clips play through myClipUrl(). */
  myEvents(id: string, q: { limit?: number; cursor?: string }, signal?: AbortSignal): Promise<EventList> {
    return this.http.get(`api/v1/my/devices/${encodeURIComponent(id)}/events`, { ...q }, signal)
  }

  /** Requests for footage of the owner's units, waiting ones first. */
  myConsents(signal?: AbortSignal): Promise<ConsentRequests> {
    return this.http.get('api/v1/my/consents', undefined, signal)
  }

  decideConsent(
    pullId: string,
    decision: ConsentDecision,
    signal?: AbortSignal,
  ): Promise<ConsentDecidedAnswer> {
    return this.http.post(`api/v1/my/consents/${encodeURIComponent(pullId)}`, decision, signal)
  }

  cases(signal?: AbortSignal): Promise<{ cases: CaseView[] }> {
    return this.http.get('api/v1/cases', undefined, signal)
  }

  casePreview(q: CasePreviewQuery, signal?: AbortSignal): Promise<CasePreview> {
    return this.http.post('api/v1/cases/preview', q, signal)
  }

  openCase(c: CaseOpen, signal?: AbortSignal): Promise<CaseDetail> {
    return this.http.post('api/v1/cases', c, signal)
  }

  case(id: string, signal?: AbortSignal): Promise<CaseDetail> {
    return this.http.get(`api/v1/cases/${encodeURIComponent(id)}`, undefined, signal)
  }

  /** Asks every unit of the case (or the named ones) for the window's recording. */
  requestPulls(id: string, devices?: string[], signal?: AbortSignal): Promise<{ pulls: PullView[] }> {
    return this.http.post(`api/v1/cases/${encodeURIComponent(id)}/pulls`, devices ? { devices } : {}, signal)
  }

  closeCase(id: string, signal?: AbortSignal): Promise<CaseView> {
    return this.http.post(`api/v1/cases/${encodeURIComponent(id)}/close`, {}, signal)
  }

  custody(id: string, signal?: AbortSignal): Promise<CustodyAnswer> {
    return this.http.get(`api/v1/cases/${encodeURIComponent(id)}/custody`, undefined, signal)
  }

  /** Admin only: releases a refused pull's footage under a court or prosecutor's order. */
  legalOrder(pullId: string, order: LegalOrder, signal?: AbortSignal): Promise<PullView> {
    return this.http.post(`api/v1/pulls/${encodeURIComponent(pullId)}/legal-order`, order, signal)
  }

  /**
   * The evidence ZIP. Its route takes no `?token=` (a token in a download URL would end up in history
   * and logs), so it is fetched with the bearer header and handed to the page as a Blob.
   */
  async exportCase(id: string, signal?: AbortSignal): Promise<ExportFile> {
    const token = this.#token()
    let res: Response
    try {
      res = await fetch(this.http.url(`api/v1/cases/${encodeURIComponent(id)}/export`), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        cache: 'no-store',
        signal: signal ?? null,
      })
    } catch (err) {
      if (signal?.aborted) throw err
      throw networkError()
    }
    if (!res.ok) throw errorFromBody(res.status, await res.json().catch(() => null))
    const disposition = res.headers.get('content-disposition') ?? ''
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `case-${id}.zip`
    return { blob: await res.blob(), name }
  }

  /**
   * <video> and <img> cannot send an Authorization header, so media URLs carry
   * `?token=` (the clip routes opt in to it). The page sets `referrer:
   * no-referrer` so these URLs never leave in a Referer header. The paths are
   * built here, relative to the page, rather than taken from the events API
   * (whose `clip.url` is absolute from the host root): that keeps them working
   * behind a path prefix, and a token is never attached to a URL from elsewhere.
   */
  clipUrl(eventId: string): string {
    return this.#withToken(`api/v1/clips/${encodeURIComponent(eventId)}`)
  }

  /** An owner's clip: the owner routes have no thumbnail, only the clip. */
  myClipUrl(eventId: string): string {
    return this.#withToken(`api/v1/my/clips/${encodeURIComponent(eventId)}`)
  }

  thumbUrl(eventId: string): string {
    return this.#withToken(`api/v1/clips/${encodeURIComponent(eventId)}/thumb`)
  }

  #withToken(path: string): string {
    return this.http.url(path, { token: this.#token() })
  }

  // ---- the admins' room ----

  tokens(signal?: AbortSignal): Promise<{ tokens: TokenView[] }> {
    return this.http.get('api/v1/tokens', undefined, signal)
  }

  issueToken(body: { name: string; role: Role; ownerContact?: string }): Promise<TokenIssued> {
    return this.http.post('api/v1/tokens', body)
  }

  revokeToken(id: number): Promise<TokenView> {
    return this.http.delete(`api/v1/tokens/${id}`)
  }

  provision(body: DeviceCreateInput): Promise<DeviceCredentials> {
    return this.http.post('api/v1/devices', body)
  }

  /** The installers' CSV, as it is: the gateway reads its columns; all rows or none. */
  importCsv(csv: string): Promise<{ created: DeviceCredentials[] }> {
    return this.http.postText('api/v1/devices/import', csv, 'text/csv')
  }

  setEnabled(id: string, enabled: boolean): Promise<DeviceView> {
    return this.http.post(`api/v1/devices/${encodeURIComponent(id)}/${enabled ? 'enable' : 'disable'}`, {})
  }

  rotateSecret(id: string): Promise<DeviceSecretRotated> {
    return this.http.post(`api/v1/devices/${encodeURIComponent(id)}/rotate-secret`, {})
  }

  audit(q: AuditFilter, signal?: AbortSignal): Promise<AuditPageAnswer> {
    return this.http.get('api/v1/audit', { ...q }, signal)
  }

  verifyAudit(signal?: AbortSignal): Promise<LogsReport> {
    return this.http.get('api/v1/audit/verify', undefined, signal)
  }
}
