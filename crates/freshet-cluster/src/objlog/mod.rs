//! The record log of a cluster node on object storage, indexed in PostgreSQL (`index`).
//!
//! Appends wait in a queue; a flusher writes everything queued, for all shards, as one object
//! (`<prefix>/log/<node>/<epoch>-<seq>`), then commits the object's ranges in one transaction
//! (`index::commit`), and only then acknowledges the appends. A crash before the commit leaves
//! an object no range points into (swept at the node's next start) and no acknowledged append;
//! a crash after it leaves every acknowledged record committed in both places.

mod cache;
mod index;
mod tails;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use freshet_log::batch::{check_records, decode_batch, encode_batch};
use freshet_log::{Appended, BoxFuture, LogBackend, LogError, NewRecord, Record, ShardLogId};
use freshet_runtime::SharedClock;
use freshet_runtime::metrics::{Exposition, Histogram};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use cache::BatchCache;
use tails::{Event, Tails};

/// How a node's log batches and caches.
#[derive(Clone)]
pub struct ObjectLogConfig {
    /// The log's name in the cluster ([a-z0-9_]): each service keeps its own (their stream ids
    /// are their own).
    pub log: String,
    /// This node's name: unique in the cluster, stable across its restarts ([A-Za-z0-9._-]).
    pub node: String,
    /// The longest an append waits for its object to be written.
    pub flush_interval: Duration,
    /// An object is written as soon as this much is queued, and holds at most this much (or
    /// one batch, if larger).
    pub flush_bytes: usize,
    /// Appends wait for room once this much is queued or being flushed.
    pub queue_bytes: usize,
    /// Recent batches kept in memory for readers.
    pub cache_bytes: usize,
    /// How often the node looks for shards to compact (`Duration::ZERO`: never).
    pub compact_interval: Duration,
    /// Ranges younger than this are left alone: tails read them from the writers' caches.
    pub compact_after: Duration,
    /// Objects smaller than this are compaction's input, and its output is at most this big.
    pub compact_bytes: usize,
    pub clock: SharedClock,
    /// A test's fault plan: consulted at each `FaultPoint`, a `true` fails the operation there.
    pub faults: Option<FaultPlan>,
}

/// Where the commit protocol can be made to fail, as the database client would: before the
/// transaction reaches the database, or after it committed but before the answer came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    BeforeCommit,
    AfterCommit,
}

pub type FaultPlan = Arc<dyn Fn(FaultPoint) -> bool + Send + Sync>;

impl ObjectLogConfig {
    pub fn new(log: impl Into<String>, node: impl Into<String>) -> ObjectLogConfig {
        ObjectLogConfig {
            log: log.into(),
            node: node.into(),
            flush_interval: Duration::from_millis(50),
            flush_bytes: 8 << 20,
            queue_bytes: 64 << 20,
            cache_bytes: 256 << 20,
            compact_interval: Duration::from_secs(60),
            compact_after: Duration::from_secs(10),
            compact_bytes: 8 << 20,
            clock: SharedClock::system(),
            faults: None,
        }
    }
}

/// Ranges fetched at once by one read.
const READ_RANGES: usize = 64;
/// Ranged GETs a read keeps in flight.
const READ_CONCURRENCY: usize = 8;

pub struct ObjectLog {
    inner: Arc<Inner>,
    /// Held across the whole of `close`, so a second close waits for the first.
    flusher: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    listener: JoinHandle<()>,
    resync: JoinHandle<()>,
    compactor: Option<JoinHandle<()>>,
}

struct Inner {
    cfg: ObjectLogConfig,
    index: index::Index,
    store: Arc<dyn ObjectStore>,
    /// `<prefix>/<log>/<node>/`: where this node's objects go.
    node_prefix: String,
    epoch: u64,
    clean: bool,
    closed: AtomicBool,
    next_object: AtomicU64,
    queue: Mutex<Queue>,
    /// Room in the queue, in KiB: appends take theirs before queueing, a flush gives it back.
    room: Arc<tokio::sync::Semaphore>,
    /// Work queued (or the log closing).
    queued: Notify,
    /// A full object's worth queued (or the log closing): flush without waiting.
    full: Notify,
    tails: Tails,
    cache: BatchCache,
    stats: Stats,
}

