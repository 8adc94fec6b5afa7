//! The one writer thread of a `Log` and its group commit. Every change to a shard log passes through
//! here, so the write side of each shard has a single owner and needs no lock.
//!
//! A round: block for one command, drain whatever else is queued, encode each append into its shard's
//! buffer, write each touched shard's buffer with one positional write (direct I/O where the file
//! system allows it, see `stage`), fsync every touched file (writes and fsyncs run in parallel when
//! there are several files), then publish: update the readers' view, wake tailing readers
//! and complete the appends. So one fsync covers every append that queued up while the previous fsync
//! ran, and an append is acknowledged only once it is durable (under `FsyncPolicy::Always`).
//! Control commands (create, remove, trim, close) first commit what is staged, which keeps them
//! ordered with the appends around them.

use std::collections::{HashMap, HashSet};
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use freshet_runtime::SharedClock;
use parking_lot::RwLock;
use tokio::sync::oneshot;

use crate::frame::{self, FrameFields};
use crate::index::{self, IndexEntry};
use crate::io_pool::IoPool;
use crate::segment::{self, Segment, SegmentFile};
use crate::shard::{self, ShardShared};
use crate::stage::{self, StageBuf};
use crate::{Appended, FsyncPolicy, LogError, NewRecord, Record, ShardLogId, StatsCounters};

pub(crate) type Registry = Arc<RwLock<HashMap<ShardLogId, Arc<ShardShared>>>>;

