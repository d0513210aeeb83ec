/**
 * The firmware feature's migrations on SQLite, in order (`migrateShared(shared, 'firmware', ...)`):
 * images, campaigns and each campaign's units. Each step is frozen text: a change is a new step.
 */
export const FIRMWARE_SCHEMA = [
  `CREATE TABLE firmware_images (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    signature TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    UNIQUE (model, version)
  );
  CREATE TABLE firmware_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES firmware_images (id),
    from_min TEXT NOT NULL,
    from_max TEXT NOT NULL,
    districts TEXT NOT NULL,
    canary_pct REAL NOT NULL,
    waves TEXT NOT NULL,
    wave INTEGER NOT NULL DEFAULT 0,
    pause_failure_pct REAL NOT NULL,
    pause_min_finished INTEGER NOT NULL,
    district_concurrency INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'done')),
    reason TEXT,
    baseline_finished INTEGER NOT NULL DEFAULT 0,
    baseline_failed INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE TABLE firmware_units (
    campaign_id TEXT NOT NULL REFERENCES firmware_campaigns (id),
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    cmd_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    from_version TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    sends INTEGER NOT NULL DEFAULT 0,
    offered_at INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (campaign_id, device_id)
  );
  CREATE INDEX firmware_units_state ON firmware_units (campaign_id, state, district);
  CREATE INDEX firmware_units_device ON firmware_units (device_id, state);`,
]

/**
 * The same tables on PostgreSQL (the newest shape in one step): BIGINT for milliseconds and sizes,
 * DOUBLE PRECISION for REAL.
 */
export const FIRMWARE_SCHEMA_POSTGRES = [
  `CREATE TABLE firmware_images (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    signature TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    UNIQUE (model, version)
  );
  CREATE TABLE firmware_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES firmware_images (id),
    from_min TEXT NOT NULL,
    from_max TEXT NOT NULL,
    districts TEXT NOT NULL,
    canary_pct DOUBLE PRECISION NOT NULL,
    waves TEXT NOT NULL,
    wave INTEGER NOT NULL DEFAULT 0,
    pause_failure_pct DOUBLE PRECISION NOT NULL,
    pause_min_finished INTEGER NOT NULL,
    district_concurrency INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'done')),
    reason TEXT,
    baseline_finished INTEGER NOT NULL DEFAULT 0,
    baseline_failed INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
  );
  CREATE TABLE firmware_units (
    campaign_id TEXT NOT NULL REFERENCES firmware_campaigns (id),
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    cmd_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    from_version TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    sends INTEGER NOT NULL DEFAULT 0,
    offered_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (campaign_id, device_id)
  );
  CREATE INDEX firmware_units_state ON firmware_units (campaign_id, state, district);
  CREATE INDEX firmware_units_device ON firmware_units (device_id, state);`,
]
