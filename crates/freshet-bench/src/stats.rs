//! What one worker (producer or shard reader) measured, and how the workers' figures add up.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::client::CallError;
use crate::stamp::{self, Data};

/// At most this many distinct error messages are kept per error kind, for the report.
const SAMPLES_PER_KIND: usize = 3;

pub struct Tally {
    pub records: u64,
    pub bytes: u64,
    pub requests: u64,
    /// Records the server refused inside a successful PutRecords (FailedRecordCount), by ErrorCode.
    pub failed_records: BTreeMap<String, u64>,
    /// Whole requests that failed, by error kind.
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, Vec<String>>,
    /// Per-request latency in microseconds.
    pub latency_us: Histogram<u64>,
    /// Readers only: put→receipt latency of the stamped records read, in microseconds.
    pub receipt_us: Histogram<u64>,
    /// Readers only: records read that carry no stamp (not put by this bench).
    pub unstamped: u64,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            records: 0,
            bytes: 0,
            requests: 0,
            failed_records: BTreeMap::new(),
            errors: BTreeMap::new(),
            error_samples: BTreeMap::new(),
            latency_us: histogram(),
            receipt_us: histogram(),
            unstamped: 0,
        }
    }

    /// Counts one record a reader received at `now` (unix nanos).
    pub fn receipt(&mut self, data: &Data, now: u64) {
        self.records += 1;
        self.bytes += data.len;
        match data.stamp {
            // Auto-resizing histogram: recording cannot fail for a u64 value.
            Some(sent) => {
                let _ = self.receipt_us.record(stamp::latency_us(sent, now));
            }
            None => self.unstamped += 1,
        }
    }

    pub fn latency(&mut self, elapsed: Duration) {
        self.requests += 1;
        // Auto-resizing histogram: recording cannot fail for a u64 value.
        let _ = self
            .latency_us
            .record(elapsed.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn error(&mut self, error: &CallError) {
        self.note_error(error.kind(), error.to_string());
    }

    /// Counts a failure of `kind`, keeping `text` as a sample if there are few of that kind.
    pub fn note_error(&mut self, kind: String, text: String) {
        let samples = self.error_samples.entry(kind.clone()).or_default();
        if samples.len() < SAMPLES_PER_KIND && !samples.contains(&text) {
            samples.push(text);
        }
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.requests += other.requests;
        for (k, v) in other.failed_records {
            *self.failed_records.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.error_samples {
            let mine = self.error_samples.entry(k).or_default();
            for s in v {
                if mine.len() < SAMPLES_PER_KIND && !mine.contains(&s) {
                    mine.push(s);
                }
            }
        }
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.receipt_us.add(&other.receipt_us);
        self.unstamped += other.unstamped;
    }
}

/// Waits for every worker task and adds up their tallies; the first error (or panic) wins.
pub async fn join(tasks: Vec<JoinHandle<anyhow::Result<Tally>>>) -> anyhow::Result<Tally> {
    let mut total = Tally::new();
    for task in tasks {
        total.merge(task.await.context("a worker task panicked")??);
    }
    Ok(total)
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_counted_and_merged() {
        let base = 1_000_000_000_000;
        let mut a = Tally::new();
        // 100 records read 1..=100 ms after they were sent, and one record from elsewhere.
        for ms in 1..=100u64 {
            let data = Data {
                len: 10,
                stamp: Some(base),
            };
            a.receipt(&data, base + ms * 1_000_000);
        }
        a.receipt(
            &Data {
                len: 5,
                stamp: None,
            },
            base,
        );
        let mut b = Tally::new();
        b.receipt(
            &Data {
                len: 10,
                stamp: Some(base),
            },
            base + 500_000_000,
        );
        a.merge(b);

        assert_eq!(a.records, 102);
        assert_eq!(a.bytes, 1_015);
        assert_eq!(a.unstamped, 1);
        assert_eq!(a.receipt_us.len(), 101);
        // Three significant figures: quantiles are exact to 0.1%.
        let p50 = a.receipt_us.value_at_quantile(0.5);
        assert!((50_000..=51_100).contains(&p50), "p50 {p50}");
        assert!(a.receipt_us.max() >= 499_000, "max {}", a.receipt_us.max());
        assert_eq!(a.receipt_us.min(), 1_000);
        // Request latency is a separate histogram: receipts do not count as requests.
        assert_eq!(a.requests, 0);
    }
}