pub(crate) enum Command {
    Append {
        id: ShardLogId,
        records: Vec<NewRecord>,
        reply: oneshot::Sender<Result<Appended, LogError>>,
    },
    Create {
        id: ShardLogId,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    Remove {
        id: ShardLogId,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    Trim {
        id: ShardLogId,
        cutoff_ms: i64,
        reply: oneshot::Sender<Result<u64, LogError>>,
    },
    Close {
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    Probe {
        reply: oneshot::Sender<Result<(), LogError>>,
    },
}

/// The file `probe` writes; no shard directory has this name.
const PROBE_FILE: &str = ".probe";
/// Present while the log is closed after a clean shutdown; removed when it is opened.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";

pub(crate) struct Settings {
    pub root: PathBuf,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub index_interval: u32,
    pub cache_bytes: usize,
    pub clock: SharedClock,
    #[cfg(test)]
    pub faults: faults::Injector,
}

/// Fault injection for the write path, compiled into this crate's unit tests only: each queued
/// fault replaces the next segment write or fsync with a failure. Kept beside the `log::write` and
/// `log::fsync` failpoints (which serve tests of the whole server) because it is scoped to one
/// `Log`: failpoints are process-wide and would fail the other unit tests running in parallel.
#[cfg(test)]
pub(crate) mod faults {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Fault {
        /// The write fails with ENOSPC before anything reaches the file.
        NoSpace,
        /// Half the bytes reach the file, then the write fails.
        ShortWrite,
        /// The fsync fails with EIO.
        SyncError,
    }

    #[derive(Clone, Debug, Default)]
    pub struct Injector(Arc<Mutex<VecDeque<Fault>>>);

    impl Injector {
        pub fn push(&self, fault: Fault) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back(fault);
        }

        /// Takes the next fault if it is one of `kinds`.
        pub fn take(&self, kinds: &[Fault]) -> Option<Fault> {
            let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match q.front() {
                Some(f) if kinds.contains(f) => q.pop_front(),
                _ => None,
            }
        }
    }
}

/// A round stops draining the queue after this many commands or staged bytes, bounding the latency
/// and memory of one commit under a flood of appends.
const MAX_ROUND_COMMANDS: usize = 4096;
const MAX_ROUND_BYTES: usize = 16 << 20;
/// A round whose writes and fsyncs take this long is logged.
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The write position of a shard's active segment.
#[derive(Clone, Copy, Debug)]
struct Tip {
    len: u64,
    next: u64,
    last_arrival_ms: Option<i64>,
    last_index_pos: Option<u64>,
}

#[derive(Default)]
struct Staged {
    buf: StageBuf,
    entries: Vec<IndexEntry>,
    /// For the record cache; empty when it is off.
    records: Vec<StagedRecord>,
    replies: Vec<(oneshot::Sender<Result<Appended, LogError>>, Appended)>,
    first_arrival_ms: Option<i64>,
}

/// A record the cache takes once its round commits: its key and data are served as slices of the
/// round's frames, so a cached record needs no allocation of its own and pins nothing but frames
/// of its own shard.
struct StagedRecord {
    offset: u64,
    arrival_ms: i64,
    explicit_hash_key: Option<u128>,
    sealed: bool,
    /// Where the key and data lie among the round's staged frames.
    key: Range<usize>,
    data: Range<usize>,
}

impl StagedRecord {
    fn record(self, frames: &Bytes) -> Record {
        let key = frames.slice(self.key);
        debug_assert!(std::str::from_utf8(&key).is_ok());
        Record {
            offset: self.offset,
            arrival_ms: self.arrival_ms,
            // SAFETY: `frame::encode` copied the key's bytes from a `&str` to exactly this span
            // of the round's frames, and nothing writes to staged frames afterwards (`prepare`
            // moves them whole and pads after them; `committed` hands them over unchanged), so
            // the slice is valid UTF-8. The debug assertion checks it in every test.
            partition_key: unsafe { ByteString::from_bytes_unchecked(key) },
            explicit_hash_key: self.explicit_hash_key,
            data: frames.slice(self.data),
            sealed: self.sealed,
        }
    }
}

struct WriterShard {
    shared: Arc<ShardShared>,
    dir: PathBuf,
    active: Arc<SegmentFile>,
    /// The active segment's file reaches past `committed.len` (block padding of a direct write).
    padded: bool,
    /// What readers can see: the state after the last successful commit.
    committed: Tip,
    /// Including what is staged in this round.
    staged_tip: Tip,
    staged: Staged,
    in_round: bool,
    /// Set after a failed fsync: the file's durable state is then unknown (the kernel may have
    /// dropped the dirty pages), so the shard takes no more writes until the log is reopened and
    /// recovery establishes what is really on disk.
    failed: Option<String>,
}

impl WriterShard {
    fn new(shared: Arc<ShardShared>, dir: PathBuf) -> Self {
        let (active, committed) = {
            let st = shared.state.read();
            let seg = st
                .segments
                .last()
                .expect("recovery leaves at least one segment");
            let tip = Tip {
                len: seg.len,
                next: seg.next,
                last_arrival_ms: st.last_arrival_ms(),
                last_index_pos: seg.index.last().map(|e| e.pos),
            };
            (seg.file.clone(), tip)
        };
        // The committed bytes of the last partial block start each direct write.
        let tail_len = committed.len % stage::BLOCK as u64;
        let (tail, failed) = match active.read(committed.len - tail_len, tail_len as usize) {
            Ok(tail) => (tail, None),
            Err(e) => (
                Default::default(),
                Some(format!(
                    "reading the active segment's last block failed: {e}"
                )),
            ),
        };
        WriterShard {
            shared,
            dir,
            padded: false,
            active,
            committed,
            staged_tip: committed,
            staged: Staged {
                buf: StageBuf::new(&tail),
                ..Staged::default()
            },
            in_round: false,
            failed,
        }
    }

    /// Cuts the block padding of direct writes off the active segment and makes that durable, so
    /// the file ends at its last frame.
    fn cut_padding(&mut self) -> io::Result<()> {
        if self.padded {
            self.active.file.set_len(self.committed.len)?;
            self.active.file.sync_data()?;
            self.padded = false;
        }
        Ok(())
    }

    /// Fails everything staged and rewinds to the committed tip.
    fn fail_staged(&mut self, err: &io::Error) {
        for (reply, _) in self.staged.replies.drain(..) {
            let _ = reply.send(Err(LogError::Io(io::Error::new(
                err.kind(),
                err.to_string(),
            ))));
        }
        self.staged.buf.discard();
        self.staged.entries.clear();
        self.staged.records.clear();
        self.staged.first_arrival_ms = None;
        self.staged_tip = self.committed;
    }
}

pub(crate) struct Writer {
    settings: Settings,
    shards: HashMap<ShardLogId, WriterShard>,
    registry: Registry,
    stats: Arc<StatsCounters>,
    round: Vec<ShardLogId>,
    round_bytes: usize,
    /// Shards written since their last fsync (only under Interval and Never).
    unsynced: HashSet<ShardLogId>,
    /// When the last fsync ended, on the clock's monotonic time.
    last_sync: Duration,
    /// The directory's lock (see `lock_dir`), let go once this writer writes no more.
    lock: Option<std::fs::File>,
    io: IoPool,
}

impl Writer {
    pub fn new(
        settings: Settings,
        registry: Registry,
        stats: Arc<StatsCounters>,
        lock: std::fs::File,
    ) -> Self {
        let shards = registry
            .read()
            .iter()
            .map(|(id, shared)| {
                (
                    *id,
                    WriterShard::new(shared.clone(), shard::shard_dir(&settings.root, *id)),
                )
            })
            .collect();
        let last_sync = settings.clock.elapsed();
        Writer {
            settings,
            shards,
            registry,
            stats,
            round: Vec::new(),
            round_bytes: 0,
            unsynced: HashSet::new(),
            last_sync,
            lock: Some(lock),
            io: IoPool::default(),
        }
    }

    pub fn run(mut self, rx: Receiver<Command>) {
        loop {
            let first = match self.interval_deadline() {
                Some(deadline) => {
                    let now = self.settings.clock.elapsed();
                    match rx.recv_timeout(deadline.saturating_sub(now)) {
                        Ok(cmd) => cmd,
                        Err(RecvTimeoutError::Timeout) => {
                            self.sync_unsynced();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match rx.recv() {
                    Ok(cmd) => cmd,
                    Err(_) => break,
                },
            };
            if !self.round_from(first, &rx) {
                return;
            }
        }
        // Every Log handle is gone: finish as close() would.
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "log shutdown after last handle dropped failed");
        }
    }

    /// Handles `first` and whatever else is queued, then commits. False once closed.
    fn round_from(&mut self, first: Command, rx: &Receiver<Command>) -> bool {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Append { id, records, reply } => self.stage(id, records, reply),
                Command::Close { reply } => {
                    let result = self.shutdown().and_then(|()| self.mark_clean());
                    // Free the directory before answering, so an open after close() succeeds.
                    self.lock = None;
                    let _ = reply.send(result);
                    return false;
                }
                Command::Create { id, reply } => {
                    self.commit();
                    let _ = reply.send(self.create(id));
                }
                Command::Probe { reply } => {
                    let _ = reply.send(self.probe());
                }
                Command::Remove { id, reply } => {
                    self.commit();
                    let _ = reply.send(self.remove(id));
                }
                Command::Trim {
                    id,
                    cutoff_ms,
                    reply,
                } => {
                    self.commit();
                    let _ = reply.send(self.trim(id, cutoff_ms));
                }
            }
            taken += 1;
            if taken < MAX_ROUND_COMMANDS && self.round_bytes < MAX_ROUND_BYTES {
                next = rx.try_recv().ok();
            }
        }
        self.commit();
        true
    }

    fn interval_deadline(&self) -> Option<Duration> {
        match self.settings.fsync {
            FsyncPolicy::Interval(d) if !self.unsynced.is_empty() => Some(self.last_sync + d),
            _ => None,
        }
    }

    /// Encodes one append batch into its shard's buffer.
    fn stage(
        &mut self,
        id: ShardLogId,
        records: Vec<NewRecord>,
        reply: oneshot::Sender<Result<Appended, LogError>>,
    ) {
        let Some(ws) = self.shards.get_mut(&id) else {
            let _ = reply.send(Err(LogError::ShardNotFound(id)));
            return;
        };
        if let Some(reason) = &ws.failed {
            let _ = reply.send(Err(LogError::ShardFailed {
                shard: id,
                reason: reason.clone(),
            }));
            return;
        }
        // Arrival times never go backwards within a shard, even if the wall clock does, so the
        // time index stays sorted and AT_TIMESTAMP lookups stay a binary search.
        let arrival_ms = self
            .settings
            .clock
            .now_ms()
            .max(ws.staged_tip.last_arrival_ms.unwrap_or(i64::MIN));
        let appended = Appended {
            first_offset: ws.staged_tip.next,
            arrival_ms,
        };
        if records.is_empty() {
            let _ = reply.send(Ok(appended));
            return;
        }
        let keep_records = self.settings.cache_bytes > 0;
        let before = ws.staged.buf.staged_len();
        let n = records.len();
        for (i, r) in records.into_iter().enumerate() {
            let offset = appended.first_offset + i as u64;
            let at = ws.staged.buf.staged_len();
            let pos = ws.committed.len + at as u64;
            if index::needs_entry(
                ws.staged_tip.last_index_pos,
                pos,
                self.settings.index_interval,
            ) {
                ws.staged.entries.push(IndexEntry {
                    offset,
                    pos,
                    arrival_ms,
                });
                ws.staged_tip.last_index_pos = Some(pos);
            }
            let spans = frame::encode(
                ws.staged.buf.frames(),
                &FrameFields {
                    offset,
                    arrival_ms,
                    partition_key: &r.partition_key,
                    explicit_hash_key: r.explicit_hash_key,
                    data: &r.data,
                    batch_end: i + 1 == n,
                    sealed: r.sealed,
                },
            );
            if keep_records {
                ws.staged.records.push(StagedRecord {
                    offset,
                    arrival_ms,
                    explicit_hash_key: r.explicit_hash_key,
                    sealed: r.sealed,
                    key: at + spans.key.start..at + spans.key.end,
                    data: at + spans.data.start..at + spans.data.end,
                });
            }
        }
        ws.staged.first_arrival_ms.get_or_insert(arrival_ms);
        ws.staged_tip.next += n as u64;
        ws.staged_tip.last_arrival_ms = Some(arrival_ms);
        ws.staged_tip.len = ws.committed.len + ws.staged.buf.staged_len() as u64;
        ws.staged.replies.push((reply, appended));
        self.round_bytes += ws.staged.buf.staged_len() - before;
        if !ws.in_round {
            ws.in_round = true;
            self.round.push(id);
        }
    }

    /// Writes, fsyncs and publishes everything staged in this round.
    fn commit(&mut self) {
        if self.round.is_empty() {
            return;
        }
        let mut round = std::mem::take(&mut self.round);
        round.retain(|id| self.shards.contains_key(id));
        self.round_bytes = 0;
        self.stats.batches.fetch_add(1, Relaxed);

        for id in &round {
            if let Some(ws) = self.shards.get_mut(id) {
                ws.in_round = false;
                ws.staged.buf.prepare(ws.active.direct);
            }
        }
        let sync_now = match self.settings.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(d) => self.settings.clock.elapsed() >= self.last_sync + d,
            FsyncPolicy::Never => false,
        };
        // Each file's fsync follows its own write in the same thread, so it need not wait for the
        // other files' writes.
        let jobs: Vec<&WriterShard> = round.iter().map(|id| &self.shards[id]).collect();
        let started = self.settings.clock.elapsed();
        let results = self.io.parallel(&jobs, |ws| {
            write_staged(&self.settings, ws).map_err(Failed::Write)?;
            if sync_now {
                sync_file(&self.settings, &self.stats, &ws.active).map_err(Failed::Sync)?;
            }
            Ok(())
        });
        let took = self.settings.clock.elapsed().saturating_sub(started);
        if took >= SLOW_COMMIT {
            // Every append of the round waited this long: worth a line when it happens.
            let bytes: usize = jobs.iter().map(|ws| ws.staged.buf.prepared().len()).sum();
            tracing::warn!(
                files = jobs.len(),
                bytes,
                fsync = sync_now,
                ms = took.as_millis() as u64,
                "slow log commit"
            );
        }
        if sync_now {
            self.stats.fsyncs.fetch_add(jobs.len() as u64, Relaxed);
        }
        let mut written = Vec::with_capacity(round.len());
        for (id, result) in round.iter().zip(results) {
            let Some(ws) = self.shards.get_mut(id) else {
                continue;
            };
            match result {
                Ok(()) => {
                    ws.padded |= ws.staged.buf.padded();
                    written.push(*id);
                    if !sync_now {
                        self.unsynced.insert(*id);
                    }
                }
                Err(Failed::Sync(e)) => {
                    ws.padded |= ws.staged.buf.padded();
                    fail_sync(id, ws, &e);
                }
                Err(Failed::Write(e)) => {
                    tracing::error!(shard = %id, error = %e, "log write failed");
                    ws.fail_staged(&e);
                    // Cut off whatever part of the buffer reached the file, so the next frame
                    // follows the last committed one.
                    match ws.active.file.set_len(ws.committed.len) {
                        Ok(()) => ws.padded = false,
                        Err(e2) => {
                            ws.failed =
                                Some(format!("write failed ({e}) and could not be undone ({e2})"))
                        }
                    }
                }
            }
        }

        if sync_now {
            // Under Interval, files written in earlier rounds are due too.
            self.sync_unsynced();
            self.last_sync = self.settings.clock.elapsed();
        }

        let (mut bytes, mut records) = (0, 0);
        for id in &written {
            if let Some(ws) = self.shards.get(id).filter(|ws| ws.failed.is_none()) {
                bytes += ws.staged_tip.len - ws.committed.len;
                records += ws.staged_tip.next - ws.committed.next;
            }
        }
        self.stats.commit_bytes.observe(bytes);
        self.stats.commit_records.observe(records);
        for id in written {
            let Some(ws) = self.shards.get_mut(&id) else {
                continue;
            };
            if ws.failed.is_some() {
                continue;
            }
            publish(ws, &self.stats);
            let full = ws.committed.len >= self.settings.segment_bytes;
            // A failed roll leaves the active segment in place; the next commit tries again.
            if let Err(e) = if full { self.roll(id) } else { Ok(()) } {
                tracing::error!(shard = %id, error = %e, "segment roll failed");
            }
        }
    }

