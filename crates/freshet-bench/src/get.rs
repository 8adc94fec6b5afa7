//! GetRecords readers, one per shard. In `get` mode they drain the stream from TRIM_HORIZON until
//! caught up (an empty batch with MillisBehindLatest 0) or the shard is closed and read; in `e2e`
//! and `mixed` they follow the tail from LATEST until told to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::Kinesis;
use crate::stamp::{self, Data};
use crate::stats::{self, Tally};

const GET_LIMIT: u32 = 10_000;
/// A reader gives up after this many failed requests in a row.
const MAX_CONSECUTIVE_ERRORS: u32 = 20;
/// Empty batches in a row after which a reader stops even if the server still says it is behind
/// (a server whose MillisBehindLatest never reaches 0 would otherwise keep it polling forever).
const MAX_EMPTY_BATCHES: u32 = 20;

#[derive(Deserialize)]
struct ListShardsOutput {
    #[serde(rename = "Shards")]
    shards: Vec<Shard>,
    #[serde(rename = "NextToken", default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct Shard {
    #[serde(rename = "ShardId")]
    id: String,
}

#[derive(Deserialize)]
struct ShardIteratorOutput {
    #[serde(rename = "ShardIterator")]
    iterator: Option<String>,
}

#[derive(Deserialize)]
struct GetRecordsOutput {
    #[serde(rename = "Records")]
    records: Vec<Record>,
    #[serde(rename = "NextShardIterator", default)]
    next: Option<String>,
    #[serde(rename = "MillisBehindLatest", default)]
    millis_behind: u64,
}

#[derive(Deserialize)]
pub struct Record {
    #[serde(rename = "Data")]
    pub data: Data,
}

/// Every shard of the stream, following NextToken.
pub async fn list_shards(kinesis: &Kinesis, stream: &str) -> anyhow::Result<Vec<String>> {
    let mut shards = Vec::new();
    let mut input = json!({ "StreamName": stream });
    loop {
        let page: ListShardsOutput = kinesis
            .call_json("ListShards", &input)
            .await
            .context("ListShards")?;
        shards.extend(page.shards.into_iter().map(|s| s.id));
        match page.next_token {
            // With NextToken the request must not name the stream (AWS ListShards reference).
            Some(token) => input = json!({ "NextToken": token }),
            None => return Ok(shards),
        }
    }
}

/// Where a reader starts and when it stops.
#[derive(Clone)]
pub enum Follow {
    /// From TRIM_HORIZON until caught up (the `get` mode).
    Drain,
    /// From LATEST, polling the tail until `stop` turns true. After an empty batch the reader
    /// sleeps `idle` before the next call; after a batch with records it asks again at once, as
    /// the KCL does. The KCL's idle time defaults to 1 s or more and AWS allows five GetRecords
    /// per second per shard, so on AWS a poller's latency is a client policy; a millisecond here
    /// measures the server instead.
    Tail {
        idle: Duration,
        stop: watch::Receiver<bool>,
    },
}

/// Drains every shard concurrently and returns the combined tally.
pub async fn consume(
    kinesis: &Kinesis,
    stream: &str,
    deadline: Option<Duration>,
    progress: ProgressBar,
) -> anyhow::Result<Tally> {
    let started = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let readers = start_readers(
        kinesis,
        stream,
        Follow::Drain,
        deadline.map(|d| started + d),
        progress,
        received,
    )
    .await?;
    stats::join(readers).await
}

/// Opens a reader on every shard (for `Follow::Tail` the LATEST iterator is taken here, so
/// records put after this returns are seen) and starts them.
pub async fn start_readers(
    kinesis: &Kinesis,
    stream: &str,
    follow: Follow,
    deadline: Option<Instant>,
    progress: ProgressBar,
    received: Arc<AtomicU64>,
) -> anyhow::Result<Vec<JoinHandle<anyhow::Result<Tally>>>> {
    let shards = list_shards(kinesis, stream).await?;
    let iterator_type = match follow {
        Follow::Drain => "TRIM_HORIZON",
        Follow::Tail { .. } => "LATEST",
    };
    let mut readers = Vec::with_capacity(shards.len());
    for shard in shards {
        let input = json!({
            "StreamName": stream,
            "ShardId": shard,
            "ShardIteratorType": iterator_type,
        });
        let out: ShardIteratorOutput = kinesis
            .call_json("GetShardIterator", &input)
            .await
            .with_context(|| format!("GetShardIterator for {shard}"))?;
        // No iterator: a closed shard with nothing left to read.
        let Some(iterator) = out.iterator else {
            continue;
        };
        let reader = ShardReader {
            kinesis: kinesis.clone(),
            shard,
            iterator,
            follow: follow.clone(),
            deadline,
            progress: progress.clone(),
            received: Arc::clone(&received),
        };
        readers.push(tokio::spawn(reader.run()));
    }
    Ok(readers)
}

