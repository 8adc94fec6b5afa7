//! `GET /console/api/streams/<name>/tail`: a stream's records as server-sent events, as they
//! become durable. A typed `StreamReader` follows every shard (parents before children) and
//! wakes on the log's tail notifier, so a record shows within a tick of its acknowledgement.
//!
//! Query: `position` is GetShardIterator's type (`LATEST` by default, `TRIM_HORIZON`,
//! `AT_TIMESTAMP` with `timestamp` in epoch milliseconds, `AT_SEQUENCE_NUMBER` or
//! `AFTER_SEQUENCE_NUMBER` with `sequence`); `shard` keeps one shard's records only.
//!
//! Each event is one record: `ShardId`, `SequenceNumber`, `PartitionKey`,
//! `ApproximateArrivalTimestamp` (epoch ms), `Data` (base64) and, for a KPL aggregate,
//! `UserRecords` (each base64). A shard read to its end sends a `shard-end` event.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use freshet_edge::ApiError;
use freshet_streams::model::{Blob, Record};
use freshet_streams::{Checkpoint, StartingPosition, StreamReader, StreamsService};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use serde::Serialize;

/// Records per read; a read every `PACE` at most, so a busy stream cannot flood a browser tab
/// (it sees up to `BATCH` records per `PACE`). A tail that found a full batch waiting `BEHIND`
/// reads in a row (a second of more than it can show) skips to the stream's latest records and
/// says so with a `skipped` event, so what it shows stays recent.
const BATCH: usize = 100;
const MAX_BYTES: usize = 1 << 20;
const PACE: Duration = Duration::from_millis(100);
const BEHIND: u32 = 10;

pub async fn open(
    streams: &StreamsService,
    name: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let start = position(&query)?;
    let reader = streams.reader(name, start, BTreeMap::new()).await?;
    let tail = Tail {
        streams: streams.clone(),
        name: name.to_string(),
        reader,
        shard: query.get("shard").cloned(),
        paced: false,
        behind: 0,
    };
    Ok(Sse::new(events(tail))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn position(query: &BTreeMap<String, String>) -> Result<StartingPosition, ApiError> {
    let sequence = || {
        query
            .get("sequence")
            .cloned()
            .ok_or_else(|| invalid("sequence is required for this position"))
    };
    Ok(
        match query
            .get("position")
            .map(String::as_str)
            .unwrap_or("LATEST")
        {
            "LATEST" => StartingPosition::Latest,
            "TRIM_HORIZON" => StartingPosition::TrimHorizon,
            "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(sequence()?),
            "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(sequence()?),
            "AT_TIMESTAMP" => StartingPosition::AtTimestamp(
                query
                    .get("timestamp")
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| invalid("timestamp (epoch milliseconds) is required"))?,
            ),
            other => return Err(invalid(&format!("unknown position {other}"))),
        },
    )
}

fn invalid(message: &str) -> ApiError {
    ApiError::client("InvalidArgumentException", message)
}

struct Tail {
    streams: StreamsService,
    name: String,
    reader: StreamReader,
    shard: Option<String>,
    /// Whether the last read found records: the next waits `PACE` first.
    paced: bool,
    /// Reads in a row that found a full batch.
    behind: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TailRecord<'a> {
    shard_id: &'a str,
    sequence_number: &'a str,
    partition_key: &'a str,
    approximate_arrival_timestamp: i64,
    /// Base64, as the model writes record data.
    data: &'a Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_records: Option<Vec<Blob>>,
}

fn record_event(shard_id: &str, r: &Record) -> Event {
    let user_records = freshet_streams::kpl::deaggregate(&r.data.0)
        .map(|records| records.into_iter().map(Blob).collect());
    let record = TailRecord {
        shard_id,
        sequence_number: &r.sequence_number,
        partition_key: &r.partition_key,
        approximate_arrival_timestamp: (r.approximate_arrival_timestamp.0 * 1000.0).round() as i64,
        data: &r.data,
        user_records,
    };
    Event::default().data(serde_json::to_string(&record).unwrap_or_default())
}

/// The reader's records as events, batch by batch; a failed read ends the feed with an `error`
/// event naming it (the stream was deleted, say).
fn events(tail: Tail) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(Some(tail), |tail| async move {
        let mut tail = tail?;
        loop {
            if std::mem::take(&mut tail.paced) {
                tokio::time::sleep(PACE).await;
            }
            let read = match tail.reader.read(BATCH, MAX_BYTES).await {
                Ok(read) => read,
                Err(e) => {
                    let event = Event::default().event("error").data(e.to_string());
                    return Some((stream::iter(vec![Ok(event)]), None));
                }
            };
            if read.is_empty() {
                tail.reader.wait().await;
                continue;
            }
            tail.paced = true;
            let full = read.iter().any(|shard| shard.records.len() >= BATCH);
            tail.behind = if full { tail.behind + 1 } else { 0 };
            let mut out = Vec::new();
            for shard in &read {
                if tail.shard.as_ref().is_some_and(|s| *s != shard.shard_id) {
                    continue;
                }
                out.extend(
                    shard
                        .records
                        .iter()
                        .map(|r| Ok(record_event(&shard.shard_id, r))),
                );
                if shard.checkpoint == Checkpoint::ShardEnd {
                    let end = Event::default().event("shard-end").data(&shard.shard_id);
                    out.push(Ok(end));
                }
            }
            if tail.behind >= BEHIND
                && let Ok(reader) = (tail.streams)
                    .reader(&tail.name, StartingPosition::Latest, BTreeMap::new())
                    .await
            {
                tail.reader = reader;
                tail.behind = 0;
                let note =
                    "the stream is busier than the tail shows: skipped to its latest records";
                out.push(Ok(Event::default().event("skipped").data(note)));
            }
            if !out.is_empty() {
                return Some((stream::iter(out), Some(tail)));
            }
        }
    })
    .flatten()
}
