//! The in-memory cache of a shard's most recent durable records, so tailing readers (the common case)
//! never touch the disk. It always holds a contiguous run of offsets ending at the shard's durable
//! next offset, and evicts from the front to stay within its byte budget.

use std::collections::VecDeque;

use crate::Record;

/// Per-record bookkeeping counted against the budget besides key and data, so a flood of tiny
/// records cannot grow the cache without bound.
const RECORD_OVERHEAD: usize = 64;

pub(crate) struct RecordCache {
    records: VecDeque<Record>,
    bytes: usize,
    budget: usize,
}

fn cost(r: &Record) -> usize {
    r.data.len() + r.partition_key.len() + RECORD_OVERHEAD
}

impl RecordCache {
    pub fn new(budget: usize) -> Self {
        RecordCache {
            records: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Whether building records for the cache is worth it at all.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// Adds the next record (its offset follows the last cached one).
    pub fn push(&mut self, r: Record) {
        if !self.enabled() {
            return;
        }
        debug_assert!(self.records.back().is_none_or(|b| b.offset + 1 == r.offset));
        self.bytes += cost(&r);
        self.records.push_back(r);
        while self.bytes > self.budget {
            let Some(old) = self.records.pop_front() else {
                break;
            };
            self.bytes -= cost(&old);
        }
    }

    /// Forgets records below `offset` (they were trimmed).
    pub fn drop_before(&mut self, offset: u64) {
        while let Some(front) = self.records.front() {
            if front.offset >= offset {
                break;
            }
            self.bytes -= cost(front);
            self.records.pop_front();
        }
    }

    /// True when `from` is cached (or is just past the cached run).
    pub fn covers(&self, from: u64) -> bool {
        self.records.front().is_some_and(|f| f.offset <= from)
    }

    /// Appends records from `from` to `out` within the limits (see `Limits`).
    pub fn read(&self, from: u64, limits: &mut Limits, out: &mut Vec<crate::Record>) {
        let Some(front) = self.records.front() else {
            return;
        };
        let start = usize::try_from(from.saturating_sub(front.offset)).unwrap_or(usize::MAX);
        for r in self.records.iter().skip(start) {
            if !limits.admit(r.data.len()) {
                break;
            }
            out.push(r.clone());
        }
    }

    /// The answer to "first offset with arrival >= ts" when the cache can give it: only when the
    /// oldest cached record arrived before `ts` (otherwise an older, uncached record may qualify).
    pub fn offset_at_time(&self, ts_ms: i64, next: u64) -> Option<u64> {
        let front = self.records.front()?;
        if front.arrival_ms >= ts_ms {
            return None;
        }
        let i = self.records.partition_point(|r| r.arrival_ms < ts_ms);
        Some(self.records.get(i).map_or(next, |r| r.offset))
    }
}

/// The record and byte limits of one read. `max_bytes` counts record data only; the first record is
/// always admitted, whatever its size, so a reader is never stuck behind a large record; after it,
/// a record is admitted only while the total stays within `max_bytes`.
pub(crate) struct Limits {
    records_left: usize,
    max_bytes: usize,
    bytes: usize,
    taken: usize,
}

impl Limits {
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Limits {
            records_left: max_records,
            max_bytes,
            bytes: 0,
            taken: 0,
        }
    }

    /// Takes one record of `data_len` bytes if the limits allow it.
    pub fn admit(&mut self, data_len: usize) -> bool {
        let bytes = self.bytes.saturating_add(data_len);
        if self.records_left == 0 || (self.taken > 0 && bytes > self.max_bytes) {
            return false;
        }
        self.records_left -= 1;
        self.bytes = bytes;
        self.taken += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(offset: u64, arrival_ms: i64, len: usize) -> Record {
        Record {
            sealed: false,
            offset,
            arrival_ms,
            partition_key: bytestring::ByteString::new(),
            explicit_hash_key: None,
            data: Bytes::from(vec![0; len]),
        }
    }

    #[test]
    fn evicts_oldest_within_budget() {
        let mut c = RecordCache::new(3 * (100 + RECORD_OVERHEAD));
        for i in 0..10 {
            c.push(rec(i, i as i64, 100));
        }
        assert!(!c.covers(6));
        assert!(c.covers(7));
        let mut out = Vec::new();
        c.read(8, &mut Limits::new(10, 1000), &mut out);
        assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![8, 9]);
        assert_eq!(c.offset_at_time(8, 10), Some(8));
        assert_eq!(c.offset_at_time(100, 10), Some(10));
        assert_eq!(
            c.offset_at_time(7, 10),
            None,
            "records before the cache may match"
        );
        c.drop_before(9);
        assert!(!c.covers(8));
        assert!(c.covers(9));
    }

    #[test]
    fn limits_admit_at_least_one() {
        let mut l = Limits::new(5, 10);
        assert!(l.admit(100));
        assert!(
            !l.admit(0),
            "nothing joins a first record that is already over the limit"
        );
        let mut l = Limits::new(5, 10);
        assert!(l.admit(4) && l.admit(6));
        assert!(!l.admit(1));
        let mut l = Limits::new(1, 10);
        assert!(l.admit(1));
        assert!(!l.admit(1));
    }
}
