//! Micro-benchmarks of hash-key routing, done once per record of every put: the MD5 of a
//! partition key, then the lookup of the shard whose range holds it among 4 and 1,000 shards.
//!
//! The stream state's `route` scans its shards in order for the first open one holding the key;
//! `linear_scan` does the same scan over the ranges of an evenly split stream. `binary_search`
//! shows what a sorted lookup would cost instead, for comparison.
//!
//! `cargo bench -p freshet-streams --bench routing` (short by default: 1 s warm-up, 2 s
//! measurement).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_streams::hash_key::{HashKeyRange, partition_hash};

/// Partition keys per iteration: PutRecords' maximum.
const KEYS: usize = 500;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user-{i:08}")).collect()
}

fn md5(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("md5_partition_hash", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| partition_hash(black_box(k)))
                .fold(0u128, |acc, h| acc ^ h)
        })
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(KEYS as u64));
    for shards in [4u32, 1000] {
        let ranges = HashKeyRange::even(shards);
        g.bench_function(format!("md5_linear_scan/{shards}_shards"), |b| {
            b.iter(|| {
                keys.iter()
                    .map(|k| {
                        let key = partition_hash(black_box(k));
                        ranges.iter().position(|r| r.contains(key))
                    })
                    .fold(0usize, |acc, i| acc ^ i.unwrap_or(usize::MAX))
            })
        });
        g.bench_function(format!("md5_binary_search/{shards}_shards"), |b| {
            b.iter(|| {
                keys.iter()
                    .map(|k| {
                        let key = partition_hash(black_box(k));
                        ranges.partition_point(|r| r.end < key)
                    })
                    .fold(0usize, |acc, i| acc ^ i)
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: these are for spotting regressions and hot spots, not for publication.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = md5, lookup
}
criterion_main!(benches);
