-- Leases on background work (a delivery worker, an application, a scaler): who runs it, until
-- when, and the epoch that grows each time it changes hands. Writes made under a lease check the
-- epoch in the same transaction (fencing), so a holder that lost its lease cannot commit.
CREATE TABLE leases (
    name         TEXT    PRIMARY KEY,
    holder       TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
);
