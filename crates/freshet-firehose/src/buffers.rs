//! A delivery stream's destination buffers: one per active partition (one in all without
//! dynamic partitioning), one per kind of error output, and one for the source-record backup;
//! each flushes on its own when it reaches the buffer size or interval. Records enter in
//! generations (one per processed read), each with the source positions that follow it; a
//! generation's positions can be checkpointed once no buffer holds any of its records, which
//! keeps delivery at least once however the buffers interleave.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::config::Thresholds;
use crate::prefix::PartitionKeys;
use crate::source::SourceRecord;

/// Which buffer a record goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartId {
    /// Destination data; the values of the prefix's partition keys ("" without partitioning).
    Data(String),
    /// Error output of one type (`processing-failed`, `activePartitionExceeded`, ...).
    Error(&'static str),
    /// The untransformed source records (S3BackupMode Enabled / AllData).
    Backup,
}

pub struct Part {
    pub records: Vec<SourceRecord>,
    pub bytes: u64,
    /// The partition keys of a data partition (all its records share the prefix's keys).
    pub keys: PartitionKeys,
    opened: Duration,
    oldest_generation: u64,
}

impl Part {
    /// The records' data back to back: what an S3 object or a HEC request holds.
    pub fn body(&self) -> bytes::Bytes {
        let mut body = Vec::with_capacity(self.bytes as usize);
        for r in &self.records {
            body.extend_from_slice(&r.data);
        }
        body.into()
    }

    pub fn oldest_arrival(&self) -> Option<i64> {
        self.records.iter().map(|r| r.arrival_ms).min()
    }
}

/// Source positions that may be checkpointed, the arrival time of the last record before them
/// (the log trims up to it), and how many bytes were read before them.
#[derive(Debug, Default, PartialEq)]
pub struct Settled {
    pub marks: BTreeMap<String, String>,
    pub last_arrival: Option<i64>,
    pub bytes: u64,
}

#[derive(Default)]
pub struct Buffers {
    parts: HashMap<PartId, Part>,
    generations: BTreeMap<u64, Settled>,
    next: u64,
}

impl Buffers {
    /// Opens a generation: what is added until the next one belongs to it, and `settled`
    /// becomes checkpointable once all of that is delivered.
    pub fn generation(&mut self, settled: Settled) -> u64 {
        let g = self.next;
        self.next += 1;
        self.generations.insert(g, settled);
        g
    }

    /// How many data partitions hold records.
    pub fn active_partitions(&self) -> usize {
        self.parts
            .keys()
            .filter(|id| matches!(id, PartId::Data(_)))
            .count()
    }

    pub fn contains(&self, id: &PartId) -> bool {
        self.parts.contains_key(id)
    }

    /// Adds records of the latest generation; `now` opens a new buffer's interval.
    pub fn add(
        &mut self,
        id: PartId,
        keys: impl FnOnce() -> PartitionKeys,
        records: impl IntoIterator<Item = SourceRecord>,
        now: Duration,
    ) {
        let generation = self.next.saturating_sub(1);
        let part = self.parts.entry(id).or_insert_with(|| Part {
            records: Vec::new(),
            bytes: 0,
            keys: keys(),
            opened: now,
            oldest_generation: generation,
        });
        for record in records {
            part.bytes += record.data.len() as u64;
            part.records.push(record);
        }
    }

    /// The buffers that are full or whose interval has passed.
    pub fn due(&self, limits: Thresholds, now: Duration) -> Vec<PartId> {
        let interval = Duration::from_millis(limits.interval_ms);
        self.parts
            .iter()
            .filter(|(_, p)| p.bytes >= limits.bytes || p.opened + interval <= now)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// When the next buffer's interval ends.
    pub fn deadline(&self, limits: Thresholds) -> Option<Duration> {
        let interval = Duration::from_millis(limits.interval_ms);
        self.parts.values().map(|p| p.opened + interval).min()
    }

    pub fn take(&mut self, id: &PartId) -> Option<Part> {
        self.parts.remove(id)
    }

    /// The bytes of the fullest buffer.
    pub fn fullest(&self) -> u64 {
        self.parts.values().map(|p| p.bytes).max().unwrap_or(0)
    }

    /// The positions of every generation no buffer holds records of any more, merged (later
    /// positions of a source replace earlier ones); `None` if there are none.
    pub fn settled(&mut self) -> Option<Settled> {
        let pending = self
            .parts
            .values()
            .map(|p| p.oldest_generation)
            .min()
            .unwrap_or(self.next);
        let done: Vec<u64> = self.generations.range(..pending).map(|(g, _)| *g).collect();
        if done.is_empty() {
            return None;
        }
        let mut merged = Settled::default();
        for g in done {
            if let Some(s) = self.generations.remove(&g) {
                merged.marks.extend(s.marks);
                merged.last_arrival = s.last_arrival.or(merged.last_arrival);
                merged.bytes += s.bytes;
            }
        }
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &str, arrival_ms: i64) -> SourceRecord {
        SourceRecord {
            data: bytes::Bytes::copy_from_slice(data.as_bytes()),
            arrival_ms,
        }
    }

    fn at(log: u64) -> Settled {
        Settled {
            marks: [("log".to_string(), log.to_string())].into(),
            last_arrival: Some(log as i64),
            bytes: 1,
        }
    }

    /// A generation settles only when every buffer holding its records has been delivered,
    /// and never before an older one.
    #[test]
    fn checkpoints_wait_for_the_oldest_undelivered_generation() {
        let limits = Thresholds {
            bytes: 4,
            interval_ms: 1000,
        };
        let mut b = Buffers::default();
        let a = PartId::Data("a".into());
        let z = PartId::Data("z".into());
        b.generation(at(2));
        b.add(
            a.clone(),
            PartitionKeys::new,
            [record("a1", 1)],
            Duration::ZERO,
        );
        b.add(
            z.clone(),
            PartitionKeys::new,
            [record("z1", 2)],
            Duration::ZERO,
        );
        b.generation(at(4));
        b.add(
            a.clone(),
            PartitionKeys::new,
            [record("a2", 3), record("a3", 4)],
            Duration::from_millis(10),
        );
        assert_eq!(b.active_partitions(), 2);
        // "a" is full (6 bytes); "z" waits for its interval.
        assert_eq!(b.due(limits, Duration::from_millis(20)), vec![a.clone()]);
        assert_eq!(b.take(&a).unwrap().records.len(), 3);
        assert_eq!(b.settled(), None, "z still holds a record of generation 0");
        assert_eq!(b.deadline(limits), Some(Duration::from_secs(1)));
        assert_eq!(b.due(limits, Duration::from_secs(1)), vec![z.clone()]);
        b.take(&z);
        assert_eq!(b.settled(), Some(Settled { bytes: 2, ..at(4) }));
        assert_eq!(b.settled(), None);
        // A generation without records (a shard's end) settles at once.
        b.generation(at(9));
        assert_eq!(b.settled(), Some(at(9)));
    }
}
