-- Kinesis Video signaling channels. `doc` is the channel's description (type, status, version,
-- message TTL, tags) as JSON owned by freshet-signaling; the columns are what the catalog itself
-- needs to find and order them.
CREATE TABLE signaling_channels (
    uid          INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    doc          TEXT    NOT NULL
);
