//! One segment file of a shard log: its name, its in-memory description, the cursor that reads frames
//! from it with positional reads, and the scan that recovers or rebuilds its index.
//!
//! A segment is named by the offset of its first record (`{base:020}.log`); a sealed segment also has
//! `{base:020}.index`. Appends go only to the last (active) segment; a batch never spans segments,
//! because segments roll between commits.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::LogError;
use crate::frame::{self, Decoded, Frame};
use crate::index::{self, IndexEntry};
use crate::stage::{BLOCK, lead_to_block};

pub(crate) fn log_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

pub(crate) fn index_path(log_path: &Path) -> PathBuf {
    log_path.with_extension("index")
}

/// The base offset named by a segment file name, for `.log` files.
pub(crate) fn parse_log_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// A segment file, opened for direct I/O where the file system allows it (see `stage` for why)
/// and through the page cache where it does not (tmpfs). One descriptor either way: a server with
/// thousands of shards keeps thousands of segments open.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub file: File,
    /// Opened with `O_DIRECT`: reads and writes must be block-aligned.
    pub direct: bool,
}

impl SegmentFile {
    pub fn open(path: &Path, create: bool) -> io::Result<Self> {
        let open = |flags| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .custom_flags(flags)
                .open(path)
        };
        match open(libc::O_DIRECT) {
            Ok(file) => Ok(SegmentFile { file, direct: true }),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!(segment = %path.display(), "no direct I/O here; using the page cache");
                Ok(SegmentFile {
                    file: open(0)?,
                    direct: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A file read through the page cache only.
    #[cfg(feature = "fuzzing")]
    pub fn buffered(file: File) -> Self {
        SegmentFile {
            file,
            direct: false,
        }
    }

    /// `n` bytes at `pos`, which must lie within the file.
    pub fn read(&self, pos: u64, n: usize) -> io::Result<Bytes> {
        if !self.direct {
            let mut buf = vec![0; n];
            self.file.read_exact_at(&mut buf, pos)?;
            return Ok(Bytes::from(buf));
        }
        // Direct reads cover whole blocks at a block-aligned address; the bytes asked for are a
        // slice of them (no copy). The last block may be cut short by the end of the file.
        // The buffer is not zeroed first (that was 6 % of a GetRecords drain's CPU): only bytes the
        // kernel wrote become part of it.
        let start = pos - pos % BLOCK as u64;
        let skip = (pos - start) as usize;
        let len = (skip + n).next_multiple_of(BLOCK);
        let mut buf: Vec<u8> = Vec::with_capacity(len + BLOCK);
        let lead = lead_to_block(buf.as_ptr());
        buf.resize(lead, 0);
        while buf.len() < lead + len {
            let got = buf.len() - lead;
            let want = len - got;
            let spare = buf.spare_capacity_mut();
            debug_assert!(spare.len() >= want);
            // SAFETY: `spare` is the vector's unused capacity, at least `want` bytes long (the
            // capacity is lead + len + slack), so pread writes only into memory the vector owns.
            // It returns how many bytes it wrote there, and only those are counted into the
            // length, so the vector never exposes uninitialized bytes.
            let k = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    want,
                    (start + got as u64) as libc::off_t,
                )
            };
            match k {
                0 => break,
                k if k < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                k => {
                    let k = k as usize;
                    // SAFETY: pread initialized these k bytes (k <= want <= spare capacity).
                    unsafe { buf.set_len(buf.len() + k) };
                    // Only the end of the file cuts a direct read short of whole blocks.
                    if !k.is_multiple_of(BLOCK) {
                        break;
                    }
                }
            }
        }
        if buf.len() < lead + skip + n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(Bytes::from(buf).slice(lead + skip..lead + skip + n))
    }
}

/// The published (durable) description of one segment. Readers see only what is described here.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base: u64,
    /// One past the last durable record's offset; `base` when the segment holds no records.
    pub next: u64,
    /// Bytes of durable frames.
    pub len: u64,
    /// Arrival times of the first and last durable record; meaningless while empty.
    pub first_arrival_ms: i64,
    pub last_arrival_ms: i64,
    pub index: Vec<IndexEntry>,
    pub file: Arc<SegmentFile>,
    pub path: Arc<Path>,
    pub sealed: bool,
}

impl Segment {
    pub fn is_empty(&self) -> bool {
        self.next == self.base
    }

    pub fn summary(&self) -> index::SegmentSummary {
        index::SegmentSummary {
            base: self.base,
            next: self.next,
            len: self.len,
            first_arrival_ms: self.first_arrival_ms,
            last_arrival_ms: self.last_arrival_ms,
            entries: self.index.clone(),
        }
    }
}

pub(crate) enum Step {
    Frame {
        frame: Frame,
        pos: u64,
        len: usize,
    },
    End,
    /// The bytes at `pos` are not a valid frame (or one is cut off by `end`).
    Bad {
        pos: u64,
        reason: &'static str,
    },
    UnknownVersion {
        version: u8,
    },
}

/// Reads consecutive frames from `[pos, end)` of a file in chunks, handing out record data as slices
/// of the chunk (no per-record copy). Positional reads, so many cursors can share one file.
pub(crate) struct FrameCursor<'a> {
    file: &'a SegmentFile,
    pos: u64,
    end: u64,
    chunk: Bytes,
    chunk_start: u64,
    chunk_size: usize,
}

impl<'a> FrameCursor<'a> {
    pub fn new(file: &'a SegmentFile, pos: u64, end: u64, chunk_size: usize) -> Self {
        FrameCursor {
            file,
            pos,
            end,
            chunk: Bytes::new(),
            chunk_start: pos,
            chunk_size,
        }
    }

