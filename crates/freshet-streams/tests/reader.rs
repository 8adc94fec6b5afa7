//! The typed stream reader: GetRecords' semantics in process — every shard, parents before
//! children across a split, checkpoints that resume exactly, and waiting on the tail notifier.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use freshet_runtime::{ManualClock, SharedClock};
use freshet_streams::model::*;
use freshet_streams::{Checkpoint, StartingPosition, StreamReader, StreamsConfig, StreamsService};

const NAME: &str = "r";

fn stream() -> StreamRef {
    StreamRef {
        stream_name: Some(NAME.into()),
        stream_arn: None,
    }
}

async fn service(dir: &std::path::Path, shards: i64) -> StreamsService {
    service_on(dir, shards, SharedClock::system()).await
}

/// A service whose records arrive (and whose AT_TIMESTAMP reads are judged) on `clock`.
async fn service_on(dir: &std::path::Path, shards: i64, clock: SharedClock) -> StreamsService {
    let config = StreamsConfig {
        clock,
        ..StreamsConfig::default()
    };
    common::service_with(dir, config, NAME, shards).await
}

/// Puts `data` with the explicit hash key `key`; returns its sequence number.
async fn put(svc: &StreamsService, data: &str, key: u128) -> String {
    svc.put_record(PutRecordInput {
        stream: stream(),
        data: Blob(Bytes::from(data.to_string())),
        partition_key: "k".into(),
        explicit_hash_key: Some(key.to_string()),
        sequence_number_for_ordering: None,
    })
    .await
    .unwrap()
    .sequence_number
}

/// Every record the reader has now, as (shard, data), and the checkpoints it handed back.
async fn drain(reader: &mut StreamReader) -> (Vec<(String, String)>, BTreeMap<String, Checkpoint>) {
    let mut records = Vec::new();
    let mut checkpoints = BTreeMap::new();
    loop {
        let read = reader.read(2, 1 << 20).await.unwrap();
        if read.is_empty() {
            return (records, checkpoints);
        }
        for shard in read {
            for r in &shard.records {
                let data = String::from_utf8(r.data.0.to_vec()).unwrap();
                records.push((shard.shard_id.clone(), data));
            }
            checkpoints.insert(shard.shard_id, shard.checkpoint);
        }
    }
}

const HIGH: u128 = u128::MAX - 1;

#[tokio::test]
async fn reads_every_shard_and_resumes_exactly_after_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 2).await;
    for i in 0..3 {
        put(&svc, &format!("low{i}"), 1).await;
        put(&svc, &format!("high{i}"), HIGH).await;
    }
    let mut reader = svc
        .reader(NAME, StartingPosition::TrimHorizon, BTreeMap::new())
        .await
        .unwrap();
    let (records, checkpoints) = drain(&mut reader).await;
    let of = |shard: &str| -> Vec<String> {
        records
            .iter()
            .filter(|(s, _)| s == shard)
            .map(|(_, d)| d.clone())
            .collect()
    };
    assert_eq!(of("shardId-000000000000"), ["low0", "low1", "low2"]);
    assert_eq!(of("shardId-000000000001"), ["high0", "high1", "high2"]);

    put(&svc, "low3", 1).await;
    // A new reader from the checkpoints gets exactly what came after them.
    let mut resumed = svc
        .reader(
            &format!("arn:aws:kinesis:us-east-1:000000000000:stream/{NAME}"),
            StartingPosition::TrimHorizon,
            checkpoints,
        )
        .await
        .unwrap();
    let (records, _) = drain(&mut resumed).await;
    assert_eq!(records, [("shardId-000000000000".into(), "low3".into())]);
}

#[tokio::test]
async fn starting_positions_follow_get_shard_iterator() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    let first = put(&svc, "a", 1).await;
    put(&svc, "b", 1).await;
    let cases = [
        (StartingPosition::Latest, vec![]),
        (
            StartingPosition::AtSequenceNumber(first.clone()),
            vec!["a", "b"],
        ),
        (StartingPosition::AfterSequenceNumber(first), vec!["b"]),
        (StartingPosition::AtTimestamp(0), vec!["a", "b"]),
    ];
    for (start, want) in cases {
        let mut reader = svc
            .reader(NAME, start.clone(), BTreeMap::new())
            .await
            .unwrap();
        let (records, _) = drain(&mut reader).await;
        let got: Vec<&str> = records.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(got, want, "{start:?}");
    }
}

