import { CUSTODY_SCHEMA } from './custody.js'

/**
 * One row per district that has had a pull sent: each send updates its district's row first, which
 * queues gateways sending into one district on PostgreSQL, so the count of pulls in flight they check
 * against the budget is not stale (see PullTable.claimInBudget). Same text on both engines.
 */
const PULL_DISTRICTS = `CREATE TABLE pull_districts (
    district INTEGER PRIMARY KEY,
    sends BIGINT NOT NULL DEFAULT 0
  );`

/**
 * The cases feature's migrations on SQLite, in order (`migrateShared(shared, 'cases', ...)`): the
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
  // The custody log's last seq on its case's row (each append advances it first, which queues appends
  // to one case on PostgreSQL), and the pulls' order of insertion, which PostgreSQL has no rowid for.
  `ALTER TABLE cases ADD COLUMN custody_seq INTEGER NOT NULL DEFAULT 0;
   UPDATE cases SET custody_seq = (SELECT COALESCE(MAX(seq), 0) FROM custody_log WHERE custody_log.case_id = cases.id);
   ALTER TABLE pulls ADD COLUMN n INTEGER NOT NULL DEFAULT 0;
   UPDATE pulls SET n = rowid;`,
  PULL_DISTRICTS,
  // The PUT writing a pull's recording now, and when it last took bytes: in a cluster two PUTs of one
  // recording through two gateways take turns (uploads/writer-lease.ts).
  `ALTER TABLE pulls ADD COLUMN writer TEXT;
   ALTER TABLE pulls ADD COLUMN writer_seen INTEGER;`,
]

/**
 * The same tables on PostgreSQL (the newest shape in one step): BIGINT for milliseconds and counters,
 * DOUBLE PRECISION for REAL, an identity column for the consents' id, and the custody log's
 * append-only rule as a trigger function.
 */
export const CASES_SCHEMA_POSTGRES = [
  `CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    window_from BIGINT NOT NULL,
    window_to BIGINT NOT NULL,
    area TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT,
    custody_seq BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX cases_state_created ON cases (state, created_at);
  CREATE INDEX cases_created ON cases (created_at);
  CREATE TABLE case_devices (
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    distance_m DOUBLE PRECISION,
    PRIMARY KEY (case_id, device_id)
  );
  CREATE INDEX case_devices_device ON case_devices (device_id);
  CREATE TABLE case_holds (
    case_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    hold_id BIGINT NOT NULL,
    PRIMARY KEY (case_id, event_id)
  );
  CREATE TABLE consents (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    pull_id TEXT,
    basis TEXT NOT NULL,
    granted INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    legal_order TEXT,
    note TEXT
  );
  CREATE INDEX consents_case_device ON consents (case_id, device_id, id);
  CREATE TABLE pulls (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    window_from BIGINT NOT NULL,
    window_to BIGINT NOT NULL,
    state TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    reason TEXT,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    sent_at BIGINT,
    sends INTEGER NOT NULL DEFAULT 0,
    accepted_at BIGINT,
    finished_at BIGINT,
    consent_id BIGINT,
    legal_order TEXT,
    sha256 TEXT,
    media TEXT,
    stored_at BIGINT,
    thumb INTEGER NOT NULL DEFAULT 0,
    n BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX pulls_case ON pulls (case_id, device_id);
  CREATE INDEX pulls_state ON pulls (state, district);
  CREATE INDEX pulls_device ON pulls (device_id, state);
  CREATE TABLE custody_log (
    case_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
  );
  CREATE FUNCTION custody_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'custody_log is append-only'; END $$;
  CREATE TRIGGER custody_log_no_change BEFORE UPDATE OR DELETE ON custody_log
    FOR EACH ROW EXECUTE FUNCTION custody_log_append_only();`,
  PULL_DISTRICTS,
  `ALTER TABLE pulls ADD COLUMN writer TEXT, ADD COLUMN writer_seen BIGINT;`,
]