    pub fn next_step(&mut self) -> std::io::Result<Step> {
        if self.pos >= self.end {
            return Ok(Step::End);
        }
        // The largest need a refill has already satisfied; a frame whose length is only known after the
        // first refill (it exceeds the chunk size) gets a second, larger refill.
        let mut refilled_for = 0;
        loop {
            let skip = usize::try_from(self.pos - self.chunk_start).unwrap_or(usize::MAX);
            let avail = if skip <= self.chunk.len() {
                self.chunk.slice(skip..)
            } else {
                Bytes::new()
            };
            match frame::decode(&avail) {
                Decoded::Frame { frame, len } => {
                    let pos = self.pos;
                    self.pos += len as u64;
                    if self.pos > self.end {
                        return Ok(Step::Bad {
                            pos,
                            reason: "frame extends past the end of data",
                        });
                    }
                    return Ok(Step::Frame { frame, pos, len });
                }
                Decoded::Incomplete { need } => {
                    let remaining = self.end - self.pos;
                    if need as u64 > remaining {
                        return Ok(Step::Bad {
                            pos: self.pos,
                            reason: "truncated frame",
                        });
                    }
                    if refilled_for >= need {
                        // A refill reads at least `need` bytes, so this means the file changed under us.
                        return Ok(Step::Bad {
                            pos: self.pos,
                            reason: "short read",
                        });
                    }
                    let n = (need.max(self.chunk_size) as u64).min(remaining) as usize;
                    self.chunk = self.file.read(self.pos, n)?;
                    self.chunk_start = self.pos;
                    refilled_for = need;
                }
                Decoded::Invalid(reason) => {
                    return Ok(Step::Bad {
                        pos: self.pos,
                        reason,
                    });
                }
                Decoded::UnknownVersion(version) => return Ok(Step::UnknownVersion { version }),
            }
        }
    }
}

/// What a scan of a segment file found: the whole batches that are intact.
#[derive(Debug)]
pub(crate) struct ScanOutcome {
    pub next: u64,
    /// Length of the intact prefix; shorter than the file when the scan stopped early.
    pub len: u64,
    pub first_arrival_ms: i64,
    pub last_arrival_ms: i64,
    pub index: Vec<IndexEntry>,
    /// Why the scan stopped before the end of the file, if it did.
    pub stopped: Option<&'static str>,
}

const SCAN_CHUNK: usize = 1 << 20;

/// Scans a whole segment file frame by frame, keeping only complete batches: a batch whose last
/// frame is missing or damaged is dropped entirely. Offsets must run on from `base` without gaps.
pub(crate) fn scan(
    file: &SegmentFile,
    path: &Path,
    base: u64,
    file_len: u64,
    index_interval: u32,
) -> Result<ScanOutcome, LogError> {
    let mut cursor = FrameCursor::new(file, 0, file_len, SCAN_CHUNK);
    let mut index = Vec::new();
    let mut out = ScanOutcome {
        next: base,
        len: 0,
        first_arrival_ms: 0,
        last_arrival_ms: 0,
        index: Vec::new(),
        stopped: None,
    };
    let mut committed_entries = 0;
    let mut expected = base;
    loop {
        match cursor.next_step()? {
            Step::End => {
                if out.len < file_len {
                    out.stopped = Some("incomplete batch at end of segment");
                }
                break;
            }
            Step::Bad { reason, .. } => {
                out.stopped = Some(reason);
                break;
            }
            Step::UnknownVersion { version } => {
                return Err(LogError::UnsupportedFormat {
                    path: path.to_path_buf(),
                    version,
                });
            }
            Step::Frame { frame, pos, len } => {
                if frame.offset != expected {
                    out.stopped = Some("record offset out of sequence");
                    break;
                }
                if index::needs_entry(
                    index.last().map(|e: &IndexEntry| e.pos),
                    pos,
                    index_interval,
                ) {
                    index.push(IndexEntry {
                        offset: frame.offset,
                        pos,
                        arrival_ms: frame.arrival_ms,
                    });
                }
                expected += 1;
                if frame.batch_end {
                    if out.next == base {
                        out.first_arrival_ms =
                            index.first().map_or(frame.arrival_ms, |e| e.arrival_ms);
                    }
                    out.next = expected;
                    out.len = pos + len as u64;
                    out.last_arrival_ms = frame.arrival_ms;
                    committed_entries = index.len();
                }
            }
        }
    }
    index.truncate(committed_entries);
    out.index = index;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct reads (whole aligned blocks, sliced) return exactly what buffered reads return, at
    /// any position and length, up to the end of a file whose length is not a whole block.
    #[test]
    fn direct_reads_match_buffered_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(log_file_name(0));
        let content: Vec<u8> = (0..3 * BLOCK + 1234)
            .map(|i| (i * 131 % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        let file = SegmentFile::open(&path, false).unwrap();
        let buffered = SegmentFile {
            file: File::open(&path).unwrap(),
            direct: false,
        };
        let len = content.len();
        for pos in [0, 1, 100, BLOCK - 1, BLOCK, BLOCK + 7, 3 * BLOCK, len - 1] {
            for n in [1, 9, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5, len] {
                if pos + n > len {
                    assert!(file.read(pos as u64, n).is_err(), "past the end {pos}+{n}");
                    continue;
                }
                let want = &content[pos..pos + n];
                assert_eq!(&file.read(pos as u64, n).unwrap()[..], want, "{pos}+{n}");
                assert_eq!(
                    &buffered.read(pos as u64, n).unwrap()[..],
                    want,
                    "{pos}+{n}"
                );
            }
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
        assert_eq!(
            parse_log_file_name(&log_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(
            index_path(Path::new("/a/00000000000000000042.log")),
            Path::new("/a/00000000000000000042.index")
        );
    }
}
