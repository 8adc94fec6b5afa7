//! AWS's per-shard throughput limits (`enforce_limits`) and the CloudWatch metrics they and the
//! data plane count, on a manual clock: exact rates, exact counts.

mod common;

use std::time::Duration;

use bytes::Bytes;
use freshet_runtime::ManualClock;
use freshet_runtime::metrics::{Exposition, Format};
use freshet_streams::model::*;
use freshet_streams::{StreamsConfig, StreamsError, StreamsService};

const NAME: &str = "lim";

fn stream() -> StreamRef {
    StreamRef {
        stream_name: Some(NAME.into()),
        stream_arn: None,
    }
}

async fn service(
    dir: &std::path::Path,
    shards: i64,
    enforce_limits: bool,
) -> (StreamsService, std::sync::Arc<ManualClock>) {
    let (clock, manual) = ManualClock::shared(1_700_000_000_000);
    let config = StreamsConfig {
        enforce_limits,
        clock,
        ..StreamsConfig::default()
    };
    let svc = common::service_with(dir, config, NAME, shards).await;
    (svc, manual)
}

fn records(n: usize, size: usize) -> PutRecordsInput {
    PutRecordsInput {
        stream: stream(),
        records: (0..n)
            .map(|_| PutRecordsRequestEntry {
                data: Blob(Bytes::from(vec![b'x'; size])),
                explicit_hash_key: None,
                partition_key: "k".into(),
            })
            .collect(),
    }
}

fn one(size: usize) -> PutRecordInput {
    PutRecordInput {
        stream: stream(),
        data: Blob(Bytes::from(vec![b'x'; size])),
        partition_key: "k".into(),
        explicit_hash_key: None,
        sequence_number_for_ordering: None,
    }
}

async fn iterator(svc: &StreamsService) -> String {
    svc.get_shard_iterator(GetShardIteratorInput {
        stream: stream(),
        shard_id: "shardId-000000000000".into(),
        shard_iterator_type: "TRIM_HORIZON".into(),
        starting_sequence_number: None,
        timestamp: None,
    })
    .await
    .unwrap()
    .shard_iterator
}

async fn get(svc: &StreamsService, it: &str) -> Result<GetRecordsOutput, StreamsError> {
    svc.get_records(GetRecordsInput {
        shard_iterator: it.to_string(),
        limit: None,
        stream_arn: None,
    })
    .await
}

fn scrape(svc: &StreamsService) -> String {
    let mut e = Exposition::new(Format::Prometheus);
    svc.render_metrics(&mut e);
    e.finish()
}

/// The value of the sample that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const THROTTLED: &str =
    "Rate exceeded for shard shardId-000000000000 in stream lim under account 000000000000.";

#[tokio::test]
async fn writes_beyond_a_thousand_records_a_second_are_throttled_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, clock) = service(dir.path(), 1, true).await;
    let out = svc.put_records(records(500, 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 0);
    let out = svc.put_records(records(501, 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 1);
    let last = &out.records[500];
    assert_eq!(
        last.error_code.as_deref(),
        Some("ProvisionedThroughputExceededException")
    );
    assert_eq!(last.error_message.as_deref(), Some(THROTTLED));
    assert!(last.sequence_number.is_none());
    assert!(out.records[499].sequence_number.is_some());
    match svc.put_record(one(1)).await {
        Err(StreamsError::ProvisionedThroughputExceeded(m)) => assert_eq!(m, THROTTLED),
        other => panic!("expected throttling, got {:?}", other.map(|o| o.shard_id)),
    }
    // A second later the shard takes a thousand again, and no more.
    clock.advance(Duration::from_secs(1));
    let out = svc.put_records(records(500, 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 0);
    svc.put_record(one(1)).await.unwrap();
    let out = svc.put_records(records(500, 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 1);

    // Exactly the records acknowledged are in the shard.
    let it = iterator(&svc).await;
    let read = get(&svc, &it).await.unwrap();
    assert_eq!(read.records.len(), 500 + 500 + 500 + 1 + 499);

    let text = scrape(&svc);
    let s = "{StreamName=\"lim\"}";
    let value = |name: &str| sample(&text, &format!("kinesis_{name}{s}"));
    assert_eq!(value("IncomingRecords_total"), Some(2000.0));
    assert_eq!(value("IncomingBytes_total"), Some(4000.0));
    assert_eq!(value("PutRecords_TotalRecords_total"), Some(2001.0));
    assert_eq!(value("PutRecords_SuccessfulRecords_total"), Some(1999.0));
    assert_eq!(value("PutRecords_ThrottledRecords_total"), Some(2.0));
    assert_eq!(value("PutRecords_FailedRecords_total"), Some(0.0));
    assert_eq!(value("WriteProvisionedThroughputExceeded_total"), Some(3.0));
    assert_eq!(value("PutRecords_Requests_total"), Some(4.0));
    assert_eq!(value("PutRecords_Success_total"), Some(4.0));
    assert_eq!(value("PutRecord_Requests_total"), Some(2.0));
    assert_eq!(value("PutRecord_Success_total"), Some(1.0));
    assert_eq!(value("PutRecord_Bytes_total"), Some(2.0));
    assert_eq!(value("GetRecords_Records_total"), Some(2000.0));
}

#[tokio::test]
async fn writes_beyond_a_mebibyte_a_second_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, clock) = service(dir.path(), 1, true).await;
    // Four records of 256 KiB less their one-byte key fill the second's mebibyte.
    let out = svc.put_records(records(4, 256 * 1024 - 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 0);
    assert!(svc.put_record(one(1)).await.is_err());
    clock.advance(Duration::from_millis(250));
    let out = svc.put_records(records(2, 128 * 1024 - 1)).await.unwrap();
    assert_eq!(out.failed_record_count, 0);
    assert!(svc.put_record(one(1)).await.is_err());
}

#[tokio::test]
async fn reads_beyond_five_calls_a_second_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, clock) = service(dir.path(), 1, true).await;
    let it = iterator(&svc).await;
    for _ in 0..5 {
        get(&svc, &it).await.unwrap();
    }
    match get(&svc, &it).await {
        Err(StreamsError::ProvisionedThroughputExceeded(m)) => assert_eq!(
            m,
            "Rate exceeded for Shard - 000000000000/lim/shardId-000000000000"
        ),
        other => panic!(
            "expected throttling, got {:?}",
            other.map(|o| o.records.len())
        ),
    }
    clock.advance(Duration::from_millis(200));
    get(&svc, &it).await.unwrap();
    assert!(get(&svc, &it).await.is_err());

    let text = scrape(&svc);
    let value = |name: &str| sample(&text, &format!("kinesis_{name}{{StreamName=\"lim\"}}"));
    assert_eq!(value("ReadProvisionedThroughputExceeded_total"), Some(2.0));
    assert_eq!(value("GetRecords_Requests_total"), Some(8.0));
    assert_eq!(value("GetRecords_Success_total"), Some(6.0));
}

