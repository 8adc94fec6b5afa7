//! The cluster log's cost model, measured: for each flush interval and offered load, one node
//! appends 100-record batches of 1 KiB records to 16 shards at a steady rate into an object
//! store and a local PostgreSQL (a throwaway server, fsync on), and reports what a deployment
//! pays for it: objects (PUTs) and commits per second, object size, and the append ->
//! acknowledgement latency. First with an in-memory store (the latency is the flush interval's
//! queueing plus the PostgreSQL commit), then through the S3 API to moto_server on loopback (a
//! real HTTP PUT of every object, though not S3's own latency).
//!
//!   cargo bench -p freshet-cluster --bench commit [-- SECONDS]

// A benchmark times itself on the real clock; the injected one is for the code under test.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_cluster::{ObjectLog, ObjectLogConfig};
use freshet_log::{LogBackend, NewRecord, ShardLogId};
use hdrhistogram::Histogram;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use parking_lot::Mutex;
use sqlx::postgres::PgPoolOptions;

const RECORD: usize = 1024;
const BATCH: usize = 100;
const SHARDS: u32 = 16;

struct Outcome {
    mb_per_s: f64,
    objects_per_s: f64,
    object_kib: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run(
    store: Arc<dyn ObjectStore>,
    interval_ms: u64,
    offered_mb_s: u64,
    seconds: u64,
) -> Outcome {
    let url = freshet_testkit::postgres_database().await;
    durable(&url).await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    let mut cfg = ObjectLogConfig::new("bench", "node");
    cfg.flush_interval = Duration::from_millis(interval_ms);
    let log = Arc::new(
        ObjectLog::open(pool.clone(), store, "bench", cfg)
            .await
            .unwrap(),
    );
    for shard in 0..SHARDS {
        log.create_shard(ShardLogId { stream: 1, shard })
            .await
            .unwrap();
    }
    let batch_bytes = (RECORD * BATCH) as u64;
    let batches_per_s = (offered_mb_s << 20) / batch_bytes;
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let acked = Arc::new(AtomicU64::new(0));
    let data = Bytes::from(vec![7u8; RECORD]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    // Open loop: batches leave on schedule whatever the acknowledgements do, as producers would.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / batches_per_s as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..batches_per_s * seconds {
        tick.tick().await;
        let (log, latencies, acked, data) =
            (log.clone(), latencies.clone(), acked.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let records = (0..BATCH)
                .map(|i| NewRecord::clear(format!("k{i}").into(), None, data.clone()))
                .collect();
            let id = ShardLogId {
                stream: 1,
                shard: (n % u64::from(SHARDS)) as u32,
            };
            let sent = Instant::now();
            log.append(id, records).await.unwrap();
            latencies
                .lock()
                .record(sent.elapsed().as_micros() as u64)
                .unwrap();
            acked.fetch_add(batch_bytes, Relaxed);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    let (objects, bytes): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), sum(bytes)::bigint FROM log_objects")
            .fetch_one(&pool)
            .await
            .unwrap();
    log.close().await.unwrap();
    let h = latencies.lock();
    Outcome {
        mb_per_s: acked.load(Relaxed) as f64 / took / (1 << 20) as f64,
        objects_per_s: objects as f64 / took,
        object_kib: bytes.unwrap_or(0) as f64 / objects.max(1) as f64 / 1024.0,
        p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// The test server runs with fsync off; a commit's cost is measured with it on (a reload
/// setting, so the running server takes it).
async fn durable(url: &str) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    // One statement each: ALTER SYSTEM refuses to run inside a (multi-statement) transaction.
    for setting in ["fsync", "synchronous_commit"] {
        sqlx::raw_sql(&format!("ALTER SYSTEM SET {setting} = on"))
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&pool)
        .await
        .unwrap();
    // The reload reaches the backends asynchronously.
    for _ in 0..100 {
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&pool)
            .await
            .unwrap();
        if fsync == "on" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("PostgreSQL did not turn fsync on");
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| store | flush interval | offered | acknowledged | objects (PUTs)/s | commits/s | object size | ack p50 | ack p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let print = |store: &str, interval: u64, offered: u64, o: Outcome| {
        println!(
            "| {store} | {interval} ms | {offered} MB/s | {:.1} MB/s | {:.1} | {:.1} | {:.0} KiB | {:.1} ms | {:.1} ms |",
            o.mb_per_s, o.objects_per_s, o.objects_per_s, o.object_kib, o.p50_ms, o.p99_ms
        );
    };
    for interval in [10, 50, 250] {
        for offered in [10, 100] {
            let o = rt.block_on(run(Arc::new(InMemory::new()), interval, offered, seconds));
            print("in-memory", interval, offered, o);
        }
    }
    // moto is one Python process: 10 MB/s is what it takes without becoming the subject.
    for interval in [10, 50, 250] {
        let o = rt.block_on(async {
            let store = freshet_testkit::s3_bucket().await.object_store();
            run(store, interval, 10, seconds).await
        });
        print("moto (S3 API)", interval, 10, o);
    }
}
