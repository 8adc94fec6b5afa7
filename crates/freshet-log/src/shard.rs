//! One shard log as readers see it: its published (durable) segments, its record cache and its tail
//! notifier, plus recovery of a shard directory at open. Readers take the read lock only long enough
//! to copy what they need (a file handle and a position); disk reads happen outside the lock, so the
//! writer thread, which takes the write lock to publish, never waits on a reader's I/O.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::watch;

use crate::cache::{Limits, RecordCache};
use crate::index;
use crate::segment::{self, FrameCursor, Segment, SegmentFile, Step};
use crate::{LogError, Record, ShardLogId};

/// Directory name of a shard log under the log root.
pub(crate) fn dir_name(id: ShardLogId) -> String {
    format!("s{:016x}-{:08}", id.stream, id.shard)
}

pub(crate) fn parse_dir_name(name: &str) -> Option<ShardLogId> {
    let (stream, shard) = name.strip_prefix('s')?.split_once('-')?;
    if stream.len() != 16 || shard.len() < 8 || !shard.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = ShardLogId {
        stream: u64::from_str_radix(stream, 16).ok()?,
        shard: shard.parse().ok()?,
    };
    // Only the canonical spelling, so two names can never map to one shard.
    (dir_name(id) == name).then_some(id)
}

pub(crate) struct ShardShared {
    pub state: RwLock<ShardState>,
    /// Carries the durable next offset; tailing readers wait on it instead of polling.
    pub tail: watch::Sender<u64>,
}

pub(crate) struct ShardState {
    /// Oldest first; never empty, the last one is the active segment.
    pub segments: Vec<Segment>,
    /// Next offset to be assigned among durable records (readers see offsets below it).
    pub next: u64,
    pub cache: RecordCache,
}

impl ShardState {
    /// First retained offset (the trim horizon).
    pub fn horizon(&self) -> u64 {
        self.segments.first().map_or(self.next, |s| s.base)
    }

    pub fn last_arrival_ms(&self) -> Option<i64> {
        self.segments
            .iter()
            .rev()
            .find(|s| !s.is_empty())
            .map(|s| s.last_arrival_ms)
    }
}

/// What a disk read needs from one segment, copied out under the lock.
struct Span {
    file: Arc<SegmentFile>,
    path: Arc<Path>,
    start: u64,
    end: u64,
}

/// A read looks at no more segments than this; it may return fewer records than asked, never none
/// when records exist (the first segment looked at holds `from`).
const MAX_SEGMENTS_PER_READ: usize = 8;

impl ShardShared {
    pub fn new(state: ShardState) -> Self {
        let (tail, _) = watch::channel(state.next);
        ShardShared {
            state: RwLock::new(state),
            tail,
        }
    }

    pub fn bounds(&self) -> (u64, u64) {
        let st = self.state.read();
        (st.horizon(), st.next)
    }

    pub fn last_arrival_ms(&self) -> Option<i64> {
        self.state.read().last_arrival_ms()
    }