#[tokio::test]
async fn a_large_read_holds_the_next_reads_off_at_two_mebibytes_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, clock) = service(dir.path(), 1, true).await;
    // 4 MiB over five seconds: within the write limit.
    for _ in 0..4 {
        let out = svc.put_records(records(4, 256 * 1024 - 1)).await.unwrap();
        assert_eq!(out.failed_record_count, 0);
        clock.advance(Duration::from_secs(1));
    }
    let it = iterator(&svc).await;
    let read = get(&svc, &it).await.unwrap();
    assert_eq!(read.records.len(), 16);
    let next = read.next_shard_iterator.unwrap();
    clock.advance(Duration::from_millis(1_999));
    assert!(get(&svc, &next).await.is_err());
    clock.advance(Duration::from_millis(2));
    assert!(get(&svc, &next).await.unwrap().records.is_empty());
}

#[tokio::test]
async fn without_the_switch_nothing_is_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _clock) = service(dir.path(), 1, false).await;
    for _ in 0..3 {
        let out = svc.put_records(records(500, 1024)).await.unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
    let it = iterator(&svc).await;
    for _ in 0..10 {
        get(&svc, &it).await.unwrap();
    }
}

#[tokio::test]
async fn shard_level_metrics_appear_only_for_what_enhanced_monitoring_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _clock) = service(dir.path(), 3, false).await;
    svc.put_records(records(10, 4)).await.unwrap();
    let before = scrape(&svc);
    assert!(!before.contains("kinesis_shard_"), "{before}");
    svc.enable_enhanced_monitoring(MonitoringInput {
        stream: stream(),
        shard_level_metrics: vec!["IncomingRecords".into(), "IteratorAgeMilliseconds".into()],
    })
    .await
    .unwrap();
    let text = scrape(&svc);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kinesis_shard_"))
        .collect();
    // One sample per shard for each of the two metrics enabled.
    assert_eq!(series.len(), 6, "{series:?}");
    // Every record went to the shard its key hashes to; the shards' counts add up.
    let total: f64 = series
        .iter()
        .filter(|l| l.starts_with("kinesis_shard_IncomingRecords_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 10.0);
    assert!(text.contains("# TYPE kinesis_shard_IteratorAgeMilliseconds gauge\n"));
}

#[tokio::test]
async fn a_record_over_a_mebibyte_is_taken_from_a_full_bucket_then_holds_the_shard_off() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, clock) = service(dir.path(), 1, true).await;
    let arn = svc
        .describe_stream_summary(StreamOnlyInput { stream: stream() })
        .unwrap()
        .stream_description_summary
        .stream_arn;
    svc.update_max_record_size(UpdateMaxRecordSizeInput {
        stream_arn: Some(arn),
        max_record_size_kib: 10240,
    })
    .await
    .unwrap();
    // 4 MiB in one record: three seconds of debt after the bucket's one.
    svc.put_record(one(4 * 1024 * 1024 - 1)).await.unwrap();
    clock.advance(Duration::from_millis(2_990));
    assert!(svc.put_record(one(1)).await.is_err());
    clock.advance(Duration::from_millis(20));
    svc.put_record(one(1)).await.unwrap();
}
