-- Kinesis Video streams. `doc` is the stream's description (status, version, device, media type,
-- KMS key, retention, tags, image-generation and notification configurations) as JSON owned by
-- freshet-video; the columns are what the catalog itself needs to find and order them.
CREATE TABLE video_streams (
    uid          INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    doc          TEXT    NOT NULL
);