#[derive(Default)]
struct Queue {
    batches: Vec<Queued>,
    bytes: usize,
}

struct Queued {
    id: ShardLogId,
    records: Vec<NewRecord>,
    bytes: usize,
    reply: oneshot::Sender<Result<Appended, LogError>>,
    _room: tokio::sync::OwnedSemaphorePermit,
}

struct Stats {
    flush_latency: Histogram,
    object_bytes: Histogram,
    objects: AtomicU64,
    appends: AtomicU64,
    records: AtomicU64,
}

impl ObjectLog {
    /// Opens this node's log over the shared database and store; `prefix` is the path under
    /// which every node of the cluster keeps its objects.
    pub async fn open(
        pool: PgPool,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        cfg: ObjectLogConfig,
    ) -> Result<ObjectLog, LogError> {
        let invalid = |what: &str, name: &str, allowed: &str| {
            Err(LogError::Io(std::io::Error::other(format!(
                "{what} name {name:?} must be {allowed}"
            ))))
        };
        // Names and prefix must be what object_store's paths keep as written: the sweep
        // compares listed paths with the keys the index holds.
        if !cfg.node.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !cfg
                .node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return invalid(
                "node",
                &cfg.node,
                "a letter or digit, then letters, digits, '.', '_' or '-'",
            );
        }
        // It names a notification channel, which PostgreSQL limits to 63 bytes.
        if cfg.log.is_empty()
            || cfg.log.len() > 40
            || !cfg
                .log
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return invalid("log", &cfg.log, "1 to 40 of a-z, 0-9 and '_'");
        }
        crate::schema::migrate(&pool).await.map_err(index::db)?;
        let index = index::Index {
            pool,
            log: cfg.log.clone(),
        };
        let (epoch, clean) = index::claim_node(&index, &cfg.node).await?;
        let prefix = prefix.trim_matches('/');
        if Path::from(prefix).as_ref() != prefix {
            return invalid(
                "object store prefix",
                prefix,
                "path segments without empty parts or characters object stores escape",
            );
        }
        let node_prefix = if prefix.is_empty() {
            format!("{}/{}/", cfg.log, cfg.node)
        } else {
            format!("{prefix}/{}/{}/", cfg.log, cfg.node)
        };
        let cfg_queue_kib = cfg.queue_bytes >> 10;
        let inner = Arc::new(Inner {
            cache: BatchCache::new(cfg.cache_bytes),
            cfg,
            index,
            store,
            node_prefix,
            epoch,
            clean,
            closed: AtomicBool::new(false),
            next_object: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            room: Arc::new(tokio::sync::Semaphore::new((cfg_queue_kib).max(1))),
            queued: Notify::new(),
            full: Notify::new(),
            tails: Tails::default(),
            stats: Stats {
                flush_latency: Histogram::latency(),
                object_bytes: Histogram::sizes(),
                objects: AtomicU64::new(0),
                appends: AtomicU64::new(0),
                records: AtomicU64::new(0),
            },
        });
        // After claiming the name, so no earlier process under it can still commit what is swept.
        inner.sweep_unindexed().await?;
        inner.tails.catch_up(&index::shards(&inner.index).await?);
        let listener = tokio::spawn(listen(inner.clone()));
        let resync = tokio::spawn(resync_loop(inner.clone()));
        let flusher = tokio::spawn(flush_loop(inner.clone()));
        let compactor = (!inner.cfg.compact_interval.is_zero())
            .then(|| tokio::spawn(compact_loop(inner.clone())));
        tracing::info!(node = %inner.cfg.node, epoch, clean, "cluster log opened");
        Ok(ObjectLog {
            inner,
            flusher: tokio::sync::Mutex::new(Some(flusher)),
            listener,
            resync,
            compactor,
        })
    }

    /// Merges, for every shard this node knows, a run of consecutive batches that sit in small
    /// objects into one object of that shard alone, so that reading the shard back takes one
    /// GET where it took one per flush; the objects left without ranges are deleted. Returns
    /// how many batches moved. Nodes take turns per shard (an advisory lock); a trim or another
    /// compaction that moved the same batches first makes this one stand down.
    pub async fn compact(&self) -> Result<usize, LogError> {
        self.check_open()?;
        self.inner.compact().await
    }

    fn check_open(&self) -> Result<(), LogError> {
        if self.inner.closed.load(Relaxed) {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    async fn append_batch(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> Result<Appended, LogError> {
        check_records(&records)?;
        if records.is_empty() {
            // Nothing to place: a range of no records would claim the next offset's slot.
            self.check_open()?;
            let (_, next) = index::bounds(&self.inner.index, id).await?;
            return Ok(Appended {
                first_offset: next,
                arrival_ms: self.inner.cfg.clock.now_ms(),
            });
        }
        let bytes = records
            .iter()
            .map(|r| r.partition_key.len() + r.data.len() + 32)
            .sum::<usize>();
        let room = &self.inner.room;
        let kib = (bytes >> 10).clamp(1, self.inner.cfg.queue_bytes.max(1024) >> 10);
        let room = room
            .clone()
            .acquire_many_owned(kib as u32)
            .await
            .map_err(|_| LogError::Closed)?;
        let (reply, done) = oneshot::channel();
        {
            let mut q = self.inner.queue.lock();
            // Checked under the queue's lock: close drains the queue after setting the flag, so
            // an append either gets in before the last flush or is refused.
            self.check_open()?;
            q.bytes += bytes;
            q.batches.push(Queued {
                id,
                records,
                bytes,
                reply,
                _room: room,
            });
            if q.batches.len() == 1 {
                self.inner.queued.notify_one();
            }
            if q.bytes >= self.inner.cfg.flush_bytes {
                self.inner.full.notify_one();
            }
        }
        done.await.map_err(|_| LogError::Closed)?
    }

    async fn read_records(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        // A trim racing this read can delete an object between its lookup and its GET: look up
        // again, past the new horizon.
        let mut attempts = 0;
        loop {
            match self.inner.read_once(id, from, max_records, max_bytes).await {
                Err(ReadError::Gone) if attempts < 3 => attempts += 1,
                Err(ReadError::Gone) => {
                    return Err(LogError::Io(std::io::Error::other(
                        "objects kept disappearing under a read",
                    )));
                }
                Err(ReadError::Log(e)) => return Err(e),
                Ok(records) => return Ok(records),
            }
        }
    }

    async fn drop_objects(&self, objects: &[i64]) -> Result<(), LogError> {
        for key in index::forget_empty_objects(&self.inner.index, objects).await? {
            self.inner.delete_object(&key).await;
        }
        Ok(())
    }

    async fn close_log(&self) -> Result<(), LogError> {
        {
            let _q = self.inner.queue.lock();
            self.inner.closed.store(true, Relaxed);
        }
        self.inner.queued.notify_one();
        self.inner.full.notify_one();
        let mut flusher = self.flusher.lock().await;
        if let Some(running) = flusher.take() {
            running
                .await
                .map_err(|e| LogError::Io(std::io::Error::other(e)))?;
            self.listener.abort();
            self.resync.abort();
            if let Some(compactor) = &self.compactor {
                compactor.abort();
            }
            index::release_node(&self.inner.index, &self.inner.cfg.node, self.inner.epoch).await?;
            tracing::info!(node = %self.inner.cfg.node, "cluster log closed");
        }
        Ok(())
    }
}

impl Drop for ObjectLog {
    /// Without `close`, as a crash would: queued appends fail, nothing is marked clean.
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.get_mut().take() {
            flusher.abort();
        }
        self.listener.abort();
        self.resync.abort();
        if let Some(compactor) = &self.compactor {
            compactor.abort();
        }
    }
}

enum ReadError {
    /// An object the index named is no longer in the store.
    Gone,
    Log(LogError),
}

impl From<LogError> for ReadError {
    fn from(e: LogError) -> Self {
        ReadError::Log(e)
    }
}

fn store_error(e: object_store::Error) -> LogError {
    LogError::Io(std::io::Error::other(format!("object store: {e}")))
}

impl Inner {
    fn object_path(&self, key: &str) -> Path {
        Path::from(key)
    }

    async fn delete_object(&self, key: &str) {
        match self.store.delete(&self.object_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            // Left behind: an orphan costs storage, never correctness.
            Err(e) => tracing::warn!(key, error = %e, "could not delete a log object"),
        }
    }

    /// Deletes this node's objects that the index does not name: written by an earlier process
    /// under this name that stopped between its PUT and its commit, or dropped from the index
    /// by a trim or compaction (of any node) whose delete failed.
    /// Only objects of earlier epochs: this process's own may be between their PUT and commit.
    async fn sweep_unindexed(&self) -> Result<(), LogError> {
        let known: std::collections::HashSet<String> =
            index::known_objects(&self.index, &self.node_prefix)
                .await?
                .into_iter()
                .map(|key| Path::from(key).to_string())
                .collect();
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&Path::from(self.node_prefix.as_str())))
            .try_collect()
            .await
            .map_err(store_error)?;
        let mut swept = 0;
        let earlier = |location: &Path| {
            location
                .filename()
                .and_then(|name| name.split('-').next())
                .and_then(|epoch| u64::from_str_radix(epoch, 16).ok())
                .is_some_and(|epoch| epoch < self.epoch)
        };
        for meta in listed {
            if earlier(&meta.location) && !known.contains(meta.location.as_ref()) {
                self.delete_object(meta.location.as_ref()).await;
                swept += 1;
            }
        }
        if swept > 0 {
            tracing::info!(node = %self.cfg.node, swept, "removed objects the index does not name");
        }
        Ok(())
    }

    async fn read_once(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, ReadError> {
        let (horizon, next) = index::bounds(&self.index, id).await?;
        let from = from.max(horizon);
        if from >= next || max_records == 0 {
            return Ok(Vec::new());
        }
        let ranges =
            index::ranges(&self.index, id, from, next, max_records.min(READ_RANGES)).await?;
        // Fetch only what the budgets can use: records and data bytes counted from the index.
        let (mut records, mut bytes, mut wanted) = (0, 0, 0);
        for r in &ranges {
            if wanted > 0 && (records >= max_records || bytes >= max_bytes) {
                break;
            }
            let skipped = from.saturating_sub(r.first_offset);
            records += (r.count - skipped.min(r.count)) as usize;
            bytes += r.data_bytes as usize;
            wanted += 1;
        }
        let batches = self.fetch(&ranges[..wanted]).await?;
        let mut out = Vec::new();
        let mut bytes = 0;
        'ranges: for (r, batch) in ranges.iter().zip(batches) {
            let records = decode_batch(batch, r.first_offset, r.arrival_ms, &r.key)?;
            if records.len() as u64 != r.count {
                return Err(ReadError::Log(LogError::Corrupt {
                    path: r.key.clone().into(),
                    pos: r.byte_start,
                    reason: format!("{} records where the index says {}", records.len(), r.count),
                }));
            }
            for record in records {
                if record.offset < from {
                    continue;
                }
                if out.len() >= max_records
                    || (!out.is_empty() && bytes + record.data.len() > max_bytes)
                {
                    break 'ranges;
                }
                bytes += record.data.len();
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The bytes of committed batches, in order: cached ones from memory, and a run of batches
    /// lying back to back in one object (as compaction leaves them) with one ranged GET.
    async fn fetch(&self, ranges: &[index::Range]) -> Result<Vec<Bytes>, ReadError> {
        let mut runs: Vec<&[index::Range]> = Vec::new();
        let mut start = 0;
        for i in 1..=ranges.len() {
            let joins = i < ranges.len() && {
                let (a, b) = (&ranges[i - 1], &ranges[i]);
                a.key == b.key
                    && a.byte_start + a.byte_len == b.byte_start
                    && self.cache.get(&b.key, b.byte_start).is_none()
            };
            if !joins {
                runs.push(&ranges[start..i]);
                start = i;
            }
        }
        let fetches: Vec<_> = runs.into_iter().map(|run| self.run(run)).collect();
        let runs: Vec<Vec<Bytes>> = futures_util::stream::iter(fetches)
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(runs.into_iter().flatten().collect())
    }

    /// The batches of one run: one batch from the cache or a GET, several with one GET.
    async fn run(&self, run: &[index::Range]) -> Result<Vec<Bytes>, ReadError> {
        let [first, .., last] = run else {
            return match run.first() {
                Some(r) => Ok(vec![self.batch(r).await?]),
                None => Ok(Vec::new()),
            };
        };
        let span = self
            .get(
                &first.key,
                first.byte_start..last.byte_start + last.byte_len,
            )
            .await?;
        Ok(run
            .iter()
            .map(|r| {
                let at = (r.byte_start - first.byte_start) as usize;
                let batch = span.slice(at..at + r.byte_len as usize);
                self.cache.insert(&r.key, r.byte_start, batch.clone());
                batch
            })
            .collect())
    }

    async fn get(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, ReadError> {
        match self.store.get_range(&self.object_path(key), range).await {
            Ok(bytes) => Ok(bytes),
            Err(object_store::Error::NotFound { .. }) => Err(ReadError::Gone),
            Err(e) => Err(ReadError::Log(store_error(e))),
        }
    }

    async fn compact(&self) -> Result<usize, LogError> {
        // A connection of its own for the pass's session locks, closed when the pass ends or
        // is cancelled (a pooled one would go back to the pool still holding a lock).
        let mut conn = self.index.pool.acquire().await.map_err(index::db)?.detach();
        let mut moved = 0;
        for id in self.tails.ids() {
            match self.compact_shard(&mut conn, id).await {
                Ok(n) => moved += n,
                // Trimmed or compacted by another node under this one: nothing lost.
                Err(ReadError::Gone) => {}
                Err(ReadError::Log(LogError::ShardNotFound(_))) => {}
                Err(ReadError::Log(e)) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// Compacts one shard under a session lock that makes nodes take turns.
    async fn compact_shard(
        &self,
        conn: &mut sqlx::PgConnection,
        id: ShardLogId,
    ) -> Result<usize, ReadError> {
        let lock = format!("{}/{}/{}", self.cfg.log, id.stream, id.shard);
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await
            .map_err(index::db)?;
        if !locked {
            return Ok(0);
        }
        let moved = self.compact_locked(id).await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(&lock)
            .execute(&mut *conn)
            .await
            .map_err(index::db)?;
        moved
    }

    async fn compact_locked(&self, id: ShardLogId) -> Result<usize, ReadError> {
        let before = self.cfg.clock.now_ms() - self.cfg.compact_after.as_millis() as i64;
        let target = self.cfg.compact_bytes as u64;
        // Inputs under half the target: an output past half is never rewritten again, so a
        // batch is copied a bounded number of times.
        let candidates = index::small_ranges(&self.index, id, before, target / 2, 4096).await?;
        // The first run of consecutive offsets that fits in one object and gathers batches from
        // more than one object (a run already gathered is passed over).
        let worth = |run: &[index::Range]| {
            run.len() >= 2 && run.iter().any(|r| r.object_id != run[0].object_id)
        };
        let mut run: Vec<index::Range> = Vec::new();
        let mut bytes = 0;
        for r in candidates {
            let follows = run
                .last()
                .is_some_and(|last| last.first_offset + last.count == r.first_offset);
            if !follows || bytes + r.byte_len > target {
                if worth(&run) {
                    break;
                }
                run.clear();
                bytes = 0;
            }
            bytes += r.byte_len;
            run.push(r);
        }
        if !worth(&run) {
            return Ok(0);
        }
        let batches = self.fetch(&run).await?;
        let mut body = Vec::with_capacity(bytes as usize);
        let mut starts = Vec::with_capacity(run.len());
        for batch in &batches {
            starts.push(body.len() as u64);
            body.extend_from_slice(batch);
        }
        let body = Bytes::from(body);
        let seq = self.next_object.fetch_add(1, Relaxed);
        let key = format!("{}{:016x}-c{seq:010}", self.node_prefix, self.epoch);
        self.store
            .put(&self.object_path(&key), body.clone().into())
            .await
            .map_err(store_error)?;
        let now = self.cfg.clock.now_ms();
        let moved = index::move_ranges(
            &self.index,
            &self.cfg.node,
            self.epoch,
            id,
            &run,
            &starts,
            &key,
            body.len() as u64,
            now,
        )
        .await;
        if !matches!(moved, Ok(true)) {
            // Ok(false): rolled back, so certainly not indexed.
            self.discard_unindexed(&key, moved.is_ok()).await;
            return moved.map(|_| 0).map_err(ReadError::Log);
        }
        let mut old: Vec<i64> = run.iter().map(|r| r.object_id).collect();
        old.sort_unstable();
        old.dedup();
        for gone in index::forget_empty_objects(&self.index, &old).await? {
            self.delete_object(&gone).await;
        }
        Ok(run.len())
    }

    /// One committed batch's bytes, from the cache or a ranged GET.
    async fn batch(&self, r: &index::Range) -> Result<Bytes, ReadError> {
        if let Some(hit) = self.cache.get(&r.key, r.byte_start) {
            return Ok(hit);
        }
        let bytes = self
            .get(&r.key, r.byte_start..r.byte_start + r.byte_len)
            .await?;
        self.cache.insert(&r.key, r.byte_start, bytes.clone());
        Ok(bytes)
    }

    /// The queued batches of the next object, oldest first: up to `flush_bytes`, at least one.
    fn take_object(&self) -> Vec<Queued> {
        let mut q = self.queue.lock();
        let (mut n, mut bytes) = (0, 0);
        for b in &q.batches {
            if n > 0 && bytes + b.bytes > self.cfg.flush_bytes {
                break;
            }
            bytes += b.bytes;
            n += 1;
        }
        q.bytes -= bytes;
        q.batches.drain(..n).collect()
    }

    /// Writes batches as one object, commits it, and answers each append.
    async fn flush(&self, batches: Vec<Queued>) {
        let started = self.cfg.clock.elapsed();
        let mut body = Vec::new();
        let mut placed = Vec::with_capacity(batches.len());
        for b in &batches {
            let start = body.len();
            encode_batch(&b.records, &mut body);
            placed.push(index::Placed {
                id: b.id,
                count: b.records.len() as u64,
                byte_start: start as u64,
                byte_len: (body.len() - start) as u64,
                data_bytes: b.records.iter().map(|r| r.data.len() as u64).sum(),
            });
        }
        let body = Bytes::from(body);
        let seq = self.next_object.fetch_add(1, Relaxed);
        let key = format!("{}{:016x}-{seq:010}", self.node_prefix, self.epoch);
        let outcome = self.write_and_commit(&key, &body, &placed).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // Not committed, or not known to be: the appends fail (a client retries), and
                // an object the index may not name is left for the sweep if this delete fails.
                tracing::warn!(node = %self.cfg.node, error = %e, "log flush failed");
                self.discard_unindexed(&key, matches!(e, FlushError::Put(_)))
                    .await;
                let message = e.to_string();
                batches.into_iter().for_each(|b| {
                    let _ = b.reply.send(Err(match &e {
                        FlushError::Fenced(epoch) => LogError::Fenced(*epoch),
                        _ => LogError::Io(std::io::Error::other(message.clone())),
                    }));
                });
                return;
            }
        };
        self.stats
            .flush_latency
            .observe_duration(self.cfg.clock.elapsed().saturating_sub(started));
        self.stats.object_bytes.observe(body.len() as u64);
        self.stats.objects.fetch_add(1, Relaxed);
        let mut committed = false;
        for ((b, p), result) in batches.into_iter().zip(&placed).zip(outcome) {
            let answer = result.map(|(first_offset, arrival_ms)| {
                committed = true;
                self.cache.insert(
                    &key,
                    p.byte_start,
                    body.slice(p.byte_start as usize..(p.byte_start + p.byte_len) as usize),
                );
                self.tails.advance(b.id, first_offset + p.count);
                self.stats.appends.fetch_add(1, Relaxed);
                self.stats.records.fetch_add(p.count, Relaxed);
                Appended {
                    first_offset,
                    arrival_ms,
                }
            });
            let _ = b.reply.send(answer);
        }
        if !committed {
            self.delete_object(&key).await;
        }
    }

    /// After a failed write, deletes its object unless a commit may have indexed it: a commit
    /// whose answer was lost may have happened, and its ranges point into the object. Whatever
    /// cannot be decided here is left to the sweep.
    async fn discard_unindexed(&self, key: &str, known_unindexed: bool) {
        let indexed = if known_unindexed {
            Ok(false)
        } else {
            index::is_indexed(&self.index, &self.cfg.node, key).await
        };
        if let Ok(false) = indexed {
            self.delete_object(key).await;
        }
    }

    fn injected(&self, point: FaultPoint) -> Result<(), LogError> {
        match &self.cfg.faults {
            Some(plan) if plan(point) => Err(LogError::Io(std::io::Error::other(format!(
                "injected fault at {point:?}"
            )))),
            _ => Ok(()),
        }
    }

    async fn write_and_commit(
        &self,
        key: &str,
        body: &Bytes,
        placed: &[index::Placed],
    ) -> Result<Vec<Result<(u64, i64), LogError>>, FlushError> {
        self.store
            .put(&self.object_path(key), body.clone().into())
            .await
            .map_err(FlushError::Put)?;
        self.injected(FaultPoint::BeforeCommit)
            .map_err(FlushError::Commit)?;
        let outcome = index::commit(
            &self.index,
            &self.cfg.node,
            self.epoch,
            key,
            body.len() as u64,
            self.cfg.clock.now_ms(),
            placed,
        )
        .await
        .map_err(|e| match e {
            LogError::Fenced(epoch) => FlushError::Fenced(epoch),
            other => FlushError::Commit(other),
        })?;
        self.injected(FaultPoint::AfterCommit)
            .map_err(FlushError::Commit)?;
        Ok(outcome)
    }
}

#[derive(Debug)]
enum FlushError {
    Put(object_store::Error),
    Commit(LogError),
    Fenced(u64),
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlushError::Put(e) => write!(f, "object store: {e}"),
            FlushError::Commit(e) => write!(f, "{e}"),
            FlushError::Fenced(epoch) => write!(f, "writer epoch {epoch} was overtaken"),
        }
    }
}

/// Flushes whatever is queued: after `flush_interval` from when the first append arrived, or at
/// once when a full object is queued or the log closes (then until the queue is empty).
async fn flush_loop(inner: Arc<Inner>) {
    loop {
        let queued = inner.queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let (empty, closed, full) = {
            let q = inner.queue.lock();
            (
                q.batches.is_empty(),
                inner.closed.load(Relaxed),
                q.bytes >= inner.cfg.flush_bytes,
            )
        };
        if empty {
            if closed {
                return;
            }
            queued.await;
            continue;
        }
        if !closed && !full {
            tokio::select! {
                _ = inner.cfg.clock.sleep(inner.cfg.flush_interval) => {}
                _ = inner.full.notified() => {}
            }
        }
        let batches = inner.take_object();
        inner.flush(batches).await;
    }
}

/// How often a node rereads every shard's next offset, in case notifications were lost on a
/// connection that failed without saying so.
const RESYNC: Duration = Duration::from_secs(5);

/// Rereads the shards every `RESYNC`: learns shards it missed, advances tails, and forgets
/// shards removed without it hearing.
async fn resync_loop(inner: Arc<Inner>) {
    loop {
        inner.cfg.clock.sleep(RESYNC).await;
        let generation = inner.tails.next_generation();
        match index::shards(&inner.index).await {
            Ok(shards) => inner.tails.resync(generation, &shards),
            Err(e) => tracing::warn!(error = %e, "cluster log: cannot reread the shards"),
        }
    }
}

/// Compacts every `compact_interval`.
async fn compact_loop(inner: Arc<Inner>) {
    loop {
        inner.cfg.clock.sleep(inner.cfg.compact_interval).await;
        match inner.compact().await {
            Ok(0) => {}
            Ok(moved) => tracing::debug!(log = %inner.cfg.log, moved, "compacted log batches"),
            Err(e) => tracing::warn!(log = %inner.cfg.log, error = %e, "log compaction failed"),
        }
    }
}

/// Follows every node's commits through PostgreSQL notifications. After (re)connecting it reads
/// every shard's next offset, which covers whatever was missed while it was not listening.
async fn listen(inner: Arc<Inner>) {
    loop {
        let mut listener = match PgListener::connect_with(&inner.index.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cluster log: cannot listen for commits; retrying");
                inner.cfg.clock.sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(&inner.index.channel()).await {
            tracing::warn!(error = %e, "cluster log: cannot listen for commits; retrying");
            inner.cfg.clock.sleep(Duration::from_secs(1)).await;
            continue;
        }
        match index::shards(&inner.index).await {
            Ok(shards) => inner.tails.catch_up(&shards),
            // The periodic resync catches up instead.
            Err(e) => tracing::warn!(error = %e, "cluster log: cannot read the shards"),
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match Event::parse(n.payload()) {
                    Some(event) => event.apply(&inner.tails),
                    None => tracing::warn!(payload = n.payload(), "unknown log notification"),
                },
                // The connection dropped: listen anew and catch up.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster log: lost the notification connection");
                    break;
                }
            }
        }
    }
}

impl LogBackend for ObjectLog {
    fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    fn opened_clean(&self) -> bool {
        self.inner.clean
    }

    fn shards(&self) -> Vec<ShardLogId> {
        self.inner.tails.ids()
    }

    fn create_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(async move {
            self.check_open()?;
            let next = index::create_shard(&self.inner.index, id).await?;
            self.inner.tails.add(id, next);
            Ok(())
        })
    }

    fn remove_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(async move {
            self.check_open()?;
            let objects = index::remove_shard(&self.inner.index, id).await?;
            self.inner.tails.remove(id);
            self.drop_objects(&objects).await
        })
    }

    fn append(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> BoxFuture<'_, Result<Appended, LogError>> {
        Box::pin(self.append_batch(id, records))
    }

    fn read(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, LogError>> {
        Box::pin(self.read_records(id, from, max_records, max_bytes))
    }

    fn bounds(&self, id: ShardLogId) -> BoxFuture<'_, Result<(u64, u64), LogError>> {
        Box::pin(index::bounds(&self.inner.index, id))
    }

    fn offset_at_time(&self, id: ShardLogId, ts_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        Box::pin(index::offset_at_time(&self.inner.index, id, ts_ms))
    }

    fn trim_before(&self, id: ShardLogId, cutoff_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        Box::pin(async move {
            self.check_open()?;
            let (freed, objects) = index::trim_before(&self.inner.index, id, cutoff_ms).await?;
            self.drop_objects(&objects).await?;
            Ok(freed)
        })
    }

    fn subscribe(&self, id: ShardLogId) -> Result<watch::Receiver<u64>, LogError> {
        self.inner
            .tails
            .subscribe(id)
            .ok_or(LogError::ShardNotFound(id))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(async move {
            self.check_open()?;
            sqlx::query("SELECT 1")
                .execute(&self.inner.index.pool)
                .await
                .map_err(index::db)?;
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(self.close_log())
    }

    fn render_metrics(&self, service: &str, e: &mut Exposition) {
        let s = &self.inner.stats;
        let labels = [("service", service)];
        e.histogram(
            "freshet_cluster_log",
            "flush_latency_milliseconds",
            "Time from a flush's start to its commit: the object PUT and the index transaction.",
            &labels,
            &s.flush_latency,
        );
        e.histogram(
            "freshet_cluster_log",
            "object_bytes",
            "Bytes of each object written.",
            &labels,
            &s.object_bytes,
        );
        e.counter(
            "freshet_cluster_log",
            "objects",
            "Objects written and committed.",
            &labels,
            s.objects.load(Relaxed),
        );
        e.counter(
            "freshet_cluster_log",
            "appends",
            "Appends acknowledged.",
            &labels,
            s.appends.load(Relaxed),
        );
        e.counter(
            "freshet_cluster_log",
            "records",
            "Records acknowledged.",
            &labels,
            s.records.load(Relaxed),
        );
    }
}
