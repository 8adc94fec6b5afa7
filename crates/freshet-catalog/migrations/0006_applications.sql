-- Kinesis Data Analytics applications. `doc` is the application (configuration, status, version,
-- tags, version history) as JSON owned by freshet-analytics; the columns are what the catalog
-- itself needs to find and order them.
CREATE TABLE applications (
    uid          INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    doc          TEXT    NOT NULL
);

-- Where a running application resumes: its operators' state and its input positions as one
-- document, so both move together (a restart never replays records into state that already
-- counted them, nor skips records whose effect the state lost).
CREATE TABLE application_checkpoints (
    app_uid      INTEGER PRIMARY KEY REFERENCES applications(uid) ON DELETE CASCADE,
    doc          TEXT    NOT NULL
);
