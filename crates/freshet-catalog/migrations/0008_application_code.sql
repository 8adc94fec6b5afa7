-- Code archives of Flink applications that are not SQL (JARs), which a Flink cluster runs: an
-- inline ZipFileContent is not kept in the application's document (only its MD5 and size, as
-- AWS describes it), so the bytes live here, by MD5, for as long as the application (a rollback
-- may start an older version's JAR).
CREATE TABLE application_code (
    app_uid  INTEGER NOT NULL REFERENCES applications(uid) ON DELETE CASCADE,
    md5      TEXT    NOT NULL,
    bytes    BLOB    NOT NULL,
    PRIMARY KEY (app_uid, md5)
);
