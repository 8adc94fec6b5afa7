-- Streams, their shards (with lineage) and tags. Hash keys are stored as decimal text because SQLite
-- integers are 64-bit and Kinesis hash keys are 128-bit.
CREATE TABLE streams (
    uid                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    mode                 TEXT    NOT NULL,
    created_ms           INTEGER NOT NULL,
    retention_hours      INTEGER NOT NULL,
    encryption_type      TEXT    NOT NULL DEFAULT 'NONE',
    key_id               TEXT,
    shard_level_metrics  TEXT    NOT NULL DEFAULT '[]',
    max_record_size_kib  INTEGER NOT NULL,
    next_shard_index     INTEGER NOT NULL,
    warm_throughput_mibps INTEGER
);
CREATE UNIQUE INDEX streams_name ON streams(name);

CREATE TABLE shards (
    stream_uid           INTEGER NOT NULL REFERENCES streams(uid) ON DELETE CASCADE,
    shard_index          INTEGER NOT NULL,
    hash_start           TEXT    NOT NULL,
    hash_end             TEXT    NOT NULL,
    parent_index         INTEGER,
    adjacent_parent_index INTEGER,
    created_ms           INTEGER NOT NULL,
    closed_next_offset   INTEGER,
    PRIMARY KEY (stream_uid, shard_index)
);

CREATE TABLE tags (
    stream_uid           INTEGER NOT NULL REFERENCES streams(uid) ON DELETE CASCADE,
    key                  TEXT    NOT NULL,
    value                TEXT    NOT NULL,
    PRIMARY KEY (stream_uid, key)
);

CREATE TABLE resource_policies (
    resource_arn         TEXT PRIMARY KEY,
    policy               TEXT NOT NULL
);

CREATE TABLE settings (
    key                  TEXT PRIMARY KEY,
    value                BLOB NOT NULL
);
