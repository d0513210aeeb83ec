/** Schema upgrades: the check before any feature migrates, the pre-upgrade backup, and the release record. */
export { type FreeSpace, prepareUpgrade, roomNeeded, UPGRADE_BACKUPS, type Upgrade } from './guard.js'
export { type DatabaseState, type Drift, type Plan, plan, readState } from './plan.js'
export { RELEASE, RELEASE_SCHEMA, recordRelease, UNRECORDED_RELEASE } from './release.js'
export { DATABASE_SCHEMAS, type FeatureSchema, SCHEMAS, versionsOf } from './schemas.js'
