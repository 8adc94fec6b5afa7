//! On-demand streams split hot shards and merge cold ones by themselves.

use std::time::Duration;

use bytes::Bytes;
use freshet_catalog::Catalog;
use freshet_log::{FsyncPolicy, Log, LogConfig};
use freshet_runtime::SharedClock;
use freshet_streams::model::*;
use freshet_streams::{OnDemandPolicy, StreamsConfig, StreamsService};

fn named() -> StreamRef {
    StreamRef {
        stream_name: Some("auto".into()),
        stream_arn: None,
    }
}

fn open_shards(svc: &StreamsService) -> i64 {
    svc.describe_stream_summary(StreamOnlyInput { stream: named() })
        .unwrap()
        .stream_description_summary
        .open_shard_count
}

async fn wait_for(svc: &StreamsService, what: impl Fn(i64) -> bool, secs: u64) -> i64 {
    let clock = SharedClock::system();
    let deadline = clock.elapsed() + Duration::from_secs(secs);
    loop {
        let n = open_shards(svc);
        if what(n) || clock.elapsed() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_shards_split_and_cold_ones_merge_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log_config = LogConfig::new(dir.path().join("log"));
    log_config.fsync = FsyncPolicy::Never;
    let log = Log::open(log_config).unwrap();
    let catalog = Catalog::open(&dir.path().join("c.db")).await.unwrap();
    let config = StreamsConfig {
        create_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        update_delay: Duration::ZERO,
        on_demand: OnDemandPolicy {
            interval: Duration::from_millis(200),
            split_records_per_sec: 200.0,
            cold_intervals: 2,
            ..OnDemandPolicy::default()
        },
        ..StreamsConfig::default()
    };
    let svc = StreamsService::open(config, catalog, log).await.unwrap();
    svc.spawn_background();
    svc.create_stream(CreateStreamInput {
        stream_name: "auto".into(),
        shard_count: None,
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        tags: None,
        warm_throughput_mibps: None,
        max_record_size_kib: None,
    })
    .await
    .unwrap();
    assert_eq!(open_shards(&svc), 4);

    // ~2,000 records/s on one partition key: one shard is far above its split threshold.
    let load = async {
        let clock = SharedClock::system();
        let end = clock.elapsed() + Duration::from_millis(1500);
        while clock.elapsed() < end {
            let records = (0..100)
                .map(|_| PutRecordsRequestEntry {
                    data: Blob(Bytes::from_static(b"hot")),
                    explicit_hash_key: None,
                    partition_key: "same-key".into(),
                })
                .collect();
            svc.put_records(PutRecordsInput {
                stream: named(),
                records,
            })
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    load.await;
    let grown = wait_for(&svc, |n| n > 4, 5).await;
    assert!(grown > 4, "the hot shard was split ({grown} open shards)");

    // With no load, cold neighbours merge back, but never below 4 shards.
    let shrunk = wait_for(&svc, |n| n == 4, 10).await;
    assert_eq!(shrunk, 4);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        open_shards(&svc),
        4,
        "on-demand streams keep at least 4 shards"
    );
}