    /// Fsyncs every file written since its last fsync. A shard whose fsync fails is failed for good
    /// (see `WriterShard::failed`), together with anything of it still unacknowledged.
    fn sync_unsynced(&mut self) {
        if self.unsynced.is_empty() {
            return;
        }
        let ids: Vec<ShardLogId> = self
            .unsynced
            .drain()
            .filter(|id| self.shards.contains_key(id))
            .collect();
        let files: Vec<Arc<SegmentFile>> = ids
            .iter()
            .map(|id| self.shards[id].active.clone())
            .collect();
        let results = self
            .io
            .parallel(&files, |f| sync_file(&self.settings, &self.stats, f));
        self.stats.fsyncs.fetch_add(files.len() as u64, Relaxed);
        self.last_sync = self.settings.clock.elapsed();
        for (id, result) in ids.iter().zip(results) {
            if let Err(e) = result
                && let Some(ws) = self.shards.get_mut(id)
            {
                fail_sync(id, ws, &e);
            }
        }
    }

    /// Seals the active segment (fsynced, index file written) and starts a new one at the next
    /// offset. Runs between commits, so nothing is staged and a batch never spans two segments.
    fn roll(&mut self, id: ShardLogId) -> Result<(), LogError> {
        let Some(ws) = self.shards.get_mut(&id) else {
            return Err(LogError::ShardNotFound(id));
        };
        // Sealed segments must be whole even under Interval/Never: recovery only repairs the tail of
        // the active segment, so a torn sealed one would leave a hole in the offsets. They also end
        // at their last frame: recovery of a sealed segment checks its length against its index.
        let unsynced = self.unsynced.remove(&id);
        if unsynced || ws.padded {
            self.stats.fsyncs.fetch_add(1, Relaxed);
            let synced = if ws.padded {
                ws.cut_padding()
            } else {
                ws.active.file.sync_data()
            };
            if let Err(e) = synced {
                ws.failed = Some(format!("fsync failed: {e}"));
                return Err(e.into());
            }
        }
        let (summary, old_path) = {
            let st = ws.shared.state.read();
            let seg = st
                .segments
                .last()
                .expect("a shard always has an active segment");
            (seg.summary(), seg.path.clone())
        };
        if summary.next == summary.base {
            return Ok(()); // nothing to seal; the new segment would have the same name
        }
        index::write_index_file(&segment::index_path(&old_path), &summary)?;
        let new_base = ws.committed.next;
        let path: Arc<std::path::Path> = ws.dir.join(segment::log_file_name(new_base)).into();
        let file = Arc::new(SegmentFile::open(&path, true)?);
        if let Err(e) = shard::sync_dir(&ws.dir) {
            // Leave no half-made segment behind: recovery would take it for the active one.
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        self.stats.fsyncs.fetch_add(2, Relaxed);
        {
            let mut st = ws.shared.state.write();
            if let Some(last) = st.segments.last_mut() {
                last.sealed = true;
            }
            st.segments.push(Segment {
                base: new_base,
                next: new_base,
                len: 0,
                first_arrival_ms: 0,
                last_arrival_ms: 0,
                index: Vec::new(),
                file: file.clone(),
                path,
                sealed: false,
            });
        }
        ws.active = file;
        ws.staged.buf = StageBuf::new(&[]);
        ws.committed.len = 0;
        ws.committed.last_index_pos = None;
        ws.staged_tip = ws.committed;
        tracing::info!(shard = %id, sealed_base = summary.base, new_base, "segment rolled");
        Ok(())
    }

    fn trim(&mut self, id: ShardLogId, cutoff_ms: i64) -> Result<u64, LogError> {
        let expired = |s: &Segment| s.is_empty() || s.last_arrival_ms < cutoff_ms;
        let roll_active = {
            let Some(ws) = self.shards.get(&id) else {
                return Err(LogError::ShardNotFound(id));
            };
            let st = ws.shared.state.read();
            let (active, sealed) = st
                .segments
                .split_last()
                .expect("a shard always has an active segment");
            // The active segment is never deleted; when it alone holds only expired records, it is
            // rolled first so retention can take it as a sealed one.
            sealed.iter().all(expired) && !active.is_empty() && active.last_arrival_ms < cutoff_ms
        };
        if roll_active {
            self.roll(id)?;
        }
        let Some(ws) = self.shards.get(&id) else {
            return Err(LogError::ShardNotFound(id));
        };
        let (removed, horizon) = {
            let mut st = ws.shared.state.write();
            let k = st
                .segments
                .iter()
                .take_while(|s| s.sealed && expired(s))
                .count();
            let removed: Vec<Segment> = st.segments.drain(..k).collect();
            let horizon = st.horizon();
            st.cache.drop_before(horizon);
            (removed, horizon)
        };
        if removed.is_empty() {
            return Ok(0);
        }
        // Oldest first, so a crash part-way leaves a contiguous run of segments.
        let mut freed = 0;
        for seg in &removed {
            freed += remove_file_len(&seg.path)?;
            freed += remove_file_len(&segment::index_path(&seg.path))?;
        }
        shard::sync_dir(&ws.dir)?;
        self.stats.fsyncs.fetch_add(1, Relaxed);
        tracing::info!(shard = %id, segments = removed.len(), freed, horizon, "retention deleted segments");
        Ok(freed)
    }

    /// Leaves the clean-shutdown marker: everything is committed, synced and cut to its frames,
    /// so the next open has nothing to repair (see `Log::opened_clean`).
    fn mark_clean(&self) -> Result<(), LogError> {
        std::fs::File::create(self.settings.root.join(CLEAN_SHUTDOWN_FILE))?.sync_all()?;
        shard::sync_dir(&self.settings.root)?;
        Ok(())
    }

    /// Writes, syncs and removes a small file in the log's directory: the directory takes
    /// durable writes (not read-only, not out of space, not failing).
    fn probe(&self) -> Result<(), LogError> {
        let path = self.settings.root.join(PROBE_FILE);
        let file = std::fs::File::create(&path)?;
        file.write_all_at(&[0u8; 512], 0)?;
        file.sync_data()?;
        drop(file);
        std::fs::remove_file(&path)?;
        Ok(())
    }

    fn create(&mut self, id: ShardLogId) -> Result<(), LogError> {
        if self.shards.contains_key(&id) {
            return Ok(());
        }
        let dir = shard::shard_dir(&self.settings.root, id);
        std::fs::create_dir_all(&dir)?;
        shard::sync_dir(&self.settings.root)?;
        // Recovery of a fresh directory creates its first segment and fsyncs the directory; of a
        // directory left by a crashed create, it repairs what is there.
        let state = shard::recover(
            &dir,
            id,
            self.settings.index_interval,
            self.settings.cache_bytes,
        )?;
        let shared = Arc::new(ShardShared::new(state));
        self.shards
            .insert(id, WriterShard::new(shared.clone(), dir));
        self.registry.write().insert(id, shared);
        tracing::info!(shard = %id, "shard log created");
        Ok(())
    }

    fn remove(&mut self, id: ShardLogId) -> Result<(), LogError> {
        self.registry.write().remove(&id);
        self.shards.remove(&id);
        self.unsynced.remove(&id);
        let root = &self.settings.root;
        let dir = shard::shard_dir(root, id);
        if !dir.exists() {
            return Ok(());
        }
        // Rename first (atomic), so a crash mid-delete leaves a directory that open() finishes
        // deleting rather than a shard log with a hole in it.
        let doomed = root.join(format!("{}{DELETING_SUFFIX}", shard::dir_name(id)));
        if doomed.exists() {
            std::fs::remove_dir_all(&doomed)?;
        }
        std::fs::rename(&dir, &doomed)?;
        shard::sync_dir(root)?;
        std::fs::remove_dir_all(&doomed)?;
        shard::sync_dir(root)?;
        tracing::info!(shard = %id, "shard log removed");
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), LogError> {
        self.commit();
        let failed_before: HashSet<ShardLogId> = self
            .shards
            .iter()
            .filter(|(_, ws)| ws.failed.is_some())
            .map(|(id, _)| *id)
            .collect();
        self.sync_unsynced();
        for (id, ws) in self.shards.iter_mut() {
            if ws.failed.is_none()
                && let Err(e) = ws.cut_padding()
            {
                tracing::error!(shard = %id, error = %e, "cutting the block padding at close failed");
                ws.failed = Some(format!("cutting the block padding failed: {e}"));
            }
        }
        let newly_failed = self
            .shards
            .iter()
            .find(|(id, ws)| ws.failed.is_some() && !failed_before.contains(id));
        match newly_failed {
            Some((id, ws)) => Err(LogError::ShardFailed {
                shard: *id,
                reason: ws.failed.clone().unwrap_or_default(),
            }),
            None => Ok(()),
        }
    }
}

pub(crate) const DELETING_SUFFIX: &str = ".deleting";

/// Makes the staged batch visible to readers, wakes tailing readers and acknowledges the appends.
fn publish(ws: &mut WriterShard, stats: &StatsCounters) {
    let records = ws.staged_tip.next - ws.committed.next;
    ws.committed = ws.staged_tip;
    let tip = ws.committed;
    let staged = &mut ws.staged;
    let frames = staged.buf.committed(!staged.records.is_empty());
    {
        let mut st = ws.shared.state.write();
        let st = &mut *st;
        if let Some(seg) = st.segments.last_mut() {
            if seg.is_empty() {
                seg.first_arrival_ms = staged.first_arrival_ms.unwrap_or_default();
            }
            seg.index.append(&mut staged.entries);
            seg.len = tip.len;
            seg.next = tip.next;
            seg.last_arrival_ms = tip.last_arrival_ms.unwrap_or_default();
        }
        st.next = tip.next;
        if let Some(frames) = &frames {
            for r in staged.records.drain(..) {
                st.cache.push(r.record(frames));
            }
        }
    }
    staged.first_arrival_ms = None;
    ws.shared.tail.send_replace(tip.next);
    stats.records.fetch_add(records, Relaxed);
    stats
        .appends
        .fetch_add(staged.replies.len() as u64, Relaxed);
    for (reply, appended) in staged.replies.drain(..) {
        // The appender may have stopped waiting; the records are durable all the same.
        let _ = reply.send(Ok(appended));
    }
}

/// Which step of a shard's write failed.
enum Failed {
    Write(io::Error),
    Sync(io::Error),
}

/// After a failed fsync the file's durable state is unknown: the shard fails for good, together
/// with anything of it still unacknowledged.
fn fail_sync(id: &ShardLogId, ws: &mut WriterShard, e: &io::Error) {
    tracing::error!(shard = %id, error = %e, "fsync failed; shard stops taking writes");
    ws.fail_staged(e);
    ws.failed = Some(format!("fsync failed: {e}"));
}

/// fdatasync of a segment (in unit tests, possibly failing as injected).
fn sync_file(settings: &Settings, stats: &StatsCounters, file: &SegmentFile) -> io::Result<()> {
    fail::fail_point!("log::fsync", |_| Err(io::Error::other(
        "failpoint log::fsync"
    )));
    #[cfg(test)]
    if settings.faults.take(&[faults::Fault::SyncError]).is_some() {
        return Err(io::Error::from_raw_os_error(5));
    }
    let started = settings.clock.elapsed();
    let synced = file.file.sync_data();
    stats
        .fsync_latency
        .observe_duration(settings.clock.elapsed().saturating_sub(started));
    synced
}

/// Writes a shard's prepared buffer (see `StageBuf::prepare`) at the block boundary before its
/// committed tip with one positional write (in unit tests, possibly failing as injected).
fn write_staged(settings: &Settings, ws: &WriterShard) -> io::Result<()> {
    let bytes = ws.staged.buf.prepared();
    let pos = ws.committed.len - ws.staged.buf.tail_len() as u64;
    fail::fail_point!("log::write", |_| Err(io::Error::other(
        "failpoint log::write"
    )));
    #[cfg(test)]
    if let Some(fault) = settings
        .faults
        .take(&[faults::Fault::NoSpace, faults::Fault::ShortWrite])
    {
        if fault == faults::Fault::ShortWrite {
            let mut half = ws.staged.buf.tail_len() + ws.staged.buf.staged_len() / 2;
            if ws.active.direct {
                half -= half % stage::BLOCK;
            }
            ws.active.file.write_all_at(&bytes[..half], pos)?;
        }
        return Err(io::Error::from_raw_os_error(28));
    }
    #[cfg(not(test))]
    let _ = settings;
    ws.active.file.write_all_at(bytes, pos)
}

/// Removes a file and returns its length; a file already gone counts as zero.
fn remove_file_len(path: &std::path::Path) -> io::Result<u64> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    std::fs::remove_file(path)?;
    Ok(len)
}

