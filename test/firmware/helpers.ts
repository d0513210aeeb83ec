import { randomBytes } from 'node:crypto'
import type { CampaignCreate, CampaignUnit, CampaignView, FirmwareImage } from '@doorstep/proto'
import type { FirmwareFaults } from '../../device-sim/src/firmware.js'
import { type Fleet, startFleet } from '../../device-sim/src/fleet.js'
import type { TestGateway } from '../helpers/gateway.js'
import { api, bearer } from '../helpers/http.js'
import { tempDir } from '../helpers/tmp.js'

/** Gateway settings for update tests: a unit rebooting after an install is let back in at once. */
export const FIRMWARE_ENV = { DOORSTEP_TAKEOVER_HOLD_MS: 0 }

/** Uploads `bytes` (random when omitted) as an image; answers the status and body. */
export async function uploadImage(
  base: string,
  token: string,
  model: string,
  version: string,
  bytes: Buffer = randomBytes(200_000),
): Promise<{ status: number; body: FirmwareImage & { error?: { code: string } }; bytes: Buffer }> {
  const res = await fetch(
    `${base}/api/v1/firmware/images?model=${encodeURIComponent(model)}&version=${encodeURIComponent(version)}`,
    {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
      body: new Uint8Array(bytes),
    },
  )
  return {
    status: res.status,
    body: (await res.json()) as FirmwareImage & { error?: { code: string } },
    bytes,
  }
}

export async function createCampaign(
  gw: TestGateway,
  input: Partial<CampaignCreate> & Pick<CampaignCreate, 'imageId' | 'districts'>,
): Promise<CampaignView> {
  const r = await api<CampaignView>(gw.gateway.httpUrl, 'POST', '/api/v1/campaigns', gw.adminToken, {
    name: 'test rollout',
    fromVersions: { min: '0', max: '99' },
    ...input,
  })
  if (r.status !== 201) throw new Error(`campaign not created: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

export async function campaignAction(
  gw: TestGateway,
  id: string,
  action: 'start' | 'pause' | 'resume' | 'cancel',
  body: Record<string, unknown> = {},
): Promise<{ status: number; body: CampaignView }> {
  return api<CampaignView>(
    gw.gateway.httpUrl,
    'POST',
    `/api/v1/campaigns/${id}/${action}`,
    gw.adminToken,
    body,
  )
}

export async function campaign(gw: TestGateway, id: string): Promise<CampaignView> {
  return (await api<CampaignView>(gw.gateway.httpUrl, 'GET', `/api/v1/campaigns/${id}`, gw.adminToken)).body
}

export async function campaignUnits(gw: TestGateway, id: string): Promise<CampaignUnit[]> {
  return (
    await api<{ units: CampaignUnit[] }>(
      gw.gateway.httpUrl,
      'GET',
      `/api/v1/campaigns/${id}/units`,
      gw.adminToken,
    )
  ).body.units
}

/** A simulated fleet with no events, whose units carry out updates with these faults. */
export async function updateFleet(
  gw: TestGateway,
  devices: number,
  faults: Partial<FirmwareFaults>,
  idPrefix: string,
): Promise<{ fleet: Fleet; cleanup: () => Promise<void> }> {
  const tmp = tempDir('doorstep-fw-sim-')
  const fleet = await startFleet({
    devices,
    mqttUrl: gw.gateway.mqttUrl,
    httpUrl: gw.gateway.httpUrl,
    adminToken: gw.adminToken,
    credentialsDir: tmp.dir,
    clips: [],
    idPrefix,
    heartbeatS: 5,
    eventRate: 0,
    connectRate: 500,
    backoff: { baseMs: 100, capMs: 1_000 },
    firmwareFaults: faults,
  })
  if (!(await fleet.ready({ timeoutMs: 20_000 }))) throw new Error('fleet not ready')
  return {
    fleet,
    cleanup: async () => {
      await fleet.stop()
      tmp.cleanup()
    },
  }
}
