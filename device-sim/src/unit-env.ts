import type { BackoffPolicy } from './backoff.js'
import type { ClipFile } from './clips.js'
import type { FaultOptions } from './faults.js'
import type { FirmwareUpdater } from './firmware.js'
import type { Scheduler } from './scheduler.js'
import type { SourceNet } from './source-address.js'
import type { FleetStats } from './stats.js'
import type { SimUnit } from './unit.js'
import type { ClipUploader } from './uploader.js'

/** Settings every unit of a fleet shares. */
export interface UnitConfig {
  /** Mean heartbeat interval, ms. */
  heartbeatMs: number
  /** Each interval is drawn from heartbeatMs·(1 ± jitter). */
  heartbeatJitter: number
  /** Multiplier on the day/night detection rates; 0 turns events off. */
  eventRate: number
  backoff: BackoffPolicy
  connectTimeoutMs: number
  keepaliveS: number
  faults: FaultOptions
  /** Upload each event's clip after `end` (needs an uploader). */
  uploadOnEnd: boolean
  /** Units connect from addresses in this loopback block, one per unit in turn; null: the system's choice. */
  sourceNet?: SourceNet | null
}

/** What units share: one scheduler, one stats object, one clip set. Held once per fleet, not per unit. */
export interface UnitEnv {
  scheduler: Scheduler
  /** The gateways' MQTT URLs; unit i starts at i mod n (`gateway-list.ts`). */
  mqttUrls: readonly string[]
  config: UnitConfig
  stats: FleetStats
  clips: readonly ClipFile[]
  uploader: ClipUploader | null
  /** Carries out `update` commands; null: units refuse them. */
  updater?: FirmwareUpdater | null
  /** Runs an upload under the fleet's concurrency limit. */
  runUpload: <T>(fn: () => Promise<T>) => Promise<T>
  random: () => number
  /** Called when a `start` phase is handed to the client: alert latency is measured from here. */
  onEventStart?: (eventId: string, at: number) => void
  /** Called on CONNACK 2/4/5. */
  onAuthFailure?: (unit: SimUnit, returnCode: number) => void
}
