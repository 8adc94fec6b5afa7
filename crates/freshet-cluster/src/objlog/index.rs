//! The record index in PostgreSQL: shards with their next offsets and trim horizons, objects, and
//! the ranges of offsets each object holds. Every change is one transaction.

use freshet_log::{LogError, ShardLogId};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::tails::Event;

/// One log's index: the rows of the log named `log` (the cluster keeps one per service).
pub(crate) struct Index {
    pub pool: PgPool,
    pub log: String,
}

impl Index {
    /// The channel this log's commits notify and its nodes listen on.
    pub(crate) fn channel(&self) -> String {
        format!("freshet_log_{}", self.log)
    }
}

/// One append batch placed in an object, waiting for its offsets.
pub(crate) struct Placed {
    pub id: ShardLogId,
    pub count: u64,
    pub byte_start: u64,
    pub byte_len: u64,
    pub data_bytes: u64,
}

/// A committed batch: where it is and which offsets it holds.
pub(crate) struct Range {
    pub object_id: i64,
    pub first_offset: u64,
    pub count: u64,
    pub arrival_ms: i64,
    pub key: String,
    pub byte_start: u64,
    pub byte_len: u64,
    pub data_bytes: u64,
}

pub(crate) fn db(e: sqlx::Error) -> LogError {
    LogError::Io(std::io::Error::other(format!("log index: {e}")))
}

fn shard_binds(id: ShardLogId) -> (i64, i64) {
    (id.stream as i64, i64::from(id.shard))
}

/// Takes this node's next writer epoch; returns it and whether the previous writer under the
/// same name closed cleanly (true for a new name). `Fenced` if a process claiming the same name
/// at the same moment took a newer epoch: the stored epoch only grows.
pub(crate) async fn claim_node(ix: &Index, node: &str) -> Result<(u64, bool), LogError> {
    let mut tx = ix.pool.begin().await.map_err(db)?;
    let previous: Option<bool> =
        sqlx::query_scalar("SELECT clean FROM log_nodes WHERE node = $1 AND log = $2 FOR UPDATE")
            .bind(node)
            .bind(&ix.log)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let epoch: i64 = sqlx::query_scalar("SELECT nextval('log_epochs')")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let stored: i64 = sqlx::query_scalar(
        "INSERT INTO log_nodes (log, node, epoch, clean) VALUES ($3, $1, $2, false)
         ON CONFLICT (log, node) DO UPDATE
           SET epoch = GREATEST(log_nodes.epoch, excluded.epoch), clean = false
         RETURNING epoch",
    )
    .bind(node)
    .bind(epoch)
    .bind(&ix.log)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    if stored != epoch {
        return Err(LogError::Fenced(epoch as u64));
    }
    Ok((epoch as u64, previous.unwrap_or(true)))
}

/// Marks this node's writer closed cleanly, unless a newer one took its name over.
pub(crate) async fn release_node(ix: &Index, node: &str, epoch: u64) -> Result<(), LogError> {
    sqlx::query("UPDATE log_nodes SET clean = true WHERE node = $1 AND epoch = $2 AND log = $3")
        .bind(node)
        .bind(epoch as i64)
        .bind(&ix.log)
        .execute(&ix.pool)
        .await
        .map_err(db)?;
    Ok(())
}

