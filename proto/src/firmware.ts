import { z } from 'zod'
import { DeviceId, District, EpochMs, Sha256Hex, Uuid } from './ids.js'

/**
 * Firmware images and update campaigns: the admin's HTTP bodies and views, and what a unit checks
 * before it installs an image. The `update` command itself is in device.ts.
 */

export const FirmwareModel = z.string().min(1).max(64)
export const FirmwareVersion = z.string().min(1).max(64)

/**
 * The bytes the firmware key signs for an image: one line each for the format, model, version, size
 * and sha256, joined by `\n`. Signing the digest, not the image, lets a unit check the signature
 * before it has the whole image in memory; the sha256 of the bytes it downloaded ties them to it.
 */
export function firmwareStatement(model: string, version: string, size: number, sha256: string): string {
  return ['doorstep-firmware/1', model, version, String(size), sha256].join('\n')
}

/**
 * Compares dotted versions part by part, numerically where both parts are numbers (`2.10.0` after
 * `2.9.3`), else as text; a missing part counts as 0. Negative, zero or positive like `sort`.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/)
  const pb = b.split(/[.+-]/)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0'
    const y = pb[i] ?? '0'
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN
    const c = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny
    if (c !== 0) return c
  }
  return 0
}

/** `POST /api/v1/firmware/images?model=&version=`: the image is the raw body. */
export const FirmwareUploadQuery = z.object({ model: FirmwareModel, version: FirmwareVersion })

export const FirmwareImage = z
  .object({
    id: Uuid,
    model: FirmwareModel,
    version: FirmwareVersion,
    sha256: Sha256Hex,
    size: z.number().int().positive(),
    /** base64url Ed25519 signature of `firmwareStatement(model, version, size, sha256)`. */
    signature: z.string(),
    keyFingerprint: Sha256Hex,
    uploadedBy: z.string(),
    uploadedAt: EpochMs,
  })
  .meta({ id: 'FirmwareImage' })
export type FirmwareImage = z.infer<typeof FirmwareImage>

export const FirmwareImageList = z.object({ images: z.array(FirmwareImage) })
export const FirmwareImageParams = z.object({ id: Uuid })

/** `GET /api/v1/firmware/key`: the firmware signing key (public). */
export const FirmwareKey = z.object({
  fingerprint: Sha256Hex,
  alg: z.literal('Ed25519'),
  /** SPKI, PEM. */
  publicKey: z.string(),
})
export type FirmwareKey = z.infer<typeof FirmwareKey>

export const CampaignState = z.enum(['draft', 'running', 'paused', 'cancelled', 'done'])
export type CampaignState = z.infer<typeof CampaignState>

/**
 * Where one unit of a campaign stands. `pending`: chosen, not yet offered (its wave is not open, its
 * district has no room, or it is away); `offered`: the command is sent; then the unit's own reports.
 * `done`, `failed`, `rolled-back` and `skipped` (the campaign was cancelled first) are final.
 */
export const UnitUpdateState = z.enum([
  'pending',
  'offered',
  'downloading',
  'verifying',
  'installing',
  'done',
  'failed',
  'rolled-back',
  'skipped',
])
export type UnitUpdateState = z.infer<typeof UnitUpdateState>

const Pct = z.number().gt(0).max(100)

export const CampaignCreate = z
  .object({
    name: z.string().min(1).max(100),
    imageId: Uuid,
    /** Units of the image's model whose firmware is in this range (inclusive) and not the image's. */
    fromVersions: z.object({ min: FirmwareVersion, max: FirmwareVersion }),
    districts: z.array(District).min(1).max(61),
    /** Share of the units (percent) in the canary, the first wave. */
    canaryPct: Pct.default(5),
    /** Cumulative shares (percent) after the canary, ascending; the last is 100. */
    waves: z.array(Pct).min(1).max(20).default([25, 50, 100]),
    /** The campaign pauses itself when failures exceed this share of finished units... */
    pauseFailurePct: z.number().min(0).max(100).default(20),
    /** ...once at least this many units finished. */
    pauseMinFinished: z.number().int().positive().default(5),
    /** Units of one district downloading at once; default `DOORSTEP_FIRMWARE_DISTRICT_CONCURRENCY`. */
    districtConcurrency: z.number().int().positive().max(1000).optional(),
  })
  .refine((c) => c.waves.every((w, i) => i === 0 || w > (c.waves[i - 1] as number)), {
    message: 'waves must ascend',
    path: ['waves'],
  })
  .refine((c) => c.waves[c.waves.length - 1] === 100, { message: 'the last wave is 100', path: ['waves'] })
export type CampaignCreate = z.infer<typeof CampaignCreate>

export const CampaignParams = z.object({ id: Uuid })

/** Units of a campaign by state. */
export const CampaignCounts = z.record(UnitUpdateState, z.number().int().nonnegative())

export const CampaignView = z
  .object({
    id: Uuid,
    name: z.string(),
    state: CampaignState,
    /** Why it paused itself (or was paused, cancelled), else null. */
    reason: z.string().nullable(),
    image: FirmwareImage,
    fromVersions: z.object({ min: FirmwareVersion, max: FirmwareVersion }),
    districts: z.array(District),
    canaryPct: z.number(),
    waves: z.array(z.number()),
    /** 0: the canary; i: `waves[i-1]`. Units of later waves wait. */
    wave: z.number().int().nonnegative(),
    pauseFailurePct: z.number(),
    pauseMinFinished: z.number().int(),
    districtConcurrency: z.number().int().positive(),
    units: z.number().int().nonnegative(),
    counts: CampaignCounts,
    createdBy: z.string(),
    createdAt: EpochMs,
    startedAt: EpochMs.nullable(),
    finishedAt: EpochMs.nullable(),
  })
  .meta({ id: 'CampaignView' })
export type CampaignView = z.infer<typeof CampaignView>

export const CampaignList = z.object({ campaigns: z.array(CampaignView) })

export const CampaignUnit = z
  .object({
    deviceId: DeviceId,
    district: District,
    wave: z.number().int().nonnegative(),
    state: UnitUpdateState,
    fromVersion: FirmwareVersion,
    bytes: z.number().int().nonnegative(),
    reason: z.string().nullable(),
    offeredAt: EpochMs.nullable(),
    finishedAt: EpochMs.nullable(),
  })
  .meta({ id: 'CampaignUnit' })
export type CampaignUnit = z.infer<typeof CampaignUnit>

export const CampaignUnitsQuery = z.object({ state: UnitUpdateState.optional() })
export const CampaignUnits = z.object({ units: z.array(CampaignUnit) })

/** `POST /api/v1/campaigns/:id/pause|cancel`: an optional note for the record. */
export const CampaignAction = z.object({ reason: z.string().max(200).optional() }).optional()
