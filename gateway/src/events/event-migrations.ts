/**
 * The event index's migrations, in order (`migrate(db, 'events', ...)`; exported
 * for the migration test). Each step is frozen text: a change is a new step.
 * Step 3 computes the integer key with `doorstep_event_key`, which `EventIndex.load`
 * registers first.
 */
export const EVENTS_SCHEMA = [
  `CREATE TABLE event_index (
    event_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    score REAL NOT NULL,
    zone TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    updated_at INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    clip_state TEXT NOT NULL DEFAULT 'none',
    clip_bytes INTEGER,
    clip_sha256 TEXT,
    clip_duration_ms INTEGER,
    clip_codec TEXT
  );
  CREATE INDEX event_index_started ON event_index (started_at, event_id);
  CREATE INDEX event_index_device ON event_index (device_id, started_at);
  CREATE INDEX event_index_district ON event_index (district, started_at);
  CREATE INDEX event_index_lat ON event_index (lat, lon);
  CREATE INDEX event_index_clip ON event_index (clip_state, started_at);`,
  // The phases a unit has sent for the event: how a retried publish is recognised (see admit).
  // Rows from before it count as having every phase up to the one they reached.
  `ALTER TABLE event_index ADD COLUMN phases_seen INTEGER NOT NULL DEFAULT 0;
   UPDATE event_index SET phases_seen = CASE phase WHEN 'start' THEN 1 WHEN 'update' THEN 3 ELSE 7 END;`,
  // Events are found by a 48-bit integer key taken from the id (eventKey) instead of a unique index on the
  // 36-character id: ids are random, so every new event lands on its own page of that index, and a group
  // commit rewrote nearly all of it. The integer index is about a third of the size. SQLite cannot drop a
  // primary key, so the table is rebuilt; the merge keeps ids unique (see mergeTuple).
  `CREATE TABLE event_index_next (
    event_id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    district INTEGER NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    score REAL NOT NULL,
    zone TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    updated_at INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    clip_state TEXT NOT NULL DEFAULT 'none',
    clip_bytes INTEGER,
    clip_sha256 TEXT,
    clip_duration_ms INTEGER,
    clip_codec TEXT,
    phases_seen INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO event_index_next (event_id, id_key, device_id, district, kind, phase, score, zone, started_at, ended_at,
      updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen)
    SELECT event_id, doorstep_event_key(event_id), device_id, district, kind, phase, score, zone, started_at, ended_at,
      updated_at, lat, lon, clip_state, clip_bytes, clip_sha256, clip_duration_ms, clip_codec, phases_seen
    FROM event_index ORDER BY rowid;
  DROP TABLE event_index;
  ALTER TABLE event_index_next RENAME TO event_index;
  CREATE INDEX event_index_key ON event_index (id_key);
  CREATE INDEX event_index_started ON event_index (started_at, event_id);
  CREATE INDEX event_index_device ON event_index (device_id, started_at);
  CREATE INDEX event_index_district ON event_index (district, started_at);
  CREATE INDEX event_index_lat ON event_index (lat, lon);
  CREATE INDEX event_index_clip ON event_index (clip_state, started_at);`,
  // Most events never announce a clip: their rows stay out of the clip index (one B-tree fewer per new
  // event). Queries that use it say `clip_state <> 'none'` in so many words (see CLIP_INDEXED in event-query.ts).
  `DROP INDEX event_index_clip;
   CREATE INDEX event_index_clip ON event_index (clip_state, started_at) WHERE clip_state <> 'none';`,
  // The index in tables by month (see partitions.ts): the table so far becomes the recent one, and the
  // ingest worker moves its quiet rows on into their months, a chunk at a time, so a large index is
  // converted while the gateway runs (progress in the log) instead of in one long migration.
  `ALTER TABLE event_index RENAME TO event_recent;
   CREATE TABLE event_partitions (
     name TEXT PRIMARY KEY,
     month INTEGER UNIQUE,
     rows INTEGER NOT NULL DEFAULT 0,
     filter BLOB,
     filter_capacity INTEGER NOT NULL,
     filter_rows INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE event_catalogue (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL);
   INSERT INTO event_catalogue (id, gen) VALUES (1, 0);`,
  // A month in parts (PART_ROWS each, see partitions.ts): a month may name several tables. The catalogue
  // is a few dozen rows; copied as it is, the existing month tables are each their month's first part.
  `CREATE TABLE event_partitions_next (
     name TEXT PRIMARY KEY,
     month INTEGER,
     rows INTEGER NOT NULL DEFAULT 0,
     filter BLOB,
     filter_capacity INTEGER NOT NULL,
     filter_rows INTEGER NOT NULL DEFAULT 0
   );
   INSERT INTO event_partitions_next SELECT name, month, rows, filter, filter_capacity, filter_rows FROM event_partitions;
   DROP TABLE event_partitions;
   ALTER TABLE event_partitions_next RENAME TO event_partitions;`,
  // Gateways sharing PostgreSQL copy their indexed events to it (event-shipper.ts): the ids of events
  // whose rows changed, written in the transaction that changed them, until shipped.
  `CREATE TABLE event_outbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL);`,
  // How far the copy of the events indexed before the gateway joined a shared database has got, per
  // database (event-backfill.ts), so a restart resumes it.
  `CREATE TABLE event_backfill (
     target TEXT PRIMARY KEY,
     tbl TEXT NOT NULL,
     after_rowid INTEGER NOT NULL,
     queued INTEGER NOT NULL
   );`,
]
