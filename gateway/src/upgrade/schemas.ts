import { AUDIT_SCHEMA } from '../audit/index.js'
import { TOKENS_SCHEMA } from '../auth/index.js'
import type { DatabaseFile } from '../backup/index.js'
import { CASES_SCHEMA } from '../cases/index.js'
import { CLIPS_SCHEMA } from '../clips/index.js'
import { EVENTS_SCHEMA } from '../events/index.js'
import { EVIDENCE_SCHEMA } from '../evidence/index.js'
import { FIRMWARE_SCHEMA } from '../firmware/index.js'
import { SPOOL_SCHEMA } from '../ingest/index.js'
import { NOTIFY_SCHEMA } from '../notify/index.js'
import { REGISTRY_SCHEMA } from '../registry/index.js'
import { UNIT_CONFIG_SCHEMA } from '../unit-config/index.js'
import { RELEASE_SCHEMA } from './release.js'

/** A feature's migrations, as it passes them to `migrate(db, feature, steps)`. */
export interface FeatureSchema {
  feature: string
  steps: readonly string[]
}

const SPOOL: FeatureSchema = { feature: 'spool', steps: SPOOL_SCHEMA }

/**
 * Every feature's schema in `doorstep.db`: what this release knows. The features still migrate
 * themselves as they start; this list is what the upgrade check compares a database with
 * before any of them does (test/upgrade/upgrade.test.ts checks it against a started gateway).
 */
export const SCHEMAS: readonly FeatureSchema[] = [
  { feature: 'registry', steps: REGISTRY_SCHEMA },
  { feature: 'tokens', steps: TOKENS_SCHEMA },
  { feature: 'audit', steps: AUDIT_SCHEMA },
  { feature: 'events', steps: EVENTS_SCHEMA },
  SPOOL,
  { feature: 'clips', steps: CLIPS_SCHEMA },
  { feature: 'cases', steps: CASES_SCHEMA },
  { feature: 'unit-config', steps: UNIT_CONFIG_SCHEMA },
  { feature: 'firmware', steps: FIRMWARE_SCHEMA },
  { feature: 'notify', steps: NOTIFY_SCHEMA },
  { feature: 'evidence', steps: EVIDENCE_SCHEMA },
  { feature: 'release', steps: RELEASE_SCHEMA },
]

/** What each database file the gateway owns holds. `spool.db` is an older version's spool alone. */
export const DATABASE_SCHEMAS: Readonly<Record<DatabaseFile, readonly FeatureSchema[]>> = {
  'doorstep.db': SCHEMAS,
  'spool.db': [SPOOL],
}

/** Feature → the version its steps lead to. */
export function versionsOf(schemas: readonly FeatureSchema[]): Record<string, number> {
  return Object.fromEntries(schemas.map((s) => [s.feature, s.steps.length]))
}
