//! A stream is never half-created or half-deleted after a crash: whatever state the catalog and
//! the log were left in, the next start completes the change.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use freshet_catalog::Status;
use freshet_catalog::{Catalog, ShardRow, StreamRow};
use freshet_log::{Log, LogConfig, ShardLogId};
use freshet_streams::model::*;
use freshet_streams::{StreamsConfig, StreamsService};

async fn open(dir: &Path, delays: Duration) -> StreamsService {
    let log = Log::open(LogConfig::new(dir.join("log"))).unwrap();
    let catalog = Catalog::open(&dir.join("catalog.db")).await.unwrap();
    let config = StreamsConfig {
        create_delay: delays,
        delete_delay: delays,
        update_delay: delays,
        ..StreamsConfig::default()
    };
    StreamsService::open(config, catalog, log).await.unwrap()
}

fn named(name: &str) -> StreamRef {
    StreamRef {
        stream_name: Some(name.into()),
        stream_arn: None,
    }
}

fn status(svc: &StreamsService, name: &str) -> Option<Status> {
    svc.describe_stream_summary(StreamOnlyInput {
        stream: named(name),
    })
    .ok()
    .map(|o| o.stream_description_summary.stream_status)
}

async fn put(svc: &StreamsService, name: &str, data: &'static [u8]) -> PutRecordOutput {
    svc.put_record(PutRecordInput {
        stream: named(name),
        data: Blob(Bytes::from_static(data)),
        partition_key: "k".into(),
        explicit_hash_key: None,
        sequence_number_for_ordering: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn creating_stream_interrupted_before_its_logs_exist_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    // The state a crash leaves right after the catalog commit of CreateStream: a CREATING row,
    // no shard logs yet.
    {
        let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
        let row = StreamRow {
            uid: 0,
            name: "half".into(),
            status: Status::Creating,
            mode: freshet_catalog::StreamMode::Provisioned,
            created_ms: 1_700_000_000_000,
            retention_hours: 24,
            encryption_type: "NONE".into(),
            key_id: None,
            shard_level_metrics: vec![],
            max_record_size_kib: 1024,
            next_shard_index: 1,
            warm_throughput_mibps: None,
        };
        let shard = ShardRow {
            index: 0,
            hash_start: 0,
            hash_end: u128::MAX,
            parent_index: None,
            adjacent_parent_index: None,
            created_ms: 1_700_000_000_000,
            closed_next_offset: None,
        };
        catalog
            .create_stream(&row, &[shard], &BTreeMap::new())
            .await
            .unwrap();
        catalog.close().await;
    }
    let svc = open(dir.path(), Duration::ZERO).await;
    assert_eq!(status(&svc, "half"), Some(Status::Active));
    let ack = put(&svc, "half", b"after recovery").await;
    assert_eq!(ack.shard_id, "shardId-000000000000");
}

#[tokio::test]
async fn creating_and_deleting_streams_finish_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Long delays: the process "dies" while one stream is CREATING and another DELETING.
        let svc = open(dir.path(), Duration::from_secs(3600)).await;
        for name in ["young", "doomed"] {
            svc.create_stream(CreateStreamInput {
                stream_name: name.into(),
                shard_count: Some(2),
                stream_mode_details: None,
                tags: None,
                warm_throughput_mibps: None,
                max_record_size_kib: None,
            })
            .await
            .unwrap();
        }
        assert_eq!(status(&svc, "young"), Some(Status::Creating));
        svc.close().await.unwrap();
    }
    {
        let svc = open(dir.path(), Duration::from_secs(3600)).await;
        assert_eq!(status(&svc, "young"), Some(Status::Active));
        assert_eq!(status(&svc, "doomed"), Some(Status::Active));
        put(&svc, "doomed", b"gone soon").await;
        svc.delete_stream(DeleteStreamInput {
            stream: named("doomed"),
            enforce_consumer_deletion: None,
        })
        .await
        .unwrap();
        assert_eq!(status(&svc, "doomed"), Some(Status::Deleting));
        svc.close().await.unwrap();
    }
    let svc = open(dir.path(), Duration::ZERO).await;
    assert_eq!(status(&svc, "doomed"), None, "deletion finished at start");
    assert_eq!(status(&svc, "young"), Some(Status::Active));
    let names = svc
        .list_streams(ListStreamsInput {
            limit: None,
            exclusive_start_stream_name: None,
            next_token: None,
        })
        .unwrap()
        .stream_names;
    assert_eq!(names, vec!["young".to_string()]);
    // The deleted stream's shard logs are gone from disk; the live stream's remain.
    svc.close().await.unwrap();
    let log = Log::open(LogConfig::new(dir.path().join("log"))).unwrap();
    let shards = log.shards();
    assert_eq!(shards.len(), 2);
    assert!(
        shards
            .iter()
            .all(|s: &ShardLogId| s.stream == shards[0].stream)
    );
}
