-- Cluster mode's record index. Record data lives in objects (one per node flush, holding batches
-- of many shards); this says which bytes of which object hold which offsets of which shard.
-- `log` names one service's log (streams, firehose, video): their stream ids are their own.

-- One row per node name: the epoch of its current writer (fencing a stale process that still
-- runs under the same name) and whether that writer closed cleanly.
CREATE TABLE log_nodes (
    log         TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    epoch       BIGINT  NOT NULL,
    clean       BOOLEAN NOT NULL,
    PRIMARY KEY (log, node)
);

-- Writer epochs, shared by every node: each open of the log takes the next one.
CREATE SEQUENCE log_epochs;

-- A shard log: its next offset (assigned here, in commit order, so per-shard order is commit
-- order), its trim horizon and the arrival time of its newest batch (arrival never goes back).
CREATE TABLE log_shards (
    log             TEXT   NOT NULL,
    stream          BIGINT NOT NULL,
    shard           BIGINT NOT NULL,
    next_offset     BIGINT NOT NULL,
    trim_offset     BIGINT NOT NULL,
    last_arrival_ms BIGINT NOT NULL,
    PRIMARY KEY (log, stream, shard)
);

-- An object holding committed batches.
CREATE TABLE log_objects (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         TEXT   NOT NULL UNIQUE,
    bytes       BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);

-- One append batch: offsets first_offset..first_offset+count of a shard, at bytes
-- byte_start..byte_start+byte_len of an object.
CREATE TABLE log_ranges (
    log          TEXT   NOT NULL,
    stream       BIGINT NOT NULL,
    shard        BIGINT NOT NULL,
    first_offset BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    arrival_ms   BIGINT NOT NULL,
    object_id    BIGINT NOT NULL REFERENCES log_objects(id),
    byte_start   BIGINT NOT NULL,
    byte_len     BIGINT NOT NULL,
    data_bytes   BIGINT NOT NULL,
    PRIMARY KEY (log, stream, shard, first_offset)
);
CREATE INDEX log_ranges_object ON log_ranges(object_id);
-- Time lookups (AT_TIMESTAMP iterators, retention) without scanning a shard's ranges.
CREATE INDEX log_ranges_arrival ON log_ranges(log, stream, shard, arrival_ms);
