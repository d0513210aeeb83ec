import { z } from 'zod'
import { DeviceId, District, Latitude, Longitude } from './ids.js'

/** Every HTTP error body: a stable code, a sentence for people, and optional details. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().startsWith('DOORSTEP_ERR_'),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'ErrorBody' })
export type ErrorBody = z.infer<typeof ErrorBody>

export const Role = z.enum(['admin', 'ops', 'investigator', 'owner'])
export type Role = z.infer<typeof Role>

/** Release policy for footage, chosen with the homeowner at installation. */
export const ReleasePolicy = z.enum(['always', 'ask', 'never'])
export type ReleasePolicy = z.infer<typeof ReleasePolicy>

/** Urban and rural units differ in uplink quality and night activity. */
export const Setting = z.enum(['urban', 'rural'])

export const DeviceCreate = z
  .object({
    /** Chosen by the installer or generated. */
    id: DeviceId.optional(),
    serial: z.string().min(1).max(64),
    district: District,
    address: z.string().min(1).max(200),
    ownerContact: z.string().min(1).max(200),
    lat: Latitude,
    lon: Longitude,
    model: z.string().max(64).default('unknown'),
    firmware: z.string().max(64).default('unknown'),
    setting: Setting.default('urban'),
    releasePolicy: ReleasePolicy.default('ask'),
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'DeviceCreate' })
export type DeviceCreate = z.infer<typeof DeviceCreate>
export type DeviceCreateInput = z.input<typeof DeviceCreate>

export const DeviceCredentials = z.object({ id: DeviceId, secret: z.string().min(32) })
export type DeviceCredentials = z.infer<typeof DeviceCredentials>

export const DeviceImportResult = z.object({ created: z.array(DeviceCredentials) })

/** Most units one import may create. */
export const MAX_IMPORT_ROWS = 20_000

/**
 * `POST /api/v1/devices/import`: rows as `DeviceCreate` objects (JSON), or a CSV (`text/csv`) with those
 * fields as columns. Each row is checked on its own, so an import answers every bad row at once (422).
 */
export const DeviceImport = z
  .array(z.unknown())
  .max(MAX_IMPORT_ROWS)
  .describe('rows as DeviceCreate objects, or text/csv with their fields as columns; all or nothing')

/** `/api/v1/devices/:id/…` */
export const DeviceParams = z.object({ id: DeviceId })

/**
 * `POST /api/v1/devices/:id/rotate-secret`: the unit's new secret, shown once. The old one stops
 * working at once, on MQTT (the live connection is closed) and HTTP alike.
 */
export const DeviceSecretRotated = DeviceCredentials.extend({ rotatedAt: z.number().int().nonnegative() })
export type DeviceSecretRotated = z.infer<typeof DeviceSecretRotated>

/**
 * A body of bytes (a clip, a thumbnail, a recording, an export; bytes or a stream): documented as binary. Fastify sends
 * bytes and streams as they are, so this schema never serialises anything.
 */
export const Binary = z
  .custom<Uint8Array | { pipe: (...args: never[]) => unknown }>(
    (v) => v instanceof Uint8Array || (typeof v === 'object' && v !== null && 'pipe' in v),
  )
  .meta({ type: 'string', format: 'binary' })

/** An answer with no body (a 304, a HEAD). */
export const NoBody = z.undefined()

/** `GET /api/v1/ping` */
export const Pong = z.object({ ok: z.literal(true) })

export const ImportRowError = z.object({
  row: z.number().int().nonnegative(),
  field: z.string(),
  message: z.string(),
})
export type ImportRowError = z.infer<typeof ImportRowError>

export const LiveState = z.enum(['online', 'stale', 'offline', 'unknown'])
export type LiveState = z.infer<typeof LiveState>

export const DeviceView = z
  .object({
    id: DeviceId,
    serial: z.string(),
    district: District,
    address: z.string(),
    ownerContact: z.string(),
    lat: Latitude,
    lon: Longitude,
    model: z.string(),
    firmware: z.string(),
    setting: Setting,
    releasePolicy: ReleasePolicy,
    enabled: z.boolean(),
    createdAt: z.number().int(),
    state: LiveState,
    lastSeen: z.number().int().nullable(),
    lastHeartbeat: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'DeviceView' })
export type DeviceView = z.infer<typeof DeviceView>

export const DeviceListQuery = z.object({
  district: District.optional(),
  state: LiveState.optional(),
  /** Units whose id, serial or address contains this text (any case): finding one unit by what is on its label. */
  q: z.string().trim().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  offset: z.coerce.number().int().min(0).default(0),
})

export const HealthCounts = z.object({
  total: z.number().int(),
  online: z.number().int(),
  stale: z.number().int(),
  offline: z.number().int(),
  unknown: z.number().int(),
  lowStorage: z.number().int(),
  notRecording: z.number().int(),
})
export type HealthCounts = z.infer<typeof HealthCounts>

/** `GET /api/v1/health`: the fleet overall and per district. */
export const HealthResponse = z.object({
  at: z.number().int(),
  overall: HealthCounts,
  districts: z.array(HealthCounts.extend({ district: District })),
})
export type HealthResponse = z.infer<typeof HealthResponse>

/** `GET /api/v1/devices` */
export const DeviceListResponse = z.object({ total: z.number().int(), devices: z.array(DeviceView) })
export type DeviceListResponse = z.infer<typeof DeviceListResponse>

/** One row of `GET /api/v1/devices/:id/heartbeats`: InfluxDB's field names; `time` in ms (ISO text from older gateways). */
export const HeartbeatPoint = z
  .object({
    time: z.union([z.string(), z.number()]),
    storage_free_mb: z.number().nullable().optional(),
    storage_total_mb: z.number().nullable().optional(),
    signal_dbm: z.number().nullable().optional(),
    temperature_c: z.number().nullable().optional(),
    battery_pct: z.number().nullable().optional(),
  })
  .catchall(z.unknown())
export type HeartbeatPoint = z.infer<typeof HeartbeatPoint>

/** `GET /api/v1/devices/:id/heartbeats` */
export const HeartbeatsResponse = z.object({
  device: DeviceId,
  from: z.number().int(),
  to: z.number().int(),
  points: z.array(HeartbeatPoint),
})
export type HeartbeatsResponse = z.infer<typeof HeartbeatsResponse>

/** `GET /api/v1/devices/:id/heartbeats?from=&to=` (ms): the last 6 hours when absent. */
export const HeartbeatsQuery = z
  .object({
    from: z.coerce.number().int().nonnegative().optional().describe('ms since the epoch; default `to` − 6 h'),
    to: z.coerce.number().int().nonnegative().optional().describe('ms since the epoch; default now'),
  })
  .transform((q) => {
    const to = q.to ?? Date.now()
    return { to, from: q.from ?? to - 6 * 3_600_000 }
  })
  .refine((q) => q.from < q.to, { message: 'from must be before to' })
