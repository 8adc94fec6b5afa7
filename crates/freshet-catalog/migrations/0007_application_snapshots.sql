-- Snapshots of Flink applications (Managed Service for Apache Flink's savepoints): the runner's
-- state and source positions as one document, kept by name until deleted (AWS never deletes a
-- snapshot itself). `version` is the application version the snapshot was taken for. They go
-- with their application.
CREATE TABLE application_snapshots (
    app_uid      INTEGER NOT NULL REFERENCES applications(uid) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    doc          TEXT    NOT NULL,
    PRIMARY KEY (app_uid, name)
);
