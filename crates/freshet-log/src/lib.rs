//! Durable per-shard logs: append-only, segmented record files with group commit, sparse offset and
//! time indexes, retention by whole segments, an in-memory cache of recent records and a tail
//! notifier. It knows nothing of AWS: the caller maps sequence numbers to `(shard, offset)`.
//!
//! Layout under `LogConfig::dir`: one directory per shard log (`s{stream:016x}-{shard:08}`), holding
//! segment files named by their first offset (`{base:020}.log`) and, for sealed segments, an index
//! file (`{base:020}.index`). Formats: see `frame` (records) and `index` (index files).
//!
//! Durability: one writer thread per `Log` owns every write. It batches all queued appends (from all
//! shards), writes them, fsyncs each touched file once and only then acknowledges them and makes them
//! visible to readers (`writer`). Readers never wait on the writer (`shard`).

mod backend;
pub mod batch;
mod cache;
pub mod conformance;
mod error;
mod frame;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod index;
mod io_pool;
mod sealed;
mod segment;
mod shard;
mod stage;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use freshet_runtime::SharedClock;
use freshet_runtime::metrics::{Exposition, Histogram};
use parking_lot::RwLock;
use tokio::sync::{oneshot, watch};

pub use backend::{BoxFuture, LogBackend, SharedLog};
pub use error::LogError;
pub use frame::{MAX_DATA_BYTES, MAX_PARTITION_KEY_BYTES};
pub use sealed::{DataKey, DataKeys, KeyError, SEAL_OVERHEAD, Sealer, Sealing};

use shard::ShardShared;
use writer::{Command, Registry, Writer};

/// Takes the directory's lock file, held by the writer thread for as long as it runs: two
/// writers on one directory (a second server on the same data directory) would interleave
/// segments and corrupt them.
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, LogError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("{} is in use by another process", dir.display()),
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::Io(e)),
    }
}

/// The file that holds the last writer epoch of a directory.
const EPOCH_FILE: &str = "EPOCH";

/// Takes the directory's next writer epoch (under its lock, so no two writers get the same one)
/// and stores it durably before any write under it.
fn next_epoch(dir: &std::path::Path) -> Result<u64, LogError> {
    let path = dir.join(EPOCH_FILE);
    let last = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            LogError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds no epoch", path.display()),
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e.into()),
    };
    let epoch = last + 1;
    let tmp = dir.join(format!("{EPOCH_FILE}.tmp"));
    std::fs::write(&tmp, epoch.to_string())?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    shard::sync_dir(dir)?;
    Ok(epoch)
}

/// Settings of a `Log`.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Root data directory of the logs, e.g. `./data/log`.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// A segment is rolled once it reaches this size (checked after each commit, so it may exceed
    /// it by one commit's worth of records).
    pub segment_bytes: u64,
    /// One sparse index entry every this many bytes of a segment.
    pub index_interval_bytes: u32,
    /// Budget of the per-shard cache of recent records (data + key + 64 bytes per record); 0 turns
    /// the cache off.
    pub cache_bytes_per_shard: usize,
    /// Where records' arrival times and the fsync interval are read.
    pub clock: SharedClock,
    /// Faults to inject into the writer's next writes and fsyncs (this crate's unit tests only).
    #[cfg(test)]
    pub(crate) faults: writer::faults::Injector,
}

impl LogConfig {
    /// The defaults: fsync always, 128 MiB segments, an index entry per 4 KiB, 8 MiB cache per shard.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            segment_bytes: 128 << 20,
            index_interval_bytes: 4096,
            cache_bytes_per_shard: 8 << 20,
            clock: SharedClock::system(),
            #[cfg(test)]
            faults: Default::default(),
        }
    }
}

/// When appended records are fsynced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before an append is acknowledged (group commit amortizes it across concurrent appends).
    #[default]
    Always,
    /// At most once per interval; appends are acknowledged and readable once written to the OS.
    Interval(Duration),
    /// Never on the append path (only when a segment is sealed and at close); acknowledged once
    /// written to the OS.
    Never,
}

/// One shard's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardLogId {
    pub stream: u64,
    pub shard: u32,
}

impl fmt::Display for ShardLogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shard::dir_name(*self))
    }
}

/// A record to append. The key and data are usually slices of one buffer per request, so a
/// record costs no allocation of its own, here or in the cache.
#[derive(Clone, Debug)]
pub struct NewRecord {
    pub partition_key: ByteString,
    pub explicit_hash_key: Option<u128>,
    pub data: Bytes,
    /// The data is a sealed envelope (`Sealing`), the partition key inside it.
    pub sealed: bool,
}

impl NewRecord {
    /// A record stored as given.
    pub fn clear(partition_key: ByteString, explicit_hash_key: Option<u128>, data: Bytes) -> Self {
        NewRecord {
            partition_key,
            explicit_hash_key,
            data,
            sealed: false,
        }
    }
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: u64,
    pub arrival_ms: i64,
    pub partition_key: ByteString,
    pub explicit_hash_key: Option<u128>,
    pub data: Bytes,
    /// Stored sealed (encrypted). Below `Sealing` the data is the envelope; above it, the
    /// opened record's data.
    pub sealed: bool,
}