    pub fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        let mut limits = Limits::new(max_records, max_bytes);
        if max_records == 0 {
            return Ok(out);
        }
        let (from, spans) = {
            let st = self.state.read();
            let from = from.max(st.horizon());
            if from >= st.next {
                return Ok(out);
            }
            if st.cache.covers(from) {
                st.cache.read(from, &mut limits, &mut out);
                return Ok(out);
            }
            let first = st
                .segments
                .partition_point(|s| s.base <= from)
                .saturating_sub(1);
            let spans: Vec<Span> = st.segments[first..]
                .iter()
                .filter(|s| s.next > from)
                .take(MAX_SEGMENTS_PER_READ)
                .map(|s| Span {
                    file: s.file.clone(),
                    path: s.path.clone(),
                    start: index::floor_by_offset(&s.index, from).map_or(0, |e| e.pos),
                    end: s.len,
                })
                .collect();
            (from, spans)
        };
        let chunk = max_bytes.saturating_add(16 << 10).clamp(64 << 10, 1 << 20);
        for span in spans {
            let mut cursor = FrameCursor::new(&span.file, span.start, span.end, chunk);
            loop {
                match cursor.next_step()? {
                    Step::End => break,
                    Step::Frame { frame, .. } => {
                        if frame.offset < from {
                            continue;
                        }
                        if !limits.admit(frame.data.len()) {
                            return Ok(out);
                        }
                        out.push(Record {
                            offset: frame.offset,
                            arrival_ms: frame.arrival_ms,
                            partition_key: frame.partition_key,
                            explicit_hash_key: frame.explicit_hash_key,
                            data: frame.data,
                            sealed: frame.sealed,
                        });
                    }
                    Step::Bad { pos, reason } => return Err(corrupt(&span.path, pos, reason)),
                    Step::UnknownVersion { version } => {
                        return Err(LogError::UnsupportedFormat {
                            path: span.path.to_path_buf(),
                            version,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn offset_at_time(&self, ts_ms: i64) -> Result<u64, LogError> {
        let (span, fallback) = {
            let st = self.state.read();
            if let Some(offset) = st.cache.offset_at_time(ts_ms, st.next) {
                return Ok(offset);
            }
            // Arrival times never decrease, so the answer is in the first segment whose newest
            // record is not older than ts.
            let Some(seg) = st
                .segments
                .iter()
                .find(|s| !s.is_empty() && s.last_arrival_ms >= ts_ms)
            else {
                return Ok(st.next);
            };
            if seg.first_arrival_ms >= ts_ms {
                return Ok(seg.base);
            }
            let start = index::floor_before_time(&seg.index, ts_ms).map_or(0, |e| e.pos);
            (
                Span {
                    file: seg.file.clone(),
                    path: seg.path.clone(),
                    start,
                    end: seg.len,
                },
                seg.next,
            )
        };
        let mut cursor = FrameCursor::new(&span.file, span.start, span.end, 64 << 10);
        loop {
            match cursor.next_step()? {
                Step::End => return Ok(fallback),
                Step::Frame { frame, .. } if frame.arrival_ms >= ts_ms => return Ok(frame.offset),
                Step::Frame { .. } => {}
                Step::Bad { pos, reason } => return Err(corrupt(&span.path, pos, reason)),
                Step::UnknownVersion { version } => {
                    return Err(LogError::UnsupportedFormat {
                        path: span.path.to_path_buf(),
                        version,
                    });
                }
            }
        }
    }
}

fn corrupt(path: &Path, pos: u64, reason: &str) -> LogError {
    LogError::Corrupt {
        path: path.to_path_buf(),
        pos,
        reason: reason.to_string(),
    }
}

pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

/// Recovers a shard directory: sealed segments from their index files (or a scan), the active
/// segment by a scan that truncates it to its last complete batch. An empty directory (a create that
/// crashed before its first segment existed) becomes an empty log at offset 0.
pub(crate) fn recover(
    dir: &Path,
    id: ShardLogId,
    index_interval: u32,
    cache_bytes: usize,
) -> Result<ShardState, LogError> {
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = segment::parse_log_file_name(name) {
            bases.push(base);
        } else if name.ends_with(".index") {
            index_files.push(entry.path());
        }
    }
    bases.sort_unstable();
    let mut dir_changed = false;
    // An index without its segment is left over from a retention delete cut short by a crash.
    for path in index_files {
        let log = path.with_extension("log");
        if !log.exists() {
            std::fs::remove_file(&path)?;
            dir_changed = true;
        }
    }
    if bases.is_empty() {
        let path = dir.join(segment::log_file_name(0));
        SegmentFile::open(&path, true)?.file.sync_all()?;
        bases.push(0);
        dir_changed = true;
    }
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let last = bases.len() - 1;
    for (i, &base) in bases.iter().enumerate() {
        let path: Arc<Path> = dir.join(segment::log_file_name(base)).into();
        let seg = if i < last {
            recover_sealed(&path, base, index_interval, &mut dir_changed)?
        } else {
            recover_active(&path, id, base, index_interval)?
        };
        if let Some(prev) = segments.last() {
            if seg.base < prev.next {
                return Err(corrupt(
                    &seg.path,
                    0,
                    "segment overlaps the offsets of the one before it",
                ));
            }
            if seg.base > prev.next {
                tracing::error!(shard = %id, missing_from = prev.next, missing_to = seg.base, "offsets missing between segments");
            }
        }
        segments.push(seg);
    }
    if dir_changed {
        sync_dir(dir)?;
    }
    let next = segments.last().map_or(0, |s| s.next);
    Ok(ShardState {
        segments,
        next,
        cache: RecordCache::new(cache_bytes),
    })
}

fn recover_sealed(
    path: &Arc<Path>,
    base: u64,
    index_interval: u32,
    dir_changed: &mut bool,
) -> Result<Segment, LogError> {
    let file = SegmentFile::open(path, false)?;
    let len = file.file.metadata()?.len();
    let idx_path = segment::index_path(path);
    let summary = match index::read_index_file(&idx_path, base, len) {
        Some(s) => s,
        None => {
            let scan = segment::scan(&file, path, base, len, index_interval)?;
            let summary = index::SegmentSummary {
                base,
                next: scan.next,
                len: scan.len,
                first_arrival_ms: scan.first_arrival_ms,
                last_arrival_ms: scan.last_arrival_ms,
                entries: scan.index,
            };
            if let Some(reason) = scan.stopped {
                // Sealed segments were fsynced whole before the next one was created, so damage here
                // is not a torn write. Keep the file as evidence and serve its intact prefix.
                tracing::error!(segment = %path.display(), valid_len = scan.len, file_len = len, reason, "sealed segment is damaged");
            } else {
                index::write_index_file(&idx_path, &summary)?;
                *dir_changed = true;
            }
            summary
        }
    };
    Ok(Segment {
        base,
        next: summary.next,
        len: summary.len,
        first_arrival_ms: summary.first_arrival_ms,
        last_arrival_ms: summary.last_arrival_ms,
        index: summary.entries,
        file: Arc::new(file),
        path: path.clone(),
        sealed: true,
    })
}

fn recover_active(
    path: &Arc<Path>,
    id: ShardLogId,
    base: u64,
    index_interval: u32,
) -> Result<Segment, LogError> {
    let file = SegmentFile::open(path, false)?;
    let file_len = file.file.metadata()?.len();
    let scan = segment::scan(&file, path, base, file_len, index_interval)?;
    if let Some(reason) = scan.stopped {
        // Whatever follows the last complete batch was never acknowledged (acks wait for the
        // write, and for fsync under FsyncPolicy::Always), so cutting it off loses nothing promised.
        // Less than a block of zeros is the padding of a direct write (see `stage`), not damage.
        // Padding need not be cut durably: if it comes back after another crash, so does this cut.
        // (Skipping that fsync per shard makes a restart of thousands of shards seconds faster.)
        let padding = is_block_padding(&file, scan.len, file_len)?;
        if padding {
            tracing::debug!(shard = %id, segment = %path.display(), from_len = file_len, to_len = scan.len, "cutting block padding off the active segment");
        } else {
            tracing::warn!(shard = %id, segment = %path.display(), from_len = file_len, to_len = scan.len, reason, "truncating torn tail of active segment");
        }
        file.file.set_len(scan.len)?;
        if !padding {
            file.file.sync_all()?;
        }
    }
    Ok(Segment {
        base,
        next: scan.next,
        len: scan.len,
        first_arrival_ms: scan.first_arrival_ms,
        last_arrival_ms: scan.last_arrival_ms,
        index: scan.index,
        file: Arc::new(file),
        path: path.clone(),
        sealed: false,
    })
}

fn is_block_padding(file: &SegmentFile, from: u64, to: u64) -> std::io::Result<bool> {
    if to - from >= crate::stage::BLOCK as u64 {
        return Ok(false);
    }
    Ok(file
        .read(from, (to - from) as usize)?
        .iter()
        .all(|&b| b == 0))
}

/// The path of a shard's directory under the log root.
pub(crate) fn shard_dir(root: &Path, id: ShardLogId) -> PathBuf {
    root.join(dir_name(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let id = ShardLogId {
            stream: 0xdead_beef,
            shard: 7,
        };
        assert_eq!(dir_name(id), "s00000000deadbeef-00000007");
        assert_eq!(parse_dir_name(&dir_name(id)), Some(id));
        let big = ShardLogId {
            stream: u64::MAX,
            shard: u32::MAX,
        };
        assert_eq!(parse_dir_name(&dir_name(big)), Some(big));
        assert_eq!(parse_dir_name("s00000000deadbeef-7"), None);
        assert_eq!(parse_dir_name("s00000000deadbeef-00000007.deleting"), None);
        assert_eq!(parse_dir_name("x00000000deadbeef-00000007"), None);
    }
}