/// Every shard with its next offset.
pub(crate) async fn shards(ix: &Index) -> Result<Vec<(ShardLogId, u64)>, LogError> {
    let rows = sqlx::query("SELECT stream, shard, next_offset FROM log_shards WHERE log = $1")
        .bind(&ix.log)
        .fetch_all(&ix.pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok((
                ShardLogId {
                    stream: r.try_get::<i64, _>(0)? as u64,
                    shard: r.try_get::<i64, _>(1)? as u32,
                },
                r.try_get::<i64, _>(2)? as u64,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)
}

async fn notify(
    ix: &Index,
    tx: &mut Transaction<'_, Postgres>,
    events: &[Event],
) -> Result<(), LogError> {
    let payloads: Vec<String> = events.iter().map(Event::encode).collect();
    sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
        .bind(ix.channel())
        .bind(payloads)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

/// Creates a shard (idempotent); its next offset.
pub(crate) async fn create_shard(ix: &Index, id: ShardLogId) -> Result<u64, LogError> {
    let (stream, shard) = shard_binds(id);
    let mut tx = ix.pool.begin().await.map_err(db)?;
    let created = sqlx::query(
        "INSERT INTO log_shards (log, stream, shard, next_offset, trim_offset, last_arrival_ms)
         VALUES ($3, $1, $2, 0, 0, 0) ON CONFLICT DO NOTHING",
    )
    .bind(stream)
    .bind(shard)
    .bind(&ix.log)
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected()
        == 1;
    if created {
        notify(ix, &mut tx, &[Event::Created(id)]).await?;
    }
    let next: i64 = sqlx::query_scalar(
        "SELECT next_offset FROM log_shards WHERE stream = $1 AND shard = $2 AND log = $3",
    )
    .bind(stream)
    .bind(shard)
    .bind(&ix.log)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(next as u64)
}

/// Deletes a shard and its ranges; the objects left without ranges, to delete from the store.
pub(crate) async fn remove_shard(ix: &Index, id: ShardLogId) -> Result<Vec<i64>, LogError> {
    let (stream, shard) = shard_binds(id);
    let mut tx = ix.pool.begin().await.map_err(db)?;
    // The shard's row first: this waits for a commit, trim or compaction that holds it, and the
    // ranges are deleted after, seeing whatever that one added.
    let removed =
        sqlx::query("DELETE FROM log_shards WHERE stream = $1 AND shard = $2 AND log = $3")
            .bind(stream)
            .bind(shard)
            .bind(&ix.log)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
            == 1;
    let objects: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM log_ranges WHERE stream = $1 AND shard = $2 AND log = $3
         RETURNING object_id",
    )
    .bind(stream)
    .bind(shard)
    .bind(&ix.log)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    if removed {
        notify(ix, &mut tx, &[Event::Removed(id)]).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(objects)
}

/// (trim horizon, next offset).
pub(crate) async fn bounds(ix: &Index, id: ShardLogId) -> Result<(u64, u64), LogError> {
    let (stream, shard) = shard_binds(id);
    let row = sqlx::query(
        "SELECT trim_offset, next_offset FROM log_shards
         WHERE stream = $1 AND shard = $2 AND log = $3",
    )
    .bind(stream)
    .bind(shard)
    .bind(&ix.log)
    .fetch_optional(&ix.pool)
    .await
    .map_err(db)?
    .ok_or(LogError::ShardNotFound(id))?;
    Ok((
        row.try_get::<i64, _>(0).map_err(db)? as u64,
        row.try_get::<i64, _>(1).map_err(db)? as u64,
    ))
}

/// The columns `range_of` reads, with the join that gives a range its object's key.
const RANGE_SELECT: &str = "SELECT r.first_offset, r.count, r.arrival_ms, o.key, r.byte_start,
           r.byte_len, r.data_bytes, r.object_id
         FROM log_ranges r JOIN log_objects o ON o.id = r.object_id";

fn range_of(r: &sqlx::postgres::PgRow) -> Result<Range, LogError> {
    let int = |i: usize| r.try_get::<i64, _>(i).map_err(db);
    Ok(Range {
        first_offset: int(0)? as u64,
        count: int(1)? as u64,
        arrival_ms: int(2)?,
        key: r.try_get(3).map_err(db)?,
        byte_start: int(4)? as u64,
        byte_len: int(5)? as u64,
        data_bytes: int(6)? as u64,
        object_id: int(7)?,
    })
}

/// Up to `limit` committed ranges holding offsets in `from..until`, in offset order.
pub(crate) async fn ranges(
    ix: &Index,
    id: ShardLogId,
    from: u64,
    until: u64,
    limit: usize,
) -> Result<Vec<Range>, LogError> {
    let (stream, shard) = shard_binds(id);
    let rows = sqlx::query(&format!(
        "{RANGE_SELECT}
         WHERE r.stream = $1 AND r.shard = $2 AND r.first_offset + r.count > $3
           AND r.first_offset < $4 AND r.log = $6
           -- From the range holding $3, found through the key, not by scanning from the horizon.
           AND r.first_offset >= COALESCE((SELECT max(h.first_offset) FROM log_ranges h
             WHERE h.log = $6 AND h.stream = $1 AND h.shard = $2 AND h.first_offset <= $3), 0)
         ORDER BY r.first_offset LIMIT $5"
    ))
    .bind(stream)
    .bind(shard)
    .bind(from as i64)
    .bind(until as i64)
    .bind(limit as i64)
    .bind(&ix.log)
    .fetch_all(&ix.pool)
    .await
    .map_err(db)?;
    rows.iter().map(range_of).collect()
}

/// The first retained offset that arrived at or after `ts_ms`, else the next offset.
pub(crate) async fn offset_at_time(
    ix: &Index,
    id: ShardLogId,
    ts_ms: i64,
) -> Result<u64, LogError> {
    let (stream, shard) = shard_binds(id);
    let row = sqlx::query(
        "SELECT s.next_offset,
           (SELECT min(r.first_offset) FROM log_ranges r
             WHERE r.log = s.log AND r.stream = s.stream AND r.shard = s.shard
               AND r.arrival_ms >= $3)
         FROM log_shards s WHERE s.stream = $1 AND s.shard = $2 AND s.log = $4",
    )
    .bind(stream)
    .bind(shard)
    .bind(ts_ms)
    .bind(&ix.log)
    .fetch_optional(&ix.pool)
    .await
    .map_err(db)?
    .ok_or(LogError::ShardNotFound(id))?;
    let next: i64 = row.try_get(0).map_err(db)?;
    let first: Option<i64> = row.try_get(1).map_err(db)?;
    Ok(first.unwrap_or(next) as u64)
}

/// Takes the shard's row until the transaction ends, as commits, trims, compactions and
/// removals do: one of them at a time per shard. Whether the shard exists.
async fn lock_shard(
    ix: &Index,
    tx: &mut Transaction<'_, Postgres>,
    id: ShardLogId,
) -> Result<bool, LogError> {
    let (stream, shard) = shard_binds(id);
    let row = sqlx::query(
        "SELECT 1 FROM log_shards WHERE stream = $1 AND shard = $2 AND log = $3 FOR UPDATE",
    )
    .bind(stream)
    .bind(shard)
    .bind(&ix.log)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    Ok(row.is_some())
}

/// Drops the ranges that arrived before `cutoff_ms` and moves the trim horizon past them;
/// returns the bytes they held and the objects they were in.
pub(crate) async fn trim_before(
    ix: &Index,
    id: ShardLogId,
    cutoff_ms: i64,
) -> Result<(u64, Vec<i64>), LogError> {
    let (stream, shard) = shard_binds(id);
    let mut tx = ix.pool.begin().await.map_err(db)?;
    if !lock_shard(ix, &mut tx, id).await? {
        return Err(LogError::ShardNotFound(id));
    }
    let gone = sqlx::query(
        "DELETE FROM log_ranges WHERE stream = $1 AND shard = $2 AND arrival_ms < $3 AND log = $4
         RETURNING first_offset + count, byte_len, object_id",
    )
    .bind(stream)
    .bind(shard)
    .bind(cutoff_ms)
    .bind(&ix.log)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let mut horizon = 0i64;
    let mut freed = 0u64;
    let mut objects = Vec::with_capacity(gone.len());
    for row in &gone {
        horizon = horizon.max(row.try_get(0).map_err(db)?);
        freed += row.try_get::<i64, _>(1).map_err(db)? as u64;
        objects.push(row.try_get(2).map_err(db)?);
    }
    sqlx::query(
        "UPDATE log_shards SET trim_offset = GREATEST(trim_offset, $3)
         WHERE stream = $1 AND shard = $2 AND log = $4",
    )
    .bind(stream)
    .bind(shard)
    .bind(horizon)
    .bind(&ix.log)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    objects.sort_unstable();
    objects.dedup();
    Ok((freed, objects))
}

/// Forgets those of `objects` that no range points into any more; their keys, to delete from
/// the store. Run after the transaction that dropped the ranges committed, so that of two
/// trims emptying one object together at least the later sees it empty.
pub(crate) async fn forget_empty_objects(
    ix: &Index,
    objects: &[i64],
) -> Result<Vec<String>, LogError> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "DELETE FROM log_objects o WHERE o.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM log_ranges r WHERE r.object_id = o.id)
         RETURNING o.key",
    )
    .bind(objects)
    .fetch_all(&ix.pool)
    .await
    .map_err(db)
}

/// Whether a commit of this node indexed the object at `key`. A commit whose answer was lost
/// may still be running on another connection: it holds this node's row until it ends, so the
/// answer waits for it (up to a lock timeout, then an error: undecided).
pub(crate) async fn is_indexed(ix: &Index, node: &str, key: &str) -> Result<bool, LogError> {
    let mut tx = ix.pool.begin().await.map_err(db)?;
    sqlx::query("SET LOCAL lock_timeout = '10s'")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query("SELECT 1 FROM log_nodes WHERE log = $1 AND node = $2 FOR UPDATE")
        .bind(&ix.log)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM log_objects WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    Ok(found.is_some())
}

/// The keys under `prefix` the index knows.
pub(crate) async fn known_objects(ix: &Index, prefix: &str) -> Result<Vec<String>, LogError> {
    sqlx::query_scalar("SELECT key FROM log_objects WHERE starts_with(key, $1)")
        .bind(prefix)
        .fetch_all(&ix.pool)
        .await
        .map_err(db)
}

/// Locks this node's row until the transaction ends: a newer writer under the same name waits
/// for it or, once it has claimed the name (and may be sweeping this writer's objects), makes it
/// fail here with `Fenced`.
async fn fence(
    ix: &Index,
    tx: &mut Transaction<'_, Postgres>,
    node: &str,
    epoch: u64,
) -> Result<(), LogError> {
    let current = sqlx::query(
        "UPDATE log_nodes SET clean = false WHERE node = $1 AND epoch = $2 AND log = $3",
    )
    .bind(node)
    .bind(epoch as i64)
    .bind(&ix.log)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected()
        == 1;
    if current {
        Ok(())
    } else {
        Err(LogError::Fenced(epoch))
    }
}

/// Commits one flushed object: fences this writer, indexes the object, assigns each placed
/// batch its offsets (batches of one shard in the order given) and arrival, and notifies every
/// node. Per batch: its (first offset, arrival), or `ShardNotFound`. Nothing is committed when
/// no batch found its shard.
pub(crate) async fn commit(
    ix: &Index,
    node: &str,
    epoch: u64,
    key: &str,
    object_bytes: u64,
    now_ms: i64,
    placed: &[Placed],
) -> Result<Vec<Result<(u64, i64), LogError>>, LogError> {
    let mut tx = ix.pool.begin().await.map_err(db)?;
    fence(ix, &mut tx, node, epoch).await?;

    // The shards' rows, locked in one order by every node so that two commits touching the
    // same shards queue instead of deadlocking.
    let mut ids: Vec<ShardLogId> = placed.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let (streams, shards): (Vec<i64>, Vec<i64>) = ids.iter().map(|&id| shard_binds(id)).unzip();
    let rows = sqlx::query(
        "SELECT stream, shard, next_offset, last_arrival_ms FROM log_shards
         WHERE log = $3 AND (stream, shard) IN (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))
         ORDER BY stream, shard FOR UPDATE",
    )
    .bind(&streams)
    .bind(&shards)
    .bind(&ix.log)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    // shard -> (next offset, arrival of this commit)
    let mut heads = std::collections::BTreeMap::new();
    for r in &rows {
        let id = ShardLogId {
            stream: r.try_get::<i64, _>(0).map_err(db)? as u64,
            shard: r.try_get::<i64, _>(1).map_err(db)? as u32,
        };
        let last: i64 = r.try_get(3).map_err(db)?;
        heads.insert(
            id,
            (r.try_get::<i64, _>(2).map_err(db)? as u64, last.max(now_ms)),
        );
    }
    if heads.is_empty() {
        return Ok(placed
            .iter()
            .map(|p| Err(LogError::ShardNotFound(p.id)))
            .collect());
    }

    let object_id: i64 = sqlx::query_scalar(
        "INSERT INTO log_objects (key, bytes, created_ms) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(key)
    .bind(object_bytes as i64)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;

    let mut outcome = Vec::with_capacity(placed.len());
    let mut cols: [Vec<i64>; 8] = Default::default();
    for p in placed {
        let Some((next, arrival)) = heads.get_mut(&p.id) else {
            outcome.push(Err(LogError::ShardNotFound(p.id)));
            continue;
        };
        outcome.push(Ok((*next, *arrival)));
        let (stream, shard) = shard_binds(p.id);
        for (col, v) in cols.iter_mut().zip([
            stream,
            shard,
            *next as i64,
            p.count as i64,
            *arrival,
            p.byte_start as i64,
            p.byte_len as i64,
            p.data_bytes as i64,
        ]) {
            col.push(v);
        }
        *next += p.count;
    }
    sqlx::query(
        "INSERT INTO log_ranges
           (log, stream, shard, first_offset, count, arrival_ms, byte_start, byte_len, data_bytes,
            object_id)
         SELECT $10, *, $9 FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
           $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])",
    )
    .bind(&cols[0])
    .bind(&cols[1])
    .bind(&cols[2])
    .bind(&cols[3])
    .bind(&cols[4])
    .bind(&cols[5])
    .bind(&cols[6])
    .bind(&cols[7])
    .bind(object_id)
    .bind(&ix.log)
    .execute(&mut *tx)
    .await
    .map_err(db)?;

    let (streams, shards, nexts, arrivals) = heads.iter().fold(
        (vec![], vec![], vec![], vec![]),
        |(mut s, mut h, mut n, mut a), (&id, &(next, arrival))| {
            let (stream, shard) = shard_binds(id);
            s.push(stream);
            h.push(shard);
            n.push(next as i64);
            a.push(arrival);
            (s, h, n, a)
        },
    );
    sqlx::query(
        "UPDATE log_shards s SET next_offset = t.next, last_arrival_ms = t.arrival
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
           AS t(stream, shard, next, arrival)
         WHERE s.log = $5 AND s.stream = t.stream AND s.shard = t.shard",
    )
    .bind(&streams)
    .bind(&shards)
    .bind(&nexts)
    .bind(&arrivals)
    .bind(&ix.log)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let events: Vec<Event> = heads
        .iter()
        .map(|(&id, &(next, _))| Event::Appended(id, next))
        .collect();
    notify(ix, &mut tx, &events).await?;
    tx.commit().await.map_err(db)?;
    Ok(outcome)
}

