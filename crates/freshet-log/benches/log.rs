//! Micro-benchmarks of the log's append and read paths on a real directory, with
//! `FsyncPolicy::Never` so they measure the log's own work (framing, checksums, the writer
//! thread's hand-off, positional writes, the cache) and not the disk's flush latency, which
//! `scripts/bench-compare.sh` covers end to end.
//!
//! `cargo bench -p freshet-log --bench log` (short by default: 1 s warm-up, 2 s measurement).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use freshet_log::{FsyncPolicy, Log, LogConfig, NewRecord, ShardLogId};

const RECORD_BYTES: usize = 1024;
/// Records kept in the shard the read benchmarks read from: 20 MiB, more than the default cache.
const STORED: u64 = 20_000;
const SHARD: ShardLogId = ShardLogId {
    stream: 1,
    shard: 0,
};

fn batch(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            sealed: false,
            partition_key: format!("user-{i}").into(),
            explicit_hash_key: None,
            data: Bytes::from(vec![i as u8; RECORD_BYTES]),
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime starts")
}

/// A fresh log with one empty shard, in a directory removed when the `TempDir` drops; with the
/// default cache of recent records, or none.
fn open(rt: &tokio::runtime::Runtime, cache: bool) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut cfg = LogConfig::new(dir.path());
    cfg.fsync = FsyncPolicy::Never;
    if !cache {
        cfg.cache_bytes_per_shard = 0;
    }
    let log = Log::open(cfg).expect("the log opens");
    rt.block_on(log.create_shard(SHARD))
        .expect("the shard is created");
    (dir, log)
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("log_append_1KiB");
    for n in [1usize, 500] {
        let (_dir, log) = open(&rt, true);
        let records = batch(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("batch_of_{n}"), |b| {
            b.iter_batched(
                || records.clone(),
                |records| rt.block_on(log.append(SHARD, records)),
                BatchSize::SmallInput,
            )
        });
        rt.block_on(log.close()).expect("the log closes");
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("log_read_1KiB");
    const READ: usize = 500;
    g.throughput(Throughput::Elements(READ as u64));
    // The default cache holds the newest ~8 MiB; with the cache off every read is a file read
    // (from the page cache, as the data was just written).
    for (name, cache) in [("500_from_cache", true), ("500_from_file", false)] {
        let (_dir, log) = open(&rt, cache);
        for _ in 0..STORED / READ as u64 {
            rt.block_on(log.append(SHARD, batch(READ)))
                .expect("the append succeeds");
        }
        // Cached reads stay within the newest quarter of the shard, file reads walk all of it.
        let (span, base) = if cache {
            (STORED / 4, STORED - STORED / 4)
        } else {
            (STORED, 0)
        };
        let mut from = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                from = (from + READ as u64) % (span - READ as u64);
                let records = log
                    .read(SHARD, black_box(base + from), READ, usize::MAX)
                    .expect("the read succeeds");
                assert_eq!(records.len(), READ);
                records
            })
        });
        rt.block_on(log.close()).expect("the log closes");
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
    targets = append, read
}
criterion_main!(benches);