/// Where an append batch went: offsets `first_offset..first_offset + n`, all with `arrival_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub first_offset: u64,
    pub arrival_ms: i64,
}

/// Counters since open, for benchmarks and durability tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Append calls acknowledged.
    pub appends: u64,
    /// Records in those appends.
    pub records: u64,
    /// Group commits (writer rounds that wrote something).
    pub batches: u64,
    /// File and directory fsyncs.
    pub fsyncs: u64,
}

pub(crate) struct StatsCounters {
    appends: AtomicU64,
    records: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    /// Each file fsync's duration.
    fsync_latency: Histogram,
    /// Each commit's (writer round's) bytes and records.
    commit_bytes: Histogram,
    commit_records: Histogram,
}

impl Default for StatsCounters {
    fn default() -> Self {
        StatsCounters {
            appends: AtomicU64::new(0),
            records: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            fsync_latency: Histogram::latency(),
            commit_bytes: Histogram::sizes(),
            commit_records: Histogram::sizes(),
        }
    }
}

/// A handle to the logs under one directory; cheap to clone, shared by all tasks.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: u64,
    opened_clean: bool,
    commands: mpsc::Sender<Command>,
    registry: Registry,
    stats: Arc<StatsCounters>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    /// The last handle gone (a crash as far as the files are concerned: nothing more is sealed
    /// or synced), the writer thread ends; waiting for it means the directory and its lock are
    /// free for the next `open` as soon as this returns.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commands, closed));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Log {
    /// Creates the directory if needed, recovers every shard log under it (truncating torn tails)
    /// and starts the writer thread. Blocking; call it before serving or via `spawn_blocking`.
    pub fn open(cfg: LogConfig) -> Result<Log, LogError> {
        if cfg.index_interval_bytes == 0 || cfg.segment_bytes == 0 {
            return Err(LogError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "segment_bytes and index_interval_bytes must be positive",
            )));
        }
        std::fs::create_dir_all(&cfg.dir)?;
        let lock = lock_dir(&cfg.dir)?;
        let mut shards = HashMap::new();
        for entry in std::fs::read_dir(&cfg.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(writer::DELETING_SUFFIX) {
                // A remove_shard cut short by a crash: finish it.
                std::fs::remove_dir_all(entry.path())?;
                tracing::info!(dir = name, "finished interrupted shard log removal");
                continue;
            }
            let Some(id) = shard::parse_dir_name(name) else {
                continue;
            };
            let state = shard::recover(
                &entry.path(),
                id,
                cfg.index_interval_bytes,
                cfg.cache_bytes_per_shard,
            )?;
            shards.insert(id, Arc::new(ShardShared::new(state)));
        }
        // Removed (durably) before anything is written, so that only a close that completes
        // leaves it again.
        let epoch = next_epoch(&cfg.dir)?;
        let marker = cfg.dir.join(writer::CLEAN_SHUTDOWN_FILE);
        let opened_clean = marker.exists();
        if opened_clean {
            std::fs::remove_file(&marker)?;
        }
        shard::sync_dir(&cfg.dir)?;
        tracing::info!(dir = %cfg.dir.display(), shards = shards.len(), clean = opened_clean, epoch, "log opened");
        let registry: Registry = Arc::new(RwLock::new(shards));
        let stats = Arc::new(StatsCounters::default());
        let writer = Writer::new(
            writer::Settings {
                root: cfg.dir,
                fsync: cfg.fsync,
                segment_bytes: cfg.segment_bytes,
                index_interval: cfg.index_interval_bytes,
                cache_bytes: cfg.cache_bytes_per_shard,
                clock: cfg.clock,
                #[cfg(test)]
                faults: cfg.faults.clone(),
            },
            registry.clone(),
            stats.clone(),
            lock,
        );
        let (commands, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("freshet-log-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Log {
            inner: Arc::new(Inner {
                epoch,
                opened_clean,
                commands,
                registry,
                stats,
                writer: Some(writer),
            }),
        })
    }

    /// Creates an empty shard log (idempotent). Durable when it resolves: the new directory and
    /// its parent are fsynced by the writer thread.
    pub async fn create_shard(&self, id: ShardLogId) -> Result<(), LogError> {
        self.control(|reply| Command::Create { id, reply }).await
    }

    /// Deletes a shard log and its files (idempotent), on the writer thread.
    pub async fn remove_shard(&self, id: ShardLogId) -> Result<(), LogError> {
        self.control(|reply| Command::Remove { id, reply }).await
    }

    /// The shard logs that exist, in order.
    pub fn shards(&self) -> Vec<ShardLogId> {
        let mut ids: Vec<ShardLogId> = self.inner.registry.read().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Appends records to one shard atomically as one batch: consecutive offsets, one arrival time,
    /// all or nothing (also across a crash). Resolves once durable: fsynced under
    /// `FsyncPolicy::Always`, written to the OS otherwise. Dropping the future does not cancel the
    /// append once it has been polled.
    pub async fn append(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> Result<Appended, LogError> {
        batch::check_records(&records)?;
        let (reply, done) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Append { id, records, reply })
            .map_err(|_| LogError::Closed)?;
        done.await.map_err(|_| LogError::Closed)?
    }

    /// Durable records with offset >= `from` (or from the trim horizon, if `from` is below it), at
    /// most `max_records` of them and, beyond the first, at most `max_bytes` of record data in all.
    /// May return fewer records than exist (it stops at a few segments); empty only at the tip.
    pub fn read(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        self.shard(id)?.read(from, max_records, max_bytes)
    }

    /// (first retained offset = trim horizon, next offset to be assigned). Empty log: (0, 0).
    pub fn bounds(&self, id: ShardLogId) -> Result<(u64, u64), LogError> {
        Ok(self.shard(id)?.bounds())
    }

    /// The smallest retained offset whose arrival_ms >= `ts_ms`, or the next offset if there is none.
    pub fn offset_at_time(&self, id: ShardLogId, ts_ms: i64) -> Result<u64, LogError> {
        self.shard(id)?.offset_at_time(ts_ms)
    }

    /// arrival_ms of the newest durable retained record, if any (for MillisBehindLatest).
    pub fn last_arrival_ms(&self, id: ShardLogId) -> Result<Option<i64>, LogError> {
        Ok(self.shard(id)?.last_arrival_ms())
    }

    /// Retention: deletes whole segments, oldest first, whose newest record arrived before
    /// `cutoff_ms`; returns the bytes freed. The active segment is rolled first when it is the only
    /// thing left and entirely expired, so the trim horizon then equals the next offset.
    pub async fn trim_before(&self, id: ShardLogId, cutoff_ms: i64) -> Result<u64, LogError> {
        self.control(|reply| Command::Trim {
            id,
            cutoff_ms,
            reply,
        })
        .await
    }

    /// A receiver of the shard's durable next offset; it changes whenever new records become
    /// readable. It closes when the shard log is removed.
    pub fn subscribe(&self, id: ShardLogId) -> Result<watch::Receiver<u64>, LogError> {
        Ok(self.shard(id)?.tail.subscribe())
    }

    /// Commits and fsyncs everything and stops the writer thread. Later appends and control calls
    /// fail with `LogError::Closed`; reads keep working. Closing twice is fine.
    pub async fn close(&self) -> Result<(), LogError> {
        let (reply, done) = oneshot::channel();
        if self.inner.commands.send(Command::Close { reply }).is_err() {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }

    /// This writer's epoch: every open of the directory gets a larger one (see `LogBackend`).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// Whether the last run closed this log cleanly (`close` completed), so that opening it found
    /// nothing to repair; false after a crash or a first start.
    pub fn opened_clean(&self) -> bool {
        self.inner.opened_clean
    }

    /// Whether the log takes durable writes: the writer thread is running and its directory
    /// accepts a synced write (for health checks).
    pub async fn probe(&self) -> Result<(), LogError> {
        self.control(|reply| Command::Probe { reply }).await
    }

    pub fn stats(&self) -> LogStats {
        let s = &self.inner.stats;
        LogStats {
            appends: s.appends.load(Relaxed),
            records: s.records.load(Relaxed),
            batches: s.batches.load(Relaxed),
            fsyncs: s.fsyncs.load(Relaxed),
        }
    }

    /// Adds the log's fsync latencies and commit sizes to a scrape, labelled with the service
    /// that owns the log.
    pub fn render_metrics(&self, service: &str, e: &mut Exposition) {
        let s = &self.inner.stats;
        let labels = [("service", service)];
        e.histogram(
            "freshet_log",
            "fsync_latency_milliseconds",
            "Time each segment file fsync took, in milliseconds.",
            &labels,
            &s.fsync_latency,
        );
        e.histogram(
            "freshet_log",
            "commit_bytes",
            "Bytes written by each group commit.",
            &labels,
            &s.commit_bytes,
        );
        e.histogram(
            "freshet_log",
            "commit_records",
            "Records written by each group commit.",
            &labels,
            &s.commit_records,
        );
        let appends = s.appends.load(Relaxed);
        e.counter(
            "freshet_log",
            "appends",
            "Appends acknowledged.",
            &labels,
            appends,
        );
    }

    fn shard(&self, id: ShardLogId) -> Result<Arc<ShardShared>, LogError> {
        self.inner
            .registry
            .read()
            .get(&id)
            .cloned()
            .ok_or(LogError::ShardNotFound(id))
    }

    /// Sends a control command to the writer thread and waits for its answer without blocking a
    /// thread: the writer answers on a oneshot channel, as it does appends.
    async fn control<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> Command,
    ) -> Result<T, LogError> {
        let (reply, done) = oneshot::channel();
        self.inner
            .commands
            .send(make(reply))
            .map_err(|_| LogError::Closed)?;
        done.await.map_err(|_| LogError::Closed)?
    }
}
