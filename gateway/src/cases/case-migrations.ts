import { CUSTODY_SCHEMA } from './custody.js'

/**
 * The cases feature's migrations, in order (`migrate(db, 'cases', ...)`): the
 * tables `cases`, `case_devices`, `case_holds`, `consents`, `pulls` and the
 * custody log. Each step is frozen text: a change is a new step.
 */
export const CASES_SCHEMA = [
  `CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    window_from INTEGER NOT NULL,
    window_to INTEGER NOT NULL,
    area TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    closed_at INTEGER,
    closed_by TEXT
  );
  CREATE TABLE case_devices (
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    distance_m REAL,
    PRIMARY KEY (case_id, device_id)
  );
  CREATE INDEX case_devices_device ON case_devices (device_id);
  CREATE TABLE case_holds (
    case_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    hold_id INTEGER NOT NULL,
    PRIMARY KEY (case_id, event_id)
  );
  CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    pull_id TEXT,
    basis TEXT NOT NULL,
    granted INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    legal_order TEXT,
    note TEXT
  );
  CREATE INDEX consents_case_device ON consents (case_id, device_id, id);
  CREATE TABLE pulls (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    window_from INTEGER NOT NULL,
    window_to INTEGER NOT NULL,
    state TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    reason TEXT,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    sent_at INTEGER,
    sends INTEGER NOT NULL DEFAULT 0,
    accepted_at INTEGER,
    finished_at INTEGER,
    consent_id INTEGER,
    legal_order TEXT,
    sha256 TEXT,
    media TEXT,
    stored_at INTEGER,
    thumb INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX pulls_case ON pulls (case_id, device_id);
  CREATE INDEX pulls_state ON pulls (state, district);
  CREATE INDEX pulls_device ON pulls (device_id, state);
  ${CUSTODY_SCHEMA}`,
  // Closed cases pile up over the years, and the list people open most is the open ones, newest
  // first (case-table.ts \`list\`): without these both lists read and sort every case ever made.
  `CREATE INDEX cases_state_created ON cases (state, created_at);
   CREATE INDEX cases_created ON cases (created_at);`,
]
