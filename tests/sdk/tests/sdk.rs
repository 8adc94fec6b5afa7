//! End-to-end tests through the official Rust SDK (`aws-sdk-kinesis`, AWS JSON 1.1 over HTTP)
//! against a real `freshet serve`: stream lifecycle, records in and out, iterators, paging,
//! tags, retention, typed errors and SigV4.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, Record, ShardIteratorType, StreamMode, StreamModeDetails, StreamStatus,
};
use common::{
    Server, client, client_with_keys, create_provisioned, now_millis, stream_arn, stream_name,
    wait_active,
};

type Result<T = ()> = anyhow::Result<T>;

/// Largest hash key, 2^128 - 1: the shards of a stream cover 0..=MAX_HASH_KEY between them.
const MAX_HASH_KEY: u128 = u128::MAX;

/// Kinesis sequence numbers are decimal strings of up to 128 bits and more: compare as numbers.
fn cmp_sequence(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

async fn shard_ids(client: &Client, name: &str) -> Result<Vec<String>> {
    let out = client.list_shards().stream_name(name).send().await?;
    Ok(out
        .shards()
        .iter()
        .map(|s| s.shard_id().to_owned())
        .collect())
}

async fn iterator(
    client: &Client,
    name: &str,
    shard: &str,
    configure: impl FnOnce(
        aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder,
    ) -> aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder,
) -> Result<String> {
    let request = client
        .get_shard_iterator()
        .stream_name(name)
        .shard_id(shard);
    let out = configure(request).send().await?;
    Ok(out
        .shard_iterator()
        .expect("GetShardIterator returns an iterator")
        .to_owned())
}

/// Reads a shard from `iterator` until a call returns nothing, `limit` records per call.
/// Returns the records and how many calls returned records.
async fn drain(client: &Client, mut iterator: String, limit: i32) -> Result<(Vec<Record>, usize)> {
    let mut records = Vec::new();
    for calls_with_records in 0..1000 {
        let out = client
            .get_records()
            .shard_iterator(&iterator)
            .limit(limit)
            .send()
            .await?;
        assert!(
            out.millis_behind_latest().is_some(),
            "GetRecords always reports MillisBehindLatest"
        );
        if out.records().is_empty() {
            return Ok((records, calls_with_records));
        }
        records.extend(out.records().iter().cloned());
        iterator = out
            .next_shard_iterator()
            .expect("an open shard always has a next iterator")
            .to_owned();
    }
    anyhow::bail!("shard never ran dry after 1000 GetRecords calls")
}

/// The first GetRecords call from an iterator.
async fn first_batch(client: &Client, iterator: String) -> Result<Vec<Record>> {
    let out = client.get_records().shard_iterator(iterator).send().await?;
    Ok(out.records().to_vec())
}

fn data_of(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.data().as_ref().to_vec()).collect()
}

#[tokio::test]
async fn provisioned_stream_becomes_active_with_its_shards() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("provisioned");
    create_provisioned(&client, &name, 3).await?;

    let out = client
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await?;
    let summary = out.stream_description_summary().expect("summary");
    assert_eq!(summary.stream_name(), name);
    assert_eq!(summary.stream_arn(), stream_arn(&name));
    assert_eq!(summary.stream_status(), &StreamStatus::Active);
    assert_eq!(summary.open_shard_count(), 3);
    assert_eq!(summary.retention_period_hours(), 24);
    assert_eq!(
        summary.stream_mode_details().map(|m| m.stream_mode()),
        Some(&StreamMode::Provisioned)
    );
    assert_eq!(shard_ids(&client, &name).await?.len(), 3);
    Ok(())
}

#[tokio::test]
async fn on_demand_stream_becomes_active_with_four_shards() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("on-demand");
    client
        .create_stream()
        .stream_name(&name)
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()?,
        )
        .send()
        .await?;
    wait_active(&client, &name).await?;

    let out = client
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await?;
    let summary = out.stream_description_summary().expect("summary");
    assert_eq!(summary.open_shard_count(), 4);
    assert_eq!(
        summary.stream_mode_details().map(|m| m.stream_mode()),
        Some(&StreamMode::OnDemand)
    );
    assert_eq!(shard_ids(&client, &name).await?.len(), 4);
    Ok(())
}

/// A record as put, with where the stream said it went.
struct PutRecord {
    key: String,
    data: Vec<u8>,
    shard: String,
    sequence: String,
}

