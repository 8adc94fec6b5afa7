//! Enhanced fan-out through the official Rust SDK against a real `freshet serve`: a registered
//! consumer, `SubscribeToShard` event streams (the SDK's `EventReceiver` decoding the AWS
//! event-stream encoding), records pushed while subscribed, concurrent subscriptions, the
//! 5-second rule for a second subscription, and a subscription that ends with `ChildShards`
//! when its shard is split.
//!
//! SubscribeToShard needs no request stream, so the SDK's plain-HTTP client reads the events as a
//! streaming HTTP/1.1 response body; the same tests also run over HTTP/2 (h2c, prior knowledge),
//! where the concurrent subscriptions are streams of one connection.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::primitives::event_stream::EventReceiver;
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;
use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEvent,
    SubscribeToShardEventStream,
};
use common::{Server, client, create_provisioned, h2c_client, stream_arn, stream_name};

type Result<T = ()> = anyhow::Result<T>;
type Events = EventReceiver<SubscribeToShardEventStream, SubscribeToShardEventStreamError>;

/// Longer than the server's 5-second heartbeat: a live subscription always sends within it.
const EVENT_TIMEOUT: Duration = Duration::from_secs(8);
const SHARD0: &str = "shardId-000000000000";
const SHARD1: &str = "shardId-000000000001";

