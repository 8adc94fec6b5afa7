//! What one worker (producer or shard reader) measured, and how the workers' figures add up.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::client::CallError;

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
            latency_us: Histogram::new(3).expect("3 significant figures is valid"),
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
        let kind = error.kind();
        let samples = self.error_samples.entry(kind.clone()).or_default();
        let text = error.to_string();
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
    }
}
