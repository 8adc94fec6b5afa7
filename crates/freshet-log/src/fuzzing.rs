//! The stored record format's decoders, exposed for the fuzz targets under `fuzz/` only (cargo
//! feature `fuzzing`; never enabled by the server): the frame decoder, the chunked frame cursor
//! that reads serve from, and the segment scan that recovery trusts to find the last intact batch.
//! All three read bytes a crash or a disk may have damaged, so none may panic on any input.

use std::fs::File;

use bytes::Bytes;

use crate::frame::{self, Decoded, FrameFields};
use crate::segment::{self, FrameCursor, SegmentFile, Step};
use crate::{LogError, Record};

/// A whole, checksum-verified frame and the bytes it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    pub record: Record,
    pub batch_end: bool,
    pub len: usize,
}

/// What `decode_frame` found at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameDecode {
    Frame(DecodedFrame),
    /// Only part of a frame: `need` bytes from the start are required.
    Incomplete {
        need: usize,
    },
    /// Not a frame: the end of good data.
    Invalid(&'static str),
    /// A checksum-valid frame of another format version.
    UnknownVersion(u8),
}

fn decoded_frame(frame: frame::Frame, len: usize) -> DecodedFrame {
    DecodedFrame {
        record: Record {
            sealed: frame.sealed,
            offset: frame.offset,
            arrival_ms: frame.arrival_ms,
            partition_key: frame.partition_key,
            explicit_hash_key: frame.explicit_hash_key,
            data: frame.data,
        },
        batch_end: frame.batch_end,
        len,
    }
}

/// Decodes the frame at the start of `buf`.
pub fn decode_frame(buf: &Bytes) -> FrameDecode {
    match frame::decode(buf) {
        Decoded::Frame { frame, len } => FrameDecode::Frame(decoded_frame(frame, len)),
        Decoded::Incomplete { need } => FrameDecode::Incomplete { need },
        Decoded::Invalid(reason) => FrameDecode::Invalid(reason),
        Decoded::UnknownVersion(v) => FrameDecode::UnknownVersion(v),
    }
}

/// The bytes the writer stores for `record`.
pub fn encode_frame(record: &Record, batch_end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode(
        &mut out,
        &FrameFields {
            sealed: record.sealed,
            offset: record.offset,
            arrival_ms: record.arrival_ms,
            partition_key: &record.partition_key,
            explicit_hash_key: record.explicit_hash_key,
            data: &record.data,
            batch_end,
        },
    );
    out
}

/// Every frame of `file[..len]` as the read path's cursor sees it, refilling `chunk_size` bytes
/// at a time, and why it stopped early, if it did.
pub fn read_frames(
    file: &File,
    len: u64,
    chunk_size: usize,
) -> Result<(Vec<DecodedFrame>, Option<&'static str>), LogError> {
    let file = SegmentFile::buffered(file.try_clone()?);
    let mut cursor = FrameCursor::new(&file, 0, len, chunk_size);
    let mut frames = Vec::new();
    loop {
        match cursor.next_step()? {
            Step::Frame { frame, len, .. } => frames.push(decoded_frame(frame, len)),
            Step::End => return Ok((frames, None)),
            Step::Bad { reason, .. } => return Ok((frames, Some(reason))),
            Step::UnknownVersion { .. } => return Ok((frames, Some("unknown format version"))),
        }
    }
}

/// What recovery's scan keeps of a segment file: offsets `base..next` in its first `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanSummary {
    pub next: u64,
    pub len: u64,
    pub index_entries: usize,
    pub stopped: Option<&'static str>,
}

/// Scans `file[..len]` as recovery does for a segment whose first offset is `base`.
pub fn scan_segment(
    file: &File,
    base: u64,
    len: u64,
    index_interval: u32,
) -> Result<ScanSummary, LogError> {
    let scan = segment::scan(
        &SegmentFile::buffered(file.try_clone()?),
        std::path::Path::new("fuzz.log"),
        base,
        len,
        index_interval,
    )?;
    Ok(ScanSummary {
        next: scan.next,
        len: scan.len,
        index_entries: scan.index.len(),
        stopped: scan.stopped,
    })
}