#[tokio::test]
async fn a_start_is_placed_when_the_reader_opens_not_at_its_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 2).await;
    put(&svc, "before", 1).await;
    let mut latest = svc
        .reader(NAME, StartingPosition::Latest, BTreeMap::new())
        .await
        .unwrap();
    // Nothing read yet, and yet every shard has a position: the end as of the open.
    let at_open = latest.positions();
    assert_eq!(
        at_open.keys().collect::<Vec<_>>(),
        ["shardId-000000000000", "shardId-000000000001"]
    );
    put(&svc, "after-open", 1).await;
    put(&svc, "after-open-high", HIGH).await;
    // What was put after the open is read, by this reader and by one resuming from the
    // positions it had at the open (a consumer stopped before its first read).
    let mut resumed = svc
        .reader(NAME, StartingPosition::Latest, at_open.clone())
        .await
        .unwrap();
    for reader in [&mut latest, &mut resumed] {
        let (records, _) = drain(reader).await;
        let data: Vec<&str> = records.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(data, ["after-open", "after-open-high"]);
    }
    // Positions move with what is read: from them, only what came after.
    let moved = latest.positions();
    assert_ne!(moved, at_open);
    put(&svc, "later", HIGH).await;
    let mut from_moved = svc
        .reader(NAME, StartingPosition::TrimHorizon, moved)
        .await
        .unwrap();
    assert_eq!(
        drain(&mut from_moved).await.0,
        [("shardId-000000000001".into(), "later".into())]
    );
}

#[tokio::test]
async fn parents_are_read_to_their_end_before_their_children() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    put(&svc, "before-low", 1).await;
    put(&svc, "before-high", HIGH).await;
    svc.split_shard(SplitShardInput {
        stream: stream(),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (u128::MAX / 2).to_string(),
    })
    .await
    .unwrap();
    put(&svc, "after-high", HIGH).await;
    put(&svc, "after-low", 1).await;

    let mut reader = svc
        .reader(NAME, StartingPosition::TrimHorizon, BTreeMap::new())
        .await
        .unwrap();
    let lineage = reader.shards().unwrap();
    assert_eq!(lineage.len(), 3);
    assert!(lineage[0].closed && lineage[0].parents.is_empty());
    assert_eq!(lineage[1].parents, ["shardId-000000000000"]);
    let (records, checkpoints) = drain(&mut reader).await;
    let data: Vec<&str> = records.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(&data[..2], ["before-low", "before-high"]);
    let mut children = data[2..].to_vec();
    children.sort();
    assert_eq!(children, ["after-high", "after-low"]);
    assert_eq!(
        checkpoints.get("shardId-000000000000"),
        Some(&Checkpoint::ShardEnd)
    );

    // From those checkpoints the parent is never read again.
    let mut resumed = svc
        .reader(NAME, StartingPosition::TrimHorizon, checkpoints)
        .await
        .unwrap();
    assert_eq!(drain(&mut resumed).await.0, []);
}

async fn split(svc: &StreamsService, shard: &str) {
    svc.split_shard(SplitShardInput {
        stream: stream(),
        shard_to_split: shard.into(),
        new_starting_hash_key: (u128::MAX / 2).to_string(),
    })
    .await
    .unwrap();
}

async fn merge(svc: &StreamsService, shard: &str, adjacent: &str) {
    svc.merge_shards(MergeShardsInput {
        stream: stream(),
        shard_to_merge: shard.into(),
        adjacent_shard_to_merge: adjacent.into(),
    })
    .await
    .unwrap();
}

fn data(records: &[(String, String)]) -> Vec<&str> {
    records.iter().map(|(_, d)| d.as_str()).collect()
}

/// LATEST is every shard's tip as of the open, children included: a child open at the open
/// (the KCL's `InitialPositionInStream.LATEST` leases it at LATEST) must not replay what it got
/// between the reshard and the open. Its closed parents have nothing more to give.
#[tokio::test]
async fn a_latest_start_after_a_reshard_reads_only_what_comes_after_the_open() {
    for reshard in ["split", "merge"] {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), if reshard == "split" { 1 } else { 2 }).await;
        put(&svc, "parent-low", 1).await;
        put(&svc, "parent-high", HIGH).await;
        match reshard {
            "split" => split(&svc, "shardId-000000000000").await,
            _ => merge(&svc, "shardId-000000000000", "shardId-000000000001").await,
        }
        put(&svc, "child-before-low", 1).await;
        put(&svc, "child-before-high", HIGH).await;

        let mut latest = svc
            .reader(NAME, StartingPosition::Latest, BTreeMap::new())
            .await
            .unwrap();
        // Every shard, children too, is placed by the open, so a consumer that stores these
        // positions and stops before its first read resumes at the same tips.
        let at_open = latest.positions();
        assert_eq!(at_open.len(), latest.shards().unwrap().len(), "{reshard}");
        put(&svc, "after-low", 1).await;
        put(&svc, "after-high", HIGH).await;
        let mut resumed = svc
            .reader(NAME, StartingPosition::Latest, at_open)
            .await
            .unwrap();
        for reader in [&mut latest, &mut resumed] {
            let (records, _) = drain(reader).await;
            let mut got = data(&records);
            got.sort();
            assert_eq!(got, ["after-high", "after-low"], "{reshard}");
        }
    }
}

