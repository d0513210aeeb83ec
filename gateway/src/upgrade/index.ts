/**
 * Schema upgrades: the check before any feature migrates, the pre-upgrade backup, and the release
 * record. The list of every feature's schema (`schemas.ts`) is not re-exported: it imports every
 * feature, and the checks load it when they need it (a command on a current database never does).
 */
export {
  assertCurrent,
  type FreeSpace,
  type PendingUpgrade,
  pendingUpgrade,
  prepareUpgrade,
  roomNeeded,
  UPGRADE_BACKUPS,
  type Upgrade,
} from './guard.js'
export { type DatabaseState, type Drift, type Plan, POSTGRES_FEATURES, plan, readState } from './plan.js'
export { RELEASE, RELEASE_SCHEMA, recordRelease, UNRECORDED_RELEASE } from './release.js'
export {
  type PendingRepage,
  pendingRepage,
  REPAGE_SUFFIX,
  type RepageResult,
  repageDatabase,
} from './repage.js'
