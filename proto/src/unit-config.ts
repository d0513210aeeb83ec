import { z } from 'zod'
import { DeviceId, District, EpochMs } from './ids.js'

/**
 * A unit's remote configuration: what the gateway wants it to run (`cam/{id}/config`, retained) and
 * what it says it runs (`cam/{id}/config/reported`). Each field's bounds are what the units' hardware
 * and the city's uplinks can take; the defaults are what a unit runs before it was ever configured.
 */

/** A detection zone: a rectangle in frame coordinates, 0..1 from the top-left corner. */
export const MotionZone = z
  .object({
    x: z.number().min(0).max(1),
    y: z.number().min(0).max(1),
    w: z.number().gt(0).max(1),
    h: z.number().gt(0).max(1),
  })
  .refine((r) => r.x + r.w <= 1 + 1e-9 && r.y + r.h <= 1 + 1e-9, 'a zone must lie inside the frame')
export type MotionZone = z.infer<typeof MotionZone>

/** Most zones a configuration may carry; a unit may support fewer and refuse the rest. */
export const MAX_MOTION_ZONES = 8

export const RecordingMode = z.enum(['always', 'motion', 'off'])
export type RecordingMode = z.infer<typeof RecordingMode>

/** `HH:MM`, 24 h, on the unit's local time. */
const TimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'time of day must be HH:MM (00:00-23:59)')

/** From `from` (inclusive) to `to` (exclusive); a window whose `to` is earlier runs past midnight. */
export const RecordingWindow = z
  .object({ from: TimeOfDay, to: TimeOfDay, mode: RecordingMode })
  .refine((w) => w.from !== w.to, 'a window must not be empty')
export type RecordingWindow = z.infer<typeof RecordingWindow>

const fields = {
  /** Seconds between heartbeats. */
  heartbeatIntervalS: z.number().int().min(10).max(3600),
  /** Detector sensitivity, 0 (least) to 100 (most). */
  sensitivity: z.number().int().min(0).max(100),
  /** Where motion counts; empty: the whole frame. */
  zones: z.array(MotionZone).max(MAX_MOTION_ZONES),
  /** The mode outside every window. */
  recordingDefault: RecordingMode,
  /** Times of day with another mode; the first window that covers a time wins. */
  recordingWindows: z.array(RecordingWindow).max(12),
  /** Seconds of video per event clip. */
  clipLengthS: z.number().int().min(3).max(60),
  /** Upload bandwidth cap, kbit/s. */
  uploadKbps: z.number().int().min(64).max(100_000),
  /** Infrared night vision: by light level, forced on or off. */
  nightMode: z.enum(['auto', 'on', 'off']),
}

export const UnitConfig = z
  .object({
    heartbeatIntervalS: fields.heartbeatIntervalS.default(30),
    motion: z
      .object({ sensitivity: fields.sensitivity.default(50), zones: fields.zones.default([]) })
      .default({ sensitivity: 50, zones: [] }),
    recording: z
      .object({
        default: fields.recordingDefault.default('motion'),
        windows: fields.recordingWindows.default([]),
      })
      .default({ default: 'motion', windows: [] }),
    clipLengthS: fields.clipLengthS.default(10),
    uploadKbps: fields.uploadKbps.default(2048),
    nightMode: fields.nightMode.default('auto'),
  })
  .meta({ id: 'UnitConfig' })
export type UnitConfig = z.infer<typeof UnitConfig>

/** What a unit runs before any configuration reached it (version 0). */
export const DEFAULT_UNIT_CONFIG: UnitConfig = UnitConfig.parse({})

/**
 * A change to the desired configuration: only the fields given change, one level deep (`motion.zones`
 * alone keeps `motion.sensitivity`); arrays are replaced whole. Unknown fields are refused, so a typo
 * is an error rather than a change that silently does nothing.
 */