/// Children of a reshard made while the reader runs hold only records put after the open:
/// they are read from their first record, after their parent's last.
#[tokio::test]
async fn children_made_after_the_open_are_read_from_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    put(&svc, "before", 1).await;
    let mut reader = svc
        .reader(NAME, StartingPosition::Latest, BTreeMap::new())
        .await
        .unwrap();
    put(&svc, "parent", 1).await;
    split(&svc, "shardId-000000000000").await;
    put(&svc, "child-low", 1).await;
    put(&svc, "child-high", HIGH).await;
    let (records, _) = drain(&mut reader).await;
    assert_eq!(
        records,
        [
            ("shardId-000000000000".into(), "parent".into()),
            ("shardId-000000000001".into(), "child-low".into()),
            ("shardId-000000000002".into(), "child-high".into()),
        ]
    );
}

/// A consumer that resumes inside a parent after the reshard happened while it was stopped
/// reads the children from their first record whatever its start (the KCL leases a shard whose
/// ancestor has a lease at TRIM_HORIZON): the start is only for shards it never followed.
#[tokio::test]
async fn a_consumer_resuming_in_a_parent_reads_its_children_from_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    put(&svc, "read", 1).await;
    let mut reader = svc
        .reader(NAME, StartingPosition::TrimHorizon, BTreeMap::new())
        .await
        .unwrap();
    let (_, checkpoints) = drain(&mut reader).await;
    put(&svc, "parent", 1).await;
    split(&svc, "shardId-000000000000").await;
    put(&svc, "child-low", 1).await;
    put(&svc, "child-high", HIGH).await;
    for start in [StartingPosition::Latest, StartingPosition::TrimHorizon] {
        let mut resumed = svc
            .reader(NAME, start.clone(), checkpoints.clone())
            .await
            .unwrap();
        let (records, _) = drain(&mut resumed).await;
        assert_eq!(
            data(&records),
            ["parent", "child-low", "child-high"],
            "{start:?}"
        );
    }
}

/// AT_TIMESTAMP places every shard present at the open by the timestamp, children too: none
/// of a child's records from before it is read.
#[tokio::test]
async fn an_at_timestamp_start_after_a_reshard_places_the_children_by_the_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, time) = ManualClock::shared(1_700_000_000_000);
    let svc = service_on(dir.path(), 1, clock.clone()).await;
    put(&svc, "parent", 1).await;
    split(&svc, "shardId-000000000000").await;
    time.advance(Duration::from_secs(1));
    put(&svc, "child-old", 1).await;
    time.advance(Duration::from_secs(1));
    let from = clock.now_ms();
    put(&svc, "child-new-low", 1).await;
    put(&svc, "child-new-high", HIGH).await;
    let mut reader = svc
        .reader(NAME, StartingPosition::AtTimestamp(from), BTreeMap::new())
        .await
        .unwrap();
    let (records, _) = drain(&mut reader).await;
    assert_eq!(data(&records), ["child-new-low", "child-new-high"]);
}

#[tokio::test]
async fn wait_ends_when_a_record_becomes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    let mut reader = svc
        .reader(NAME, StartingPosition::TrimHorizon, BTreeMap::new())
        .await
        .unwrap();
    assert!(reader.read(10, 1 << 20).await.unwrap().is_empty());
    let waiting = tokio::spawn(async move {
        reader.wait().await;
        reader
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "nothing new yet");
    put(&svc, "x", 1).await;
    let mut reader = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the tail notifier wakes the reader")
        .unwrap();
    let (records, _) = drain(&mut reader).await;
    assert_eq!(records, [("shardId-000000000000".into(), "x".into())]);
}

#[tokio::test]
async fn a_deleted_stream_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1).await;
    let mut reader = svc
        .reader(NAME, StartingPosition::TrimHorizon, BTreeMap::new())
        .await
        .unwrap();
    svc.delete_stream(DeleteStreamInput {
        stream: stream(),
        enforce_consumer_deletion: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        reader.read(10, 1 << 20).await,
        Err(freshet_streams::StreamsError::ResourceNotFound(_))
    ));
}
