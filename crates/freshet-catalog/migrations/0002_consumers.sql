-- Registered stream consumers (enhanced fan-out). Tags are a JSON object.
CREATE TABLE consumers (
    stream_uid           INTEGER NOT NULL REFERENCES streams(uid) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    created_ms           INTEGER NOT NULL,
    status               TEXT    NOT NULL,
    tags                 TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (stream_uid, name)
);
