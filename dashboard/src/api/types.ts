import type { DeviceView } from '@doorstep/proto'

/*
 * Response shapes the gateway sends that proto does not describe yet (events,
 * clips and holds are in proto/src/events.ts and come from there). They
 * belong in proto/src/http.ts (one definition, shared with the gateway); until
 * they move there, this file is the dashboard's only copy and names the route
 * each comes from.
 */

export interface HealthCounts {
  total: number
  online: number
  stale: number
  offline: number
  unknown: number
  lowStorage: number
  notRecording: number
}

/** GET /api/v1/health */
export interface HealthResponse {
  at: number
  overall: HealthCounts
  districts: Array<HealthCounts & { district: number }>
}

/** GET /api/v1/devices */
export interface DeviceListResponse {
  total: number
  devices: DeviceView[]
}

/** One row of GET /api/v1/devices/:id/heartbeats: InfluxDB's column names, `time` as ISO text or ms. */
export interface HeartbeatPoint {
  time: string | number
  storage_free_mb?: number | null
  storage_total_mb?: number | null
  signal_dbm?: number | null
  temperature_c?: number | null
  battery_pct?: number | null
  [field: string]: unknown
}

/** GET /api/v1/devices/:id/heartbeats */
export interface HeartbeatsResponse {
  device: string
  from: number
  to: number
  points: HeartbeatPoint[]
}