export const UnitConfigPatch = z
  .strictObject({
    heartbeatIntervalS: fields.heartbeatIntervalS.optional(),
    motion: z
      .strictObject({ sensitivity: fields.sensitivity.optional(), zones: fields.zones.optional() })
      .optional(),
    recording: z
      .strictObject({
        default: fields.recordingDefault.optional(),
        windows: fields.recordingWindows.optional(),
      })
      .optional(),
    clipLengthS: fields.clipLengthS.optional(),
    uploadKbps: fields.uploadKbps.optional(),
    nightMode: fields.nightMode.optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'the change sets no field')
  .meta({ id: 'UnitConfigPatch' })
export type UnitConfigPatch = z.infer<typeof UnitConfigPatch>

/** `cfg` with `patch` laid over it (see `UnitConfigPatch`). */
export function applyConfigPatch(cfg: UnitConfig, patch: UnitConfigPatch): UnitConfig {
  const out: UnitConfig = structuredClone(cfg)
  if (patch.heartbeatIntervalS !== undefined) out.heartbeatIntervalS = patch.heartbeatIntervalS
  if (patch.motion?.sensitivity !== undefined) out.motion.sensitivity = patch.motion.sensitivity
  if (patch.motion?.zones !== undefined) out.motion.zones = patch.motion.zones
  if (patch.recording?.default !== undefined) out.recording.default = patch.recording.default
  if (patch.recording?.windows !== undefined) out.recording.windows = patch.recording.windows
  if (patch.clipLengthS !== undefined) out.clipLengthS = patch.clipLengthS
  if (patch.uploadKbps !== undefined) out.uploadKbps = patch.uploadKbps
  if (patch.nightMode !== undefined) out.nightMode = patch.nightMode
  return out
}

/**
 * Two changes as one: `later`'s fields over `earlier`'s, one level deep like `applyConfigPatch`, so
 * `applyConfigPatch(applyConfigPatch(c, earlier), later)` equals `applyConfigPatch(c, merged)`. The
 * gateway keeps a district's and the fleet's changes this way for units that join later.
 */
export function mergeConfigPatches(earlier: UnitConfigPatch, later: UnitConfigPatch): UnitConfigPatch {
  const out: UnitConfigPatch = { ...earlier, ...definedOf(later) }
  if (earlier.motion || later.motion) out.motion = { ...earlier.motion, ...definedOf(later.motion ?? {}) }
  if (earlier.recording || later.recording)
    out.recording = { ...earlier.recording, ...definedOf(later.recording ?? {}) }
  return out
}

/** `o` without its undefined fields: a field a change leaves out must not blank the earlier one's. */
function definedOf<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** A configuration's version for one unit: 1 for its first, one more for each change; 0 is the defaults. */
export const ConfigVersion = z.number().int().nonnegative()

const envelope = { v: z.literal(1), ts: EpochMs }

/** Retained on `cam/{id}/config`: the latest configuration the gateway wants the unit to run. */
export const ConfigDesired = z.object({ ...envelope, version: ConfigVersion.min(1), config: UnitConfig })
export type ConfigDesired = z.infer<typeof ConfigDesired>

const reportedBase = {
  ...envelope,
  /** The version this report answers. */
  version: ConfigVersion,
  /** The version the unit runs after it: `version` when applied, its previous one when refused. */
  runningVersion: ConfigVersion,
  /** The configuration the unit runs now. */
  running: UnitConfig,
}

/** On `cam/{id}/config/reported`: whether the unit applied a version, and what it runs. */
export const ConfigReported = z.discriminatedUnion('applied', [
  z.object({ ...reportedBase, applied: z.literal(true) }),
  z.object({ ...reportedBase, applied: z.literal(false), reason: z.string().min(1).max(200) }),
])
export type ConfigReported = z.infer<typeof ConfigReported>

// HTTP: /api/v1/config…

/**
 * Where a unit stands: `applied` (it runs the desired version), `lagging` (it has not said it runs it
 * yet), `refused` (it refused the desired version, with its reason), `unset` (never configured: it runs
 * the defaults).
 */
export const ConfigStatus = z.enum(['applied', 'lagging', 'refused', 'unset'])
export type ConfigStatus = z.infer<typeof ConfigStatus>

export const UnitConfigView = z
  .object({
    deviceId: DeviceId,
    district: District,
    status: ConfigStatus,
    desired: z
      .object({ version: ConfigVersion, config: UnitConfig, at: EpochMs, by: z.string(), scope: z.string() })
      .nullable(),
    reported: z
      .object({
        version: ConfigVersion,
        applied: z.boolean(),
        reason: z.string().nullable(),
        runningVersion: ConfigVersion,
        running: UnitConfig,
        at: EpochMs,
      })
      .nullable(),
    /** For `lagging`: ms since the desired version was set. */
    lagMs: z.number().int().nonnegative().nullable(),
  })
  .meta({ id: 'UnitConfigView' })
export type UnitConfigView = z.infer<typeof UnitConfigView>

export const ConfigCounts = z.object({
  units: z.number().int().nonnegative(),
  applied: z.number().int().nonnegative(),
  lagging: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  unset: z.number().int().nonnegative(),
})

/** `GET /api/v1/config`: the units that match, and the counts per district of every unit looked at. */
export const ConfigOverview = z.object({
  districts: z.array(ConfigCounts.extend({ district: District })),
  units: z.array(UnitConfigView),
  /** More units matched than `limit`. */
  truncated: z.boolean(),
})
export type ConfigOverview = z.infer<typeof ConfigOverview>

export const ConfigQuery = z.object({
  district: District.optional(),
  status: ConfigStatus.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
})

export const ConfigDistrictParams = z.object({ district: District })

/** What a change did: each unit it reached and the version it got. */
export const ConfigChangeResult = z.object({
  changed: z.number().int().nonnegative(),
  units: z.array(z.object({ deviceId: DeviceId, version: ConfigVersion })),
})
export type ConfigChangeResult = z.infer<typeof ConfigChangeResult>
