/** The simulator's programmatic API, for the gateway's demo, tests and benches. */
export {
  type AlertCounts,
  type AlertObserver,
  type AlertObserverOptions,
  type LatencySummary,
  observeAlerts,
  summarizeLatencies,
} from './alerts.js'
export { type BackoffPolicy, backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from './backoff.js'
export {
  type ClipFile,
  DEFAULT_CLIP_DIR,
  describeFile,
  type EnsureClipsOptions,
  ensureClips,
} from './clips.js'
export {
  type Credentials,
  type CredentialsOptions,
  credentialsFile,
  ensureCredentials,
  loadOrProvision,
  ProvisionError,
  probeCredentials,
} from './credentials.js'
export {
  ACCEPT_VARIANTS,
  type BadPayload,
  DEFAULT_FAULTS,
  type FaultOptions,
  makeBadPayload,
  type PayloadKind,
  REJECT_VARIANTS,
  randomBadPayload,
} from './faults.js'
export {
  type FirmwareFaults,
  FirmwareUpdater,
  type FirmwareUpdaterOptions,
  NO_FIRMWARE_FAULTS,
  type UpdateHost,
} from './firmware.js'
export { type Fleet, type FleetOptions, type PowerCutOptions, startFleet } from './fleet.js'
export {
  DEFAULT_CENTER,
  type FleetPlanOptions,
  type PlannedUnit,
  planFleet,
  toDeviceCreate,
  URBAN_DISTRICTS,
} from './fleet-plan.js'
export {
  buildReport,
  countHeartbeatsInInflux,
  formatReport,
  type InfluxCheck,
  type Report,
} from './report.js'
export { Scheduler, type SchedulerOptions, type Task } from './scheduler.js'
export { type FleetStats, SENT_KINDS, type SentKind } from './stats.js'
export { SimUnit, type UnitConfig, type UnitEnv, type UnitState } from './unit.js'
export {
  type ClipUploader,
  createLimiter,
  HttpClipUploader,
  type HttpClipUploaderOptions,
  type UploadContext,
  UploadError,
} from './uploader.js'