async fn register_consumer(client: &Client, stream: &str, name: &str) -> Result<String> {
    let out = client
        .register_stream_consumer()
        .stream_arn(stream_arn(stream))
        .consumer_name(name)
        .send()
        .await?;
    let arn = out
        .consumer()
        .expect("a consumer")
        .consumer_arn()
        .to_owned();
    for _ in 0..200 {
        let described = client
            .describe_stream_consumer()
            .consumer_arn(&arn)
            .send()
            .await?;
        let status = described
            .consumer_description()
            .expect("a description")
            .consumer_status();
        if status == &ConsumerStatus::Active {
            return Ok(arn);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("consumer {name} did not become ACTIVE in 10 s")
}

async fn subscribe(
    client: &Client,
    consumer_arn: &str,
    shard_id: &str,
    kind: ShardIteratorType,
) -> Result<Events> {
    let out = client
        .subscribe_to_shard()
        .consumer_arn(consumer_arn)
        .shard_id(shard_id)
        .starting_position(StartingPosition::builder().r#type(kind).build()?)
        .send()
        .await?;
    Ok(out.event_stream)
}

/// The typed error of a SubscribeToShard call that must fail.
async fn subscribe_error(
    client: &Client,
    consumer_arn: &str,
    shard_id: &str,
) -> SubscribeToShardError {
    let position = StartingPosition::builder()
        .r#type(ShardIteratorType::Latest)
        .build()
        .expect("a starting position");
    client
        .subscribe_to_shard()
        .consumer_arn(consumer_arn)
        .shard_id(shard_id)
        .starting_position(position)
        .send()
        .await
        .expect_err("SubscribeToShard is refused")
        .into_service_error()
}

/// The next event, or None when the server ended the stream.
async fn next_event(events: &mut Events) -> Result<Option<SubscribeToShardEvent>> {
    let received = tokio::time::timeout(EVENT_TIMEOUT, events.recv())
        .await
        .map_err(|_| anyhow::anyhow!("no event within {EVENT_TIMEOUT:?}"))??;
    match received {
        None => Ok(None),
        Some(SubscribeToShardEventStream::SubscribeToShardEvent(event)) => Ok(Some(event)),
        Some(other) => anyhow::bail!("unexpected event {other:?}"),
    }
}

/// Receives events until `n` records have arrived in all; returns their data.
async fn receive_records(events: &mut Events, n: usize) -> Result<Vec<Vec<u8>>> {
    let mut data = Vec::new();
    while data.len() < n {
        let event = next_event(events)
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended after {} records", data.len()))?;
        data.extend(event.records().iter().map(|r| r.data().as_ref().to_vec()));
    }
    Ok(data)
}

async fn put(client: &Client, stream: &str, data: &str, hash_key: &str) -> Result<String> {
    let out = client
        .put_record()
        .stream_name(stream)
        .partition_key("k")
        .explicit_hash_key(hash_key)
        .data(Blob::new(data.as_bytes()))
        .send()
        .await?;
    Ok(out.sequence_number().to_owned())
}

fn bytes(items: &[String]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[tokio::test]
async fn subscription_delivers_earlier_records_then_live_ones_over_http1() -> Result {
    let server = Server::start();
    earlier_then_live_records(&client(&server), "HTTP/1.1").await
}

#[tokio::test]
async fn subscription_delivers_earlier_records_then_live_ones_over_h2c() -> Result {
    let server = Server::start();
    earlier_then_live_records(&h2c_client(&server), "HTTP/2 (h2c)").await
}

async fn earlier_then_live_records(client: &Client, transport: &str) -> Result {
    let name = stream_name("fanout-live");
    create_provisioned(client, &name, 1).await?;
    let earlier: Vec<String> = (0..3).map(|i| format!("early-{i}")).collect();
    for data in &earlier {
        put(client, &name, data, "0").await?;
    }
    let consumer = register_consumer(client, &name, "app").await?;

    let mut events = subscribe(client, &consumer, SHARD0, ShardIteratorType::TrimHorizon).await?;
    let first = next_event(&mut events).await?.expect("a first event");
    assert!(!first.continuation_sequence_number().is_empty());
    assert!(first.millis_behind_latest() >= 0);
    let mut got: Vec<Vec<u8>> = first
        .records()
        .iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect();
    got.extend(receive_records(&mut events, 3 - got.len()).await?);
    assert_eq!(got, bytes(&earlier));

    // Each record put while subscribed arrives without polling; time put -> receipt.
    let mut latencies = Vec::new();
    for i in 0..100 {
        let data = format!("live-{i}");
        let sent = Instant::now();
        put(client, &name, &data, "0").await?;
        assert_eq!(
            receive_records(&mut events, 1).await?,
            bytes(std::slice::from_ref(&data))
        );
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    println!(
        "SubscribeToShard put->receipt latency over {transport} (aws-sdk-kinesis, one put at a time): p50 {:?}, p99 {:?}, max {:?}",
        latencies[49], latencies[98], latencies[99]
    );
    // The 5-second heartbeat would be far slower than a push.
    assert!(latencies[99] < Duration::from_millis(2500), "{latencies:?}");
    Ok(())
}

#[tokio::test]
async fn concurrent_subscriptions_on_two_shards_over_http1() -> Result {
    let server = Server::start();
    concurrent_subscriptions(&client(&server)).await
}

#[tokio::test]
async fn concurrent_subscriptions_on_two_shards_over_h2c() -> Result {
    let server = Server::start();
    concurrent_subscriptions(&h2c_client(&server)).await
}

async fn concurrent_subscriptions(client: &Client) -> Result {
    let name = stream_name("fanout-two");
    create_provisioned(client, &name, 2).await?;
    // Shard 0 holds hash keys below 2^127, shard 1 the rest.
    let (low, high) = ("1", "300000000000000000000000000000000000000");
    put(client, &name, "zero-0", low).await?;
    put(client, &name, "one-0", high).await?;
    let consumer = register_consumer(client, &name, "app").await?;

    let (a, b) = tokio::join!(
        subscribe(client, &consumer, SHARD0, ShardIteratorType::TrimHorizon),
        subscribe(client, &consumer, SHARD1, ShardIteratorType::TrimHorizon),
    );
    let (mut zero, mut one) = (a?, b?);
    let writer = async {
        for i in 1..=20 {
            put(client, &name, &format!("zero-{i}"), low).await?;
            put(client, &name, &format!("one-{i}"), high).await?;
        }
        Result::Ok(())
    };
    let (written, got_zero, got_one) = tokio::join!(
        writer,
        receive_records(&mut zero, 21),
        receive_records(&mut one, 21),
    );
    written?;
    let expect = |prefix: &str| {
        bytes(
            &(0..=20)
                .map(|i| format!("{prefix}-{i}"))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(got_zero?, expect("zero"));
    assert_eq!(got_one?, expect("one"));
    Ok(())
}

#[tokio::test]
async fn second_subscription_within_five_seconds_is_resource_in_use() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("fanout-twice");
    create_provisioned(&client, &name, 1).await?;
    let consumer = register_consumer(&client, &name, "app").await?;
    let mut first = subscribe(&client, &consumer, SHARD0, ShardIteratorType::Latest).await?;
    next_event(&mut first).await?.expect("a first event");

    let refused = subscribe_error(&client, &consumer, SHARD0).await;
    assert!(
        matches!(refused, SubscribeToShardError::ResourceInUseException(_)),
        "{refused:?}"
    );
    let missing = subscribe_error(&client, &consumer, "shardId-000000000009").await;
    assert!(
        matches!(missing, SubscribeToShardError::ResourceNotFoundException(_)),
        "{missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn subscription_on_a_split_shard_ends_with_child_shards() -> Result {
    let server = Server::start();
    let client = client(&server);
    let name = stream_name("fanout-split");
    create_provisioned(&client, &name, 1).await?;
    let consumer = register_consumer(&client, &name, "app").await?;
    let mut events = subscribe(&client, &consumer, SHARD0, ShardIteratorType::TrimHorizon).await?;
    next_event(&mut events).await?.expect("a first event");

    let data: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    for d in &data {
        put(&client, &name, d, "0").await?;
    }
    client
        .split_shard()
        .stream_name(&name)
        .shard_to_split(SHARD0)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await?;

    let mut got = Vec::new();
    let last = loop {
        let event = next_event(&mut events)
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended without ChildShards"))?;
        got.extend(event.records().iter().map(|r| r.data().as_ref().to_vec()));
        if !event.child_shards().is_empty() {
            break event;
        }
    };
    assert_eq!(got, bytes(&data));
    let mut children: Vec<(String, Vec<String>)> = last
        .child_shards()
        .iter()
        .map(|c| (c.shard_id().to_owned(), c.parent_shards().to_vec()))
        .collect();
    children.sort();
    assert_eq!(
        children,
        vec![
            ("shardId-000000000001".to_owned(), vec![SHARD0.to_owned()]),
            ("shardId-000000000002".to_owned(), vec![SHARD0.to_owned()]),
        ]
    );
    assert!(
        next_event(&mut events).await?.is_none(),
        "the stream ends after ChildShards"
    );
    Ok(())
}
