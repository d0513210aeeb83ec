import { z } from 'zod'
import { EpochMs, Sha256Hex, Uuid } from './ids.js'

/**
 * Messages a camera unit sends and receives over MQTT. Every payload carries
 * `v` (its schema version) and `ts` (the unit's own clock, ms since the epoch).
 * Unknown extra fields are stripped, not refused: field firmware adds fields
 * before the gateway learns them, and that must not cost the reading.
 */
const envelope = { v: z.literal(1), ts: EpochMs }

export const Capability = z.enum(['motion', 'person', 'vehicle', 'tamper', 'audio', 'ir', 'pull'])

export const Hello = z.object({
  ...envelope,
  model: z.string().min(1).max(64),
  firmware: z.string().min(1).max(64),
  capabilities: z.array(Capability).max(16),
})
export type Hello = z.infer<typeof Hello>

export const Heartbeat = z.object({
  ...envelope,
  /** Seconds since the unit booted. */
  uptimeS: z.number().int().nonnegative(),
  /** Free local recording storage, MiB. */
  storageFreeMb: z.number().nonnegative(),
  /** Total local recording storage, MiB. */
  storageTotalMb: z.number().positive(),
  /** Whether the unit is recording right now. */
  recording: z.boolean(),
  /** Uplink received signal strength, dBm (Wi-Fi or 4G). */
  signalDbm: z.number().min(-140).max(0),
  /** Board temperature, degrees Celsius. */
  temperatureC: z.number().min(-60).max(125),
  /** Backup battery charge, percent; absent on mains-only units. */
  batteryPct: z.number().min(0).max(100).optional(),
})
export type Heartbeat = z.infer<typeof Heartbeat>

export const EventKind = z.enum(['motion', 'person', 'vehicle', 'tamper', 'sound'])
export type EventKind = z.infer<typeof EventKind>

export const EventPhase = z.enum(['start', 'update', 'end'])
export type EventPhase = z.infer<typeof EventPhase>

/** What a unit announces about the clip it recorded for an event. */
export const ClipInfo = z.object({
  /** Exact size of the clip file, bytes. */
  bytes: z
    .number()
    .int()
    .positive()
    .max(2 * 1024 ** 3),
  /** sha256 of the whole file, lowercase hex; the upload must match it. */
  sha256: Sha256Hex,
  durationMs: z.number().int().positive(),
  codec: z.string().min(1).max(32),
})
export type ClipInfo = z.infer<typeof ClipInfo>

export const DeviceEvent = z.object({
  ...envelope,
  /** Made by the unit, so that a retried publish is recognised and lands once. */
  eventId: Uuid,
  phase: EventPhase.default('start'),
  kind: EventKind,
  /** Detector confidence, 0..1. */
  score: z.number().min(0).max(1),
  /** Detection zone name configured on the unit. */
  zone: z.string().max(64).optional(),
  /** Present once the clip exists (normally on `end`). */
  clip: ClipInfo.optional(),
})
export type DeviceEvent = z.infer<typeof DeviceEvent>

export const PresenceState = z.enum(['online', 'offline'])

/** Retained on `cam/{id}/status`: `online` on connect, `offline` as the last will. */
export const Status = z.object({ ...envelope, state: PresenceState })
export type Status = z.infer<typeof Status>

/** Gateway → unit commands. `pull` asks for the recording of a time window. */
export const PullCommand = z.object({
  ...envelope,
  cmdId: Uuid,
  action: z.literal('pull'),
  /** Start and end of the wanted window, ms since the epoch (unit's clock corrected by the gateway). */
  from: EpochMs,
  to: EpochMs,
  /** Where to upload the recording (resumable PUT, device Basic auth). */
  uploadPath: z.string().startsWith('/api/v1/'),
  /**
   * Set when an admin recorded a legal order for a unit whose release policy is `never`: the one
   * case in which such a unit uploads. Older units ignore it (unknown fields are stripped).
   */
  legalOrder: z.string().max(100).optional(),
})
export const PingCommand = z.object({ ...envelope, cmdId: Uuid, action: z.literal('ping') })
/**
 * Install a firmware image (a campaign's offer). The unit downloads `path` with its Basic auth (HTTP
 * Range to resume), checks the bytes' `sha256` and `size`, checks `signature` with the gateway's
 * firmware key (`firmwareStatement` in firmware.ts), installs, reboots and says `version` in `hello`.
 */
export const UpdateCommand = z.object({
  ...envelope,
  cmdId: Uuid,
  action: z.literal('update'),
  /** Where to download the image (GET, device Basic auth, Range). */
  path: z.string().startsWith('/api/v1/'),
  /** The model the image is built for. */
  model: z.string().min(1).max(64),
  version: z.string().min(1).max(64),
  sha256: Sha256Hex,
  size: z.number().int().positive(),
  /** base64url Ed25519 signature of `firmwareStatement(model, version, size, sha256)`. */
  signature: z.string().regex(/^[A-Za-z0-9_-]+$/),
  /** The signing key's fingerprint (sha256 of its SPKI DER, hex). */
  keyFingerprint: Sha256Hex,
})
export type UpdateCommand = z.infer<typeof UpdateCommand>
export const Command = z.discriminatedUnion('action', [PullCommand, PingCommand, UpdateCommand])
export type Command = z.infer<typeof Command>

export const CommandAck = z.object({
  ...envelope,
  cmdId: Uuid,
  /**
   * `uploading` is a pull's progress; `downloading`, `verifying`, `installing` and `rolled-back` an
   * update's (`rolled-back`: the new firmware did not boot and the old one runs again).
   */
  status: z.enum([
    'accepted',
    'refused',
    'uploading',
    'downloading',
    'verifying',
    'installing',
    'done',
    'failed',
    'rolled-back',
  ]),
  /** Bytes uploaded (`uploading`) or downloaded (`downloading`) so far. */
  bytes: z.number().int().nonnegative().optional(),
  reason: z.string().max(200).optional(),
})
export type CommandAck = z.infer<typeof CommandAck>
