-- Every holding of a lease, one row per epoch: when it was taken, until when it was last renewed
-- to run, and when its holder gave it up (NULL: it lapsed). Shows that no two holdings of a
-- lease overlapped: each was taken after the one before ended or expired.
CREATE TABLE lease_log (
    name         TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    holder       TEXT    NOT NULL,
    acquired_ms  INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL,
    ended_ms     INTEGER,
    PRIMARY KEY (name, epoch)
);