/// Up to `limit` ranges of a shard, in offset order from its horizon, that arrived before
/// `before_ms` and sit in objects smaller than `small_bytes`: what compaction may merge.
pub(crate) async fn small_ranges(
    ix: &Index,
    id: ShardLogId,
    before_ms: i64,
    small_bytes: u64,
    limit: usize,
) -> Result<Vec<Range>, LogError> {
    let (stream, shard) = shard_binds(id);
    let rows = sqlx::query(&format!(
        "{RANGE_SELECT}
         WHERE r.log = $1 AND r.stream = $2 AND r.shard = $3 AND r.arrival_ms < $4
           AND o.bytes < $5
         ORDER BY r.first_offset LIMIT $6"
    ))
    .bind(&ix.log)
    .bind(stream)
    .bind(shard)
    .bind(before_ms)
    .bind(small_bytes as i64)
    .bind(limit as i64)
    .fetch_all(&ix.pool)
    .await
    .map_err(db)?;
    rows.iter().map(range_of).collect()
}

/// Points `old` ranges of a shard at their copies in the object `key` (`new_starts`: where
/// each one's bytes begin in it), in one transaction, if every one of them is still where it
/// was (no trim or other compaction moved them meanwhile) and this writer is not fenced. Whether
/// it did.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_ranges(
    ix: &Index,
    node: &str,
    epoch: u64,
    id: ShardLogId,
    old: &[Range],
    new_starts: &[u64],
    key: &str,
    object_bytes: u64,
    now_ms: i64,
) -> Result<bool, LogError> {
    let (stream, shard) = shard_binds(id);
    let mut tx = ix.pool.begin().await.map_err(db)?;
    fence(ix, &mut tx, node, epoch).await?;
    if !lock_shard(ix, &mut tx, id).await? {
        return Ok(false);
    }
    let firsts: Vec<i64> = old.iter().map(|r| r.first_offset as i64).collect();
    let objects: Vec<i64> = old.iter().map(|r| r.object_id).collect();
    let moved = sqlx::query(
        "DELETE FROM log_ranges WHERE log = $1 AND stream = $2 AND shard = $3
           AND (first_offset, object_id) IN (SELECT * FROM UNNEST($4::bigint[], $5::bigint[]))",
    )
    .bind(&ix.log)
    .bind(stream)
    .bind(shard)
    .bind(&firsts)
    .bind(&objects)
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if moved != old.len() as u64 {
        // Dropping the transaction rolls the deletions back.
        return Ok(false);
    }
    let object_id: i64 = sqlx::query_scalar(
        "INSERT INTO log_objects (key, bytes, created_ms) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(key)
    .bind(object_bytes as i64)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let col = |f: &dyn Fn(&Range) -> i64| old.iter().map(f).collect::<Vec<i64>>();
    let starts: Vec<i64> = new_starts.iter().map(|&s| s as i64).collect();
    sqlx::query(
        "INSERT INTO log_ranges
           (log, stream, shard, object_id, first_offset, count, arrival_ms, byte_start, byte_len,
            data_bytes)
         SELECT $1, $2, $3, $4, * FROM UNNEST($5::bigint[], $6::bigint[], $7::bigint[],
           $8::bigint[], $9::bigint[], $10::bigint[])",
    )
    .bind(&ix.log)
    .bind(stream)
    .bind(shard)
    .bind(object_id)
    .bind(&firsts)
    .bind(col(&|r| r.count as i64))
    .bind(col(&|r| r.arrival_ms))
    .bind(&starts)
    .bind(col(&|r| r.byte_len as i64))
    .bind(col(&|r| r.data_bytes as i64))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}