/// One PutRecord and a full 500-entry PutRecords, then every shard read back from TRIM_HORIZON
/// by chaining GetRecords: each shard returns exactly what was routed to it, in order.
#[tokio::test]
async fn put_records_are_read_back_in_order_from_trim_horizon() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("records");
    create_provisioned(&client, &name, 3).await?;
    let started_ms = now_millis();

    // Every record put, in put order.
    let mut put: Vec<PutRecord> = Vec::new();

    let single = b"first \x00\xff record".to_vec();
    let out = client
        .put_record()
        .stream_name(&name)
        .partition_key("single")
        .data(Blob::new(single.clone()))
        .send()
        .await?;
    assert!(out.shard_id().starts_with("shardId-"), "{}", out.shard_id());
    assert!(!out.sequence_number().is_empty());
    put.push(PutRecord {
        key: "single".into(),
        data: single,
        shard: out.shard_id().into(),
        sequence: out.sequence_number().into(),
    });

    let entries: Vec<(String, Vec<u8>)> = (0..500)
        .map(|i| {
            (
                format!("key-{i}"),
                format!("record {i} {}", "x".repeat(i % 50)).into_bytes(),
            )
        })
        .collect();
    let out = client
        .put_records()
        .stream_name(&name)
        .set_records(Some(
            entries
                .iter()
                .map(|(key, data)| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(key)
                        .data(Blob::new(data.clone()))
                        .build()
                })
                .collect::<std::result::Result<_, _>>()?,
        ))
        .send()
        .await?;
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 500);
    for ((key, data), result) in entries.into_iter().zip(out.records()) {
        assert_eq!(result.error_code(), None, "{result:?}");
        let shard = result.shard_id().expect("a successful entry has a ShardId");
        let sequence = result
            .sequence_number()
            .expect("a successful entry has a SequenceNumber");
        put.push(PutRecord {
            key,
            data,
            shard: shard.into(),
            sequence: sequence.into(),
        });
    }

    // Sequence numbers strictly increase within each shard, in put order.
    let mut by_shard: BTreeMap<&str, Vec<&PutRecord>> = BTreeMap::new();
    for entry in &put {
        by_shard
            .entry(entry.shard.as_str())
            .or_default()
            .push(entry);
    }
    assert_eq!(by_shard.len(), 3, "501 distinct keys land on all 3 shards");
    for entries in by_shard.values() {
        for pair in entries.windows(2) {
            assert_eq!(
                cmp_sequence(&pair[0].sequence, &pair[1].sequence),
                Ordering::Less,
                "{} then {}",
                pair[0].sequence,
                pair[1].sequence
            );
        }
    }

    let mut chained = false;
    let mut total = 0;
    for shard in shard_ids(&client, &name).await? {
        let start = iterator(&client, &name, &shard, |r| {
            r.shard_iterator_type(ShardIteratorType::TrimHorizon)
        })
        .await?;
        let (records, calls) = drain(&client, start, 100).await?;
        chained |= calls > 1;
        total += records.len();
        let expected = by_shard.get(shard.as_str()).cloned().unwrap_or_default();
        assert_eq!(records.len(), expected.len(), "records on {shard}");
        for (record, put) in records.iter().zip(expected) {
            assert_eq!(record.sequence_number(), put.sequence);
            assert_eq!(record.partition_key(), Some(put.key.as_str()));
            assert_eq!(record.data().as_ref(), put.data.as_slice());
            let arrival = record
                .approximate_arrival_timestamp()
                .expect("ApproximateArrivalTimestamp is present")
                .to_millis()?;
            assert!(
                arrival >= started_ms - 2_000 && arrival <= now_millis() + 2_000,
                "arrival {arrival} not near {started_ms}"
            );
        }
    }
    assert_eq!(total, 501);
    assert!(
        chained,
        "100-record pages over 501 records chain NextShardIterator"
    );
    Ok(())
}

/// AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP (inclusive, millisecond precise)
/// and LATEST on a one-shard stream.
#[tokio::test]
async fn sequence_number_timestamp_and_latest_iterators() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("iterators");
    create_provisioned(&client, &name, 1).await?;
    let shard = shard_ids(&client, &name).await?.remove(0);

    let mut sequences = Vec::new();
    let put = |i: usize| {
        let client = &client;
        let name = &name;
        async move {
            let out = client
                .put_record()
                .stream_name(name)
                .partition_key("k")
                .data(Blob::new(format!("r{i}")))
                .send()
                .await?;
            anyhow::Ok(out.sequence_number().to_owned())
        }
    };
    for i in 0..5 {
        sequences.push(put(i).await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let between = DateTime::from_millis(now_millis());
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 5..10 {
        sequences.push(put(i).await?);
    }
    let expected = |range: std::ops::Range<usize>| -> Vec<Vec<u8>> {
        range.map(|i| format!("r{i}").into_bytes()).collect()
    };

    let at = iterator(&client, &name, &shard, |r| {
        r.shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&sequences[2])
    })
    .await?;
    assert_eq!(data_of(&first_batch(&client, at).await?), expected(2..10));

    let after = iterator(&client, &name, &shard, |r| {
        r.shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(&sequences[4])
    })
    .await?;
    let records = first_batch(&client, after).await?;
    assert_eq!(data_of(&records), expected(5..10));
    assert_eq!(records[0].sequence_number(), sequences[5]);

    let at_time = iterator(&client, &name, &shard, |r| {
        r.shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(between)
    })
    .await?;
    let records = first_batch(&client, at_time).await?;
    assert_eq!(data_of(&records), expected(5..10));

    // A record's own arrival time includes that record: the batch starts at the first record
    // that arrived at that time (r7, or an earlier one put in the same millisecond).
    let arrival = *records[2]
        .approximate_arrival_timestamp()
        .expect("arrival timestamp");
    let first_at_arrival = records
        .iter()
        .find(|r| r.approximate_arrival_timestamp() == Some(&arrival))
        .map(|r| r.data().as_ref().to_vec());
    let at_arrival = iterator(&client, &name, &shard, |r| {
        r.shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(arrival)
    })
    .await?;
    let records = first_batch(&client, at_arrival).await?;
    assert_eq!(
        records.first().map(|r| r.data().as_ref().to_vec()),
        first_at_arrival
    );
    assert!(data_of(&records).contains(&b"r7".to_vec()));

    let latest = iterator(&client, &name, &shard, |r| {
        r.shard_iterator_type(ShardIteratorType::Latest)
    })
    .await?;
    let out = client.get_records().shard_iterator(&latest).send().await?;
    assert!(out.records().is_empty(), "LATEST starts after the tip");
    let next = out.next_shard_iterator().expect("next iterator").to_owned();
    put(10).await?;
    assert_eq!(
        data_of(&first_batch(&client, next).await?),
        expected(10..11)
    );
    Ok(())
}

#[tokio::test]
async fn list_shards_pages_one_shard_at_a_time() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("paging");
    create_provisioned(&client, &name, 3).await?;

    let mut shards = Vec::new();
    let mut out = client
        .list_shards()
        .stream_name(&name)
        .max_results(1)
        .send()
        .await?;
    for _ in 0..10 {
        assert!(
            out.shards().len() <= 1,
            "MaxResults=1 returns one shard a page"
        );
        shards.extend(out.shards().iter().cloned());
        let Some(token) = out.next_token() else { break };
        // With NextToken, StreamName must be left out (AWS rejects both together).
        out = client
            .list_shards()
            .next_token(token)
            .max_results(1)
            .send()
            .await?;
        if out.shards().is_empty() {
            break;
        }
    }
    let ids: Vec<&str> = shards.iter().map(|s| s.shard_id()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002"
        ]
    );

    // The hash key ranges split 0..=2^128-1 without gaps or overlaps.
    let mut next_start = 0u128;
    for shard in &shards {
        let range = shard.hash_key_range().expect("HashKeyRange");
        let start: u128 = range.starting_hash_key().parse()?;
        let end: u128 = range.ending_hash_key().parse()?;
        assert_eq!(start, next_start, "{}", shard.shard_id());
        assert!(end >= start);
        next_start = end.wrapping_add(1);
        assert!(shard.sequence_number_range().is_some());
    }
    assert_eq!(next_start, MAX_HASH_KEY.wrapping_add(1));
    Ok(())
}

