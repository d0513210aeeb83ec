import { type Db, migrate } from '../db/index.js'

/** This release of Doorstep; both package.json files say the same (test/upgrade/release.test.ts). */
export const RELEASE = '0.2.0'

/**
 * Releases record themselves in the database from 0.2.0 on; a database that names none was last
 * written by 0.1.0, the one release before.
 */
export const UNRECORDED_RELEASE = '0.1.0'

/**
 * The release that last started on the database, so that a refusal or an upgrade can name
 * releases and not only per-feature versions. Its own feature (`release`), so that a later
 * release that changes it is a newer schema like any other.
 */
export const RELEASE_SCHEMA = [
  `CREATE TABLE schema_release (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    release TEXT NOT NULL,
    since INTEGER NOT NULL
  );`,
]

/** Called once every feature has migrated: from then on the database is this release's. */
export function recordRelease(db: Db, now = Date.now()): void {
  migrate(db, 'release', RELEASE_SCHEMA)
  db.prepare(
    `INSERT INTO schema_release (id, release, since) VALUES (1, ?, ?)
     ON CONFLICT(id) DO UPDATE SET release = excluded.release, since = excluded.since
     WHERE release <> excluded.release`,
  ).run(RELEASE, now)
}
