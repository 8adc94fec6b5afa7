//! The sparse per-segment index and its persisted form (the `.index` file of a sealed segment).
//!
//! One entry is kept for the first frame of a segment and then for the first frame at least
//! `index_interval_bytes` after the previous entry. Each entry carries offset, file position and
//! arrival time, so the same entries serve as the offset index (offset → position) and, because
//! arrival times never decrease within a shard, as the time index (arrival_ms → offset). A lookup
//! lands at most about one interval before its target and scans forward from there.
//!
//! Index file layout, little-endian, version 1:
//!
//! ```text
//! [b"FLIX"][u8 version = 1][u64 base][u64 next_offset][u64 segment_len]
//! [i64 first_arrival_ms][i64 last_arrival_ms][u32 count][count × (u64 offset, u64 pos, i64 arrival_ms)]
//! [u32 crc32c of everything before it]
//! ```
//!
//! The file is only trusted when its checksum, base and recorded segment length all match; otherwise
//! the segment is rescanned, so a torn or stale index file costs time, never correctness.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &[u8; 4] = b"FLIX";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 8 * 5 + 4;
const ENTRY_LEN: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub offset: u64,
    pub pos: u64,
    pub arrival_ms: i64,
}

/// Whether the frame at `pos` gets an index entry, given the position of the last entry.
pub(crate) fn needs_entry(last_entry_pos: Option<u64>, pos: u64, interval: u32) -> bool {
    last_entry_pos.is_none_or(|last| pos - last >= u64::from(interval))
}

/// The last entry at or before `offset`.
pub(crate) fn floor_by_offset(entries: &[IndexEntry], offset: u64) -> Option<IndexEntry> {
    let i = entries.partition_point(|e| e.offset <= offset);
    i.checked_sub(1).map(|i| entries[i])
}

/// The last entry whose arrival time is before `ts_ms`: the first record at or after `ts_ms` lies
/// after it (arrival times are monotonic).
pub(crate) fn floor_before_time(entries: &[IndexEntry], ts_ms: i64) -> Option<IndexEntry> {
    let i = entries.partition_point(|e| e.arrival_ms < ts_ms);
    i.checked_sub(1).map(|i| entries[i])
}

/// Everything known about a sealed segment, as persisted in its index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    pub base: u64,
    pub next: u64,
    pub len: u64,
    pub first_arrival_ms: i64,
    pub last_arrival_ms: i64,
    pub entries: Vec<IndexEntry>,
}

/// Writes the index file and fsyncs it (the caller fsyncs the directory).
pub(crate) fn write_index_file(path: &Path, s: &SegmentSummary) -> io::Result<()> {
    let mut buf = Vec::with_capacity(HEADER_LEN + s.entries.len() * ENTRY_LEN + 4);
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    for v in [s.base, s.next, s.len] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.extend_from_slice(&s.first_arrival_ms.to_le_bytes());
    buf.extend_from_slice(&s.last_arrival_ms.to_le_bytes());
    let count = u32::try_from(s.entries.len()).map_err(|_| io::Error::other("index too large"))?;
    buf.extend_from_slice(&count.to_le_bytes());
    for e in &s.entries {
        buf.extend_from_slice(&e.offset.to_le_bytes());
        buf.extend_from_slice(&e.pos.to_le_bytes());
        buf.extend_from_slice(&e.arrival_ms.to_le_bytes());
    }
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    let mut f = File::create(path)?;
    f.write_all(&buf)?;
    f.sync_all()
}

/// Reads an index file; `None` when it is missing, torn, or does not describe this segment file.
pub(crate) fn read_index_file(path: &Path, base: u64, segment_len: u64) -> Option<SegmentSummary> {
    let buf = std::fs::read(path).ok()?;
    let s = parse(&buf)?;
    (s.base == base && s.len == segment_len).then_some(s)
}

fn parse(buf: &[u8]) -> Option<SegmentSummary> {
    let (body, crc) = buf.split_at_checked(buf.len().checked_sub(4)?)?;
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    if body.len() < HEADER_LEN || &body[..4] != MAGIC || body[4] != VERSION {
        return None;
    }
    let u64_at = |i: usize| {
        body.get(i..i + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (base, next, len) = (u64_at(5)?, u64_at(13)?, u64_at(21)?);
    let (first_arrival_ms, last_arrival_ms) = (u64_at(29)? as i64, u64_at(37)? as i64);
    let count = u32::from_le_bytes(body.get(45..49)?.try_into().ok()?) as usize;
    if body.len() != HEADER_LEN + count.checked_mul(ENTRY_LEN)? || next < base {
        return None;
    }
    let entries = body[HEADER_LEN..]
        .chunks_exact(ENTRY_LEN)
        .map(|c| {
            let f = |i: usize| {
                u64::from_le_bytes([
                    c[i],
                    c[i + 1],
                    c[i + 2],
                    c[i + 3],
                    c[i + 4],
                    c[i + 5],
                    c[i + 6],
                    c[i + 7],
                ])
            };
            IndexEntry {
                offset: f(0),
                pos: f(8),
                arrival_ms: f(16) as i64,
            }
        })
        .collect();
    Some(SegmentSummary {
        base,
        next,
        len,
        first_arrival_ms,
        last_arrival_ms,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentSummary {
        SegmentSummary {
            base: 100,
            next: 130,
            len: 9000,
            first_arrival_ms: 5,
            last_arrival_ms: 9,
            entries: vec![
                IndexEntry {
                    offset: 100,
                    pos: 0,
                    arrival_ms: 5,
                },
                IndexEntry {
                    offset: 110,
                    pos: 4100,
                    arrival_ms: 7,
                },
                IndexEntry {
                    offset: 121,
                    pos: 8200,
                    arrival_ms: 9,
                },
            ],
        }
    }

    #[test]
    fn file_round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let s = sample();
        write_index_file(&path, &s).unwrap();
        assert_eq!(read_index_file(&path, 100, 9000), Some(s.clone()));
        assert_eq!(read_index_file(&path, 101, 9000), None, "wrong base");
        assert_eq!(
            read_index_file(&path, 100, 9001),
            None,
            "segment length changed"
        );
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert_eq!(read_index_file(&path, 100, 9000), None, "torn at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(read_index_file(&path, 100, 9000), None);
    }

    #[test]
    fn lookups() {
        let e = sample().entries;
        assert_eq!(floor_by_offset(&e, 99), None);
        assert_eq!(floor_by_offset(&e, 100).unwrap().pos, 0);
        assert_eq!(floor_by_offset(&e, 120).unwrap().pos, 4100);
        assert_eq!(floor_by_offset(&e, 500).unwrap().pos, 8200);
        assert_eq!(floor_before_time(&e, 5), None);
        assert_eq!(floor_before_time(&e, 8).unwrap().offset, 110);
        assert_eq!(floor_before_time(&e, 100).unwrap().offset, 121);
        assert!(needs_entry(None, 0, 4096));
        assert!(!needs_entry(Some(0), 4095, 4096));
        assert!(needs_entry(Some(0), 4096, 4096));
    }
}