#[tokio::test]
async fn list_streams_names_and_pages() -> Result {
    let server = Server::start();
    let client = client(&server);
    let names: BTreeSet<String> = (0..3).map(|_| stream_name("listed")).collect();
    for name in &names {
        create_provisioned(&client, name, 1).await?;
    }

    let out = client.list_streams().send().await?;
    let listed: BTreeSet<String> = out.stream_names().iter().cloned().collect();
    assert_eq!(listed, names);
    assert!(!out.has_more_streams());
    for summary in out.stream_summaries() {
        assert_eq!(summary.stream_arn(), stream_arn(summary.stream_name()));
        assert_eq!(summary.stream_status(), &StreamStatus::Active);
    }

    // Page with Limit=1 and ExclusiveStartStreamName.
    let mut paged = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..10 {
        let out = client
            .list_streams()
            .limit(1)
            .set_exclusive_start_stream_name(start.clone())
            .send()
            .await?;
        assert!(out.stream_names().len() <= 1);
        paged.extend(out.stream_names().iter().cloned());
        if !out.has_more_streams() {
            break;
        }
        start = paged.last().cloned();
    }
    assert_eq!(paged, names.iter().cloned().collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn tags_by_stream_name_and_by_stream_arn() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("tagged");
    create_provisioned(&client, &name, 1).await?;
    let arn = stream_arn(&name);

    let tags_of = |tags: &[aws_sdk_kinesis::types::Tag]| -> BTreeMap<String, String> {
        tags.iter()
            .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect()
    };
    let expect = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };

    client
        .add_tags_to_stream()
        .stream_name(&name)
        .tags("env", "test")
        .tags("team", "data")
        .send()
        .await?;
    let out = client
        .list_tags_for_stream()
        .stream_name(&name)
        .send()
        .await?;
    assert_eq!(
        tags_of(out.tags()),
        expect(&[("env", "test"), ("team", "data")])
    );
    assert!(!out.has_more_tags());

    client
        .remove_tags_from_stream()
        .stream_name(&name)
        .tag_keys("team")
        .send()
        .await?;
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags("owner", "freshet")
        .send()
        .await?;
    let out = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await?;
    assert_eq!(
        tags_of(out.tags()),
        expect(&[("env", "test"), ("owner", "freshet")])
    );

    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .send()
        .await?;
    let out = client
        .list_tags_for_stream()
        .stream_arn(&arn)
        .send()
        .await?;
    assert_eq!(tags_of(out.tags()), expect(&[("owner", "freshet")]));
    Ok(())
}

#[tokio::test]
async fn retention_increases_and_decreases() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("retention");
    create_provisioned(&client, &name, 1).await?;
    let retention = |client: Client, name: String| async move {
        wait_active(&client, &name).await?;
        let out = client
            .describe_stream_summary()
            .stream_name(&name)
            .send()
            .await?;
        anyhow::Ok(
            out.stream_description_summary()
                .expect("summary")
                .retention_period_hours(),
        )
    };

    client
        .increase_stream_retention_period()
        .stream_name(&name)
        .retention_period_hours(168)
        .send()
        .await?;
    assert_eq!(retention(client.clone(), name.clone()).await?, 168);

    client
        .decrease_stream_retention_period()
        .stream_name(&name)
        .retention_period_hours(48)
        .send()
        .await?;
    assert_eq!(retention(client.clone(), name.clone()).await?, 48);
    Ok(())
}

#[tokio::test]
async fn missing_stream_is_resource_not_found() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("missing");

    let err = client
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(err.message().unwrap_or_default().contains(&name), "{err:?}");

    let err = client
        .put_record()
        .stream_name(&name)
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = client
        .get_shard_iterator()
        .stream_name(&name)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn duplicate_create_is_resource_in_use() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("duplicate");
    create_provisioned(&client, &name, 1).await?;

    let err = client
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .expect_err("the stream exists")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn bad_retention_is_invalid_argument() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("bad-retention");
    create_provisioned(&client, &name, 1).await?;

    // "Increasing" to less than the current 24 hours.
    let err = client
        .increase_stream_retention_period()
        .stream_name(&name)
        .retention_period_hours(12)
        .send()
        .await
        .expect_err("12 h is a decrease")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");

    // Decreasing below the 24-hour minimum.
    let err = client
        .decrease_stream_retention_period()
        .stream_name(&name)
        .retention_period_hours(12)
        .send()
        .await
        .expect_err("12 h is below the minimum")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");

    // Beyond the 8760-hour (365-day) maximum.
    let err = client
        .increase_stream_retention_period()
        .stream_name(&name)
        .retention_period_hours(8761)
        .send()
        .await
        .expect_err("8761 h is above the maximum")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    Ok(())
}

/// With keys configured the server verifies SigV4: the right keys work, a wrong secret is an
/// InvalidSignatureException and an unknown key an UnrecognizedClientException, as on AWS.
#[tokio::test]
async fn sigv4_is_verified_when_keys_are_configured() -> Result {
    let server = Server::start_with_keys("AKIDFRESHET", "freshet-secret");
    let name = stream_name("signed");

    let good = client_with_keys(&server, "AKIDFRESHET", "freshet-secret");
    create_provisioned(&good, &name, 1).await?;
    good.put_record()
        .stream_name(&name)
        .partition_key("k")
        .data(Blob::new("signed"))
        .send()
        .await?;
    assert_eq!(
        good.list_streams().send().await?.stream_names(),
        [name.as_str()]
    );

    let wrong_secret = client_with_keys(&server, "AKIDFRESHET", "not-the-secret");
    let err = wrong_secret
        .list_streams()
        .send()
        .await
        .expect_err("a wrong secret is rejected");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");

    let unknown_key = client_with_keys(&server, "AKIDUNKNOWN", "freshet-secret");
    let err = unknown_key
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await
        .expect_err("an unknown key is rejected");
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
    Ok(())
}
