import type {
  CampaignCreate,
  CampaignUnit,
  CampaignView,
  FirmwareImage,
  FirmwareKey,
  UnitUpdateState,
} from '@doorstep/proto'
import { ApiError } from './errors.js'
import type { HttpClient } from './http.js'
import { type UploadProgress, uploadWithProgress } from './upload.js'

/** What an admin may do to a campaign: each is `POST /api/v1/campaigns/:id/<action>`. */
export type CampaignAction = 'start' | 'pause' | 'resume' | 'cancel'

/** The firmware routes: images, the signing key and campaigns. */
export class FirmwareApi {
  readonly #http: HttpClient
  readonly #token: () => string | null

  constructor(http: HttpClient, token: () => string | null) {
    this.#http = http
    this.#token = token
  }

  images(signal?: AbortSignal): Promise<{ images: FirmwareImage[] }> {
    return this.#http.get('api/v1/firmware/images', undefined, signal)
  }

  /** Public: the key every image is signed with. */
  key(signal?: AbortSignal): Promise<FirmwareKey> {
    return this.#http.get('api/v1/firmware/key', undefined, signal)
  }

  /** Admin only: the file is the raw body; model and version go in the query. */
  upload(
    file: Blob,
    q: { model: string; version: string },
    onProgress: (p: UploadProgress) => void,
    signal?: AbortSignal,
  ): Promise<FirmwareImage> {
    return uploadWithProgress<FirmwareImage>({
      url: this.#http.url('api/v1/firmware/images', q),
      token: this.#token(),
      body: file,
      contentType: 'application/octet-stream',
      onProgress,
      ...(signal ? { signal } : {}),
    }).catch((err: unknown) => {
      // A refused token ends the session on any call through the client; this one went round it, so
      // one cheap call through it lets the client see the 401 and sign out.
      if (err instanceof ApiError && err.status === 401)
        void this.#http.get('api/v1/me').catch(() => undefined)
      throw err
    })
  }

  campaigns(signal?: AbortSignal): Promise<{ campaigns: CampaignView[] }> {
    return this.#http.get('api/v1/campaigns', undefined, signal)
  }

  campaign(id: string, signal?: AbortSignal): Promise<CampaignView> {
    return this.#http.get(`api/v1/campaigns/${encodeURIComponent(id)}`, undefined, signal)
  }

  campaignUnits(
    id: string,
    state?: UnitUpdateState,
    signal?: AbortSignal,
  ): Promise<{ units: CampaignUnit[] }> {
    return this.#http.get(`api/v1/campaigns/${encodeURIComponent(id)}/units`, { state }, signal)
  }

  /** Admin only: makes a draft; the units are chosen now and nothing is offered until `start`. */
  createCampaign(body: CampaignCreate, signal?: AbortSignal): Promise<CampaignView> {
    return this.#http.post('api/v1/campaigns', body, signal)
  }

  /** Admin only. `reason` is kept on the record (pause and cancel). */
  act(id: string, action: CampaignAction, reason?: string): Promise<CampaignView> {
    return this.#http.post(`api/v1/campaigns/${encodeURIComponent(id)}/${action}`, reason ? { reason } : {})
  }
}