struct ShardReader {
    kinesis: Kinesis,
    shard: String,
    iterator: String,
    follow: Follow,
    deadline: Option<Instant>,
    progress: ProgressBar,
    received: Arc<AtomicU64>,
}

impl ShardReader {
    async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let (mut consecutive_errors, mut empty_batches) = (0, 0);
        let mut iterator = std::mem::take(&mut self.iterator);
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) || self.stopped() {
                break;
            }
            let body = self
                .kinesis
                .wire()
                .encode(&json!({ "ShardIterator": iterator, "Limit": GET_LIMIT }));
            let sent = Instant::now();
            let reply = self.kinesis.call("GetRecords", body).await;
            tally.latency(sent.elapsed());
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => {
                    tally.error(&error);
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        bail!(
                            "{consecutive_errors} GetRecords failures in a row on {}; last: {error}",
                            self.shard
                        );
                    }
                    // Throttled, or a transient failure: back off a little and retry the same
                    // iterator (it stays valid for five minutes).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let now = stamp::unix_nanos();
            consecutive_errors = 0;
            let out: GetRecordsOutput = self
                .kinesis
                .decode("GetRecords", &reply)
                .with_context(|| format!("GetRecords on {}", self.shard))?;
            let n = out.records.len() as u64;
            for record in &out.records {
                tally.receipt(&record.data, now);
            }
            self.received.fetch_add(n, Ordering::Relaxed);
            self.progress.inc(n);
            let Some(next) = out.next else {
                break; // the shard is closed and fully read
            };
            iterator = next;
            match &mut self.follow {
                Follow::Drain => {
                    empty_batches = if n == 0 { empty_batches + 1 } else { 0 };
                    let caught_up = n == 0 && out.millis_behind == 0;
                    if caught_up || empty_batches >= MAX_EMPTY_BATCHES {
                        break;
                    }
                }
                Follow::Tail { idle, stop } => {
                    if n == 0 {
                        let idle = *idle;
                        tokio::select! {
                            () = tokio::time::sleep(idle) => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
            }
        }
        Ok(tally)
    }

    fn stopped(&self) -> bool {
        match &self.follow {
            Follow::Drain => false,
            Follow::Tail { stop, .. } => *stop.borrow(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GetRecords response as the server writes it in CBOR: Data a byte string, the arrival
    /// time a tag-1 timestamp (which the reader must skip).
    #[test]
    fn cbor_get_records_responses_parse() {
        use ciborium::Value as Cbor;
        let mut payload = stamp::encode(77).to_vec();
        payload.extend_from_slice(b"rest");
        let record = Cbor::Map(vec![
            (Cbor::Text("SequenceNumber".into()), Cbor::Text("1".into())),
            (
                Cbor::Text("ApproximateArrivalTimestamp".into()),
                Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000_000i64.into()))),
            ),
            (Cbor::Text("Data".into()), Cbor::Bytes(payload)),
            (Cbor::Text("PartitionKey".into()), Cbor::Text("k".into())),
        ]);
        let doc = Cbor::Map(vec![
            (Cbor::Text("Records".into()), Cbor::Array(vec![record])),
            (
                Cbor::Text("NextShardIterator".into()),
                Cbor::Text("it".into()),
            ),
            (
                Cbor::Text("MillisBehindLatest".into()),
                Cbor::Integer(0.into()),
            ),
        ]);
        let mut body = Vec::new();
        ciborium::ser::into_writer(&doc, &mut body).unwrap();
        let out: GetRecordsOutput = crate::client::Wire::Cbor.decode(&body).unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(
            out.records[0].data,
            Data {
                len: 16,
                stamp: Some(77)
            }
        );
        assert_eq!(out.next.as_deref(), Some("it"));
    }
}