#[cfg(test)]
mod fault_tests {
    use super::faults::Fault;
    use crate::{Log, LogConfig, LogError, NewRecord, ShardLogId};

    const ID: ShardLogId = ShardLogId {
        stream: 1,
        shard: 0,
    };

    fn record(n: u8) -> Vec<NewRecord> {
        vec![NewRecord {
            sealed: false,
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: bytes::Bytes::from(vec![n; 100]),
        }]
    }

    async fn open(dir: &std::path::Path) -> (Log, super::faults::Injector) {
        let cfg = LogConfig::new(dir);
        let faults = cfg.faults.clone();
        let log = Log::open(cfg).unwrap();
        log.create_shard(ID).await.unwrap();
        (log, faults)
    }

    fn datas(log: &Log) -> Vec<u8> {
        log.read(ID, 0, 100, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.data[0])
            .collect()
    }

    /// ENOSPC and short writes fail only that append; nothing is acknowledged that is not on
    /// disk, the torn bytes are cut off, and the next append succeeds at the right offset.
    #[tokio::test]
    async fn failed_and_short_writes_fail_the_append_and_leave_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let (log, faults) = open(dir.path()).await;
        assert_eq!(log.append(ID, record(1)).await.unwrap().first_offset, 0);
        for fault in [Fault::NoSpace, Fault::ShortWrite] {
            faults.push(fault);
            let err = log.append(ID, record(9)).await.unwrap_err();
            assert!(matches!(err, LogError::Io(_)), "{err}");
            assert_eq!(log.bounds(ID).unwrap(), (0, 1));
        }
        assert_eq!(log.append(ID, record(2)).await.unwrap().first_offset, 1);
        assert_eq!(datas(&log), vec![1, 2]);
        log.close().await.unwrap();
        let log = Log::open(LogConfig::new(dir.path())).unwrap();
        assert_eq!(
            datas(&log),
            vec![1, 2],
            "the torn write left nothing behind after recovery"
        );
    }

    /// After a failed fsync the kernel may have dropped the data, so the append is refused and
    /// the shard takes no writes until the log is reopened; what was durable before survives.
    #[tokio::test]
    async fn failed_fsync_refuses_the_append_and_stops_the_shard_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, faults) = open(dir.path()).await;
        log.append(ID, record(1)).await.unwrap();
        faults.push(Fault::SyncError);
        assert!(log.append(ID, record(9)).await.is_err());
        assert!(
            log.append(ID, record(3)).await.is_err(),
            "the shard is failed"
        );
        assert_eq!(datas(&log), vec![1]);
        drop(log);
        let log = Log::open(LogConfig::new(dir.path())).unwrap();
        let next = log.append(ID, record(4)).await.unwrap().first_offset;
        let after = datas(&log);
        assert_eq!(after.first(), Some(&1));
        assert_eq!(after.last(), Some(&4));
        assert_eq!(next as usize, after.len() - 1);
    }
}
