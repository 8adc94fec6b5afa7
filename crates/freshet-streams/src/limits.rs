//! AWS's per-shard throughput limits, enforced when `StreamsConfig::enforce_limits` is on (off by
//! default, as a local server is usually wanted as fast as it goes), so that users can test
//! their retry and backoff code against the answers AWS gives:
//!
//! - writes: 1 MiB/s (data and partition keys) and 1,000 records/s per shard, each a token
//!   bucket holding one second's worth; a record that does not fit is refused
//!   (`ProvisionedThroughputExceededException`, per record in PutRecords). A record larger
//!   than a second's worth (up to 10 MiB on a stream whose maximum record size was raised) is
//!   taken when the bucket is full and leaves it in debt, as AWS lets a shard burst to accept
//!   it and then holds the shard's writes off while it refills;
//! - reads: 5 GetRecords calls/s per shard, and 2 MiB/s: a read may run while the shard's read
//!   budget is not in debt, then charges what it returned, so a 10 MiB answer holds the next
//!   calls off for 5 seconds, as AWS documents.
//!
//! On-demand streams have the same per-shard limits (their capacity grows by adding shards).

use std::time::Duration;

use parking_lot::Mutex;

pub const WRITE_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;
pub const WRITE_RECORDS_PER_SEC: f64 = 1000.0;
pub const READ_CALLS_PER_SEC: f64 = 5.0;
pub const READ_BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;

/// Slack in comparisons, so refills summed over several calls round the way a steady reader at
/// exactly the limit expects.
const EPSILON: f64 = 1e-6;

/// A budget refilled at `rate` per second up to `capacity`.
#[derive(Debug)]
struct Bucket {
    level: f64,
    rate: f64,
    capacity: f64,
}

impl Bucket {
    fn full(rate: f64, capacity: f64) -> Bucket {
        Bucket {
            level: capacity,
            rate,
            capacity,
        }
    }

    fn refill(&mut self, secs: f64) {
        self.level = (self.level + secs * self.rate).min(self.capacity);
    }

    fn holds(&self, amount: f64) -> bool {
        self.level + EPSILON >= amount
    }
}

#[derive(Debug)]
struct Buckets {
    /// When the buckets were last refilled, on the clock's monotonic time.
    at: Duration,
    write_bytes: Bucket,
    write_records: Bucket,
    read_calls: Bucket,
    /// Never above zero: reads are allowed while it is not negative.
    read_bytes: Bucket,
}

/// One shard's budgets, shared by every snapshot of the shard.
#[derive(Debug)]
pub struct ShardLimits(Mutex<Option<Buckets>>);

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits(Mutex::new(None))
    }
}

impl ShardLimits {
    fn with<T>(&self, now: Duration, f: impl FnOnce(&mut Buckets) -> T) -> T {
        let mut guard = self.0.lock();
        let buckets = guard.get_or_insert_with(|| Buckets {
            at: now,
            write_bytes: Bucket::full(WRITE_BYTES_PER_SEC, WRITE_BYTES_PER_SEC),
            write_records: Bucket::full(WRITE_RECORDS_PER_SEC, WRITE_RECORDS_PER_SEC),
            read_calls: Bucket::full(READ_CALLS_PER_SEC, READ_CALLS_PER_SEC),
            read_bytes: Bucket::full(READ_BYTES_PER_SEC, 0.0),
        });
        let secs = now.saturating_sub(buckets.at).as_secs_f64();
        buckets.at = buckets.at.max(now);
        for b in [
            &mut buckets.write_bytes,
            &mut buckets.write_records,
            &mut buckets.read_calls,
            &mut buckets.read_bytes,
        ] {
            b.refill(secs);
        }
        f(buckets)
    }

    /// Admits one record of `bytes` if the shard's write budgets hold it, taking it from them.
    pub fn admit_write(&self, now: Duration, bytes: u64) -> bool {
        self.with(now, |b| {
            let bytes = bytes as f64;
            let room = bytes.min(b.write_bytes.capacity);
            let fits = b.write_records.holds(1.0) && b.write_bytes.holds(room);
            if fits {
                b.write_records.level -= 1.0;
                b.write_bytes.level -= bytes;
            }
            fits
        })
    }

    /// Admits one GetRecords call if the shard has a call left this second and its read
    /// bytes are not in debt.
    pub fn admit_read(&self, now: Duration) -> bool {
        self.with(now, |b| {
            let fits = b.read_calls.holds(1.0) && b.read_bytes.holds(0.0);
            if fits {
                b.read_calls.level -= 1.0;
            }
            fits
        })
    }

    /// Charges what an admitted read returned.
    pub fn charge_read(&self, now: Duration, bytes: u64) {
        self.with(now, |b| b.read_bytes.level -= bytes as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn writes_are_held_to_a_thousand_records_a_second() {
        let l = ShardLimits::default();
        let t0 = Duration::from_secs(10);
        assert!((0..1000).all(|_| l.admit_write(t0, 1)));
        assert!(!l.admit_write(t0, 1));
        // A tenth of a second buys a hundred more, not a hundred and one.
        let t1 = t0 + 100 * MS;
        assert!((0..100).all(|_| l.admit_write(t1, 1)));
        assert!(!l.admit_write(t1, 1));
    }

    #[test]
    fn writes_are_held_to_a_mebibyte_a_second() {
        let l = ShardLimits::default();
        let t0 = Duration::from_secs(1);
        assert!(l.admit_write(t0, 512 * 1024));
        assert!(l.admit_write(t0, 512 * 1024));
        assert!(!l.admit_write(t0, 1));
        let t1 = t0 + 500 * MS;
        assert!(!l.admit_write(t1, 512 * 1024 + 1));
        assert!(l.admit_write(t1, 512 * 1024));
        // A steady rate just under the limit is never refused.
        let mut t = t1;
        for _ in 0..100 {
            t += 10 * MS;
            assert!(l.admit_write(t, 10 * 1024));
        }
    }

    #[test]
    fn a_record_larger_than_a_second_waits_for_a_full_bucket_and_holds_writes_off() {
        let l = ShardLimits::default();
        let t0 = Duration::from_secs(1);
        let big = 3 * 1024 * 1024;
        assert!(l.admit_write(t0, big));
        // Two more seconds of debt to pay off, then a full bucket for the next one.
        assert!(!l.admit_write(t0 + Duration::from_millis(1_999), 1));
        assert!(l.admit_write(t0 + Duration::from_secs(3), 1));
        assert!(!l.admit_write(t0 + Duration::from_secs(3), big));
        assert!(l.admit_write(t0 + Duration::from_secs(5), big));
    }

    #[test]
    fn reads_are_held_to_five_calls_a_second() {
        let l = ShardLimits::default();
        let t0 = Duration::from_secs(3);
        assert!((0..5).all(|_| l.admit_read(t0)));
        assert!(!l.admit_read(t0));
        assert!(!l.admit_read(t0 + 199 * MS));
        assert!(l.admit_read(t0 + 200 * MS));
        // Five calls a second, evenly spaced, always pass.
        let mut t = t0 + Duration::from_secs(2);
        for _ in 0..50 {
            t += 200 * MS;
            assert!(l.admit_read(t));
        }
    }

    #[test]
    fn a_ten_mebibyte_read_holds_reads_off_for_five_seconds() {
        let l = ShardLimits::default();
        let t0 = Duration::from_secs(1);
        assert!(l.admit_read(t0));
        l.charge_read(t0, 10 * 1024 * 1024);
        assert!(!l.admit_read(t0 + Duration::from_millis(4_999)));
        assert!(l.admit_read(t0 + Duration::from_secs(5)));
    }
}
