-- Firehose delivery streams. `doc` is the delivery stream's configuration (type, source,
-- destination, encryption, tags) as JSON owned by freshet-firehose; the columns are what the
-- catalog itself needs to find and order them.
CREATE TABLE delivery_streams (
    uid          INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    doc          TEXT    NOT NULL
);

-- Where each delivery worker resumes: per delivery stream and source (the delivery stream's own
-- log, or a source Kinesis shard), the position after the last record a destination accepted.
CREATE TABLE delivery_checkpoints (
    stream_uid   INTEGER NOT NULL REFERENCES delivery_streams(uid) ON DELETE CASCADE,
    source       TEXT    NOT NULL,
    position     TEXT    NOT NULL,
    PRIMARY KEY (stream_uid, source)
);
