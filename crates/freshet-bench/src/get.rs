//! `get` mode: one reader per shard drains the stream from TRIM_HORIZON with GetRecords until it
//! has caught up (an empty batch with MillisBehindLatest 0) or the shard is closed and read.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::ProgressBar;
use serde::Deserialize;
use serde_json::json;

use crate::client::Kinesis;
use crate::stats::Tally;

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
struct GetRecordsOutput<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<Record<'a>>,
    #[serde(rename = "NextShardIterator", default)]
    next: Option<String>,
    #[serde(rename = "MillisBehindLatest", default)]
    millis_behind: u64,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "Data", borrow)]
    data: Cow<'a, str>,
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

/// Drains every shard concurrently and returns the combined tally.
pub async fn consume(
    kinesis: &Kinesis,
    stream: &str,
    deadline: Option<Duration>,
    progress: ProgressBar,
) -> anyhow::Result<Tally> {
    let started = Instant::now();
    let shards = list_shards(kinesis, stream).await?;
    let mut readers = Vec::with_capacity(shards.len());
    for shard in shards {
        let reader = ShardReader {
            kinesis: kinesis.clone(),
            stream: stream.to_owned(),
            shard,
            deadline: deadline.map(|d| started + d),
            progress: progress.clone(),
        };
        readers.push(tokio::spawn(reader.run()));
    }
    let mut total = Tally::new();
    for reader in readers {
        total.merge(reader.await.context("reader task panicked")??);
    }
    Ok(total)
}

struct ShardReader {
    kinesis: Kinesis,
    stream: String,
    shard: String,
    deadline: Option<Instant>,
    progress: ProgressBar,
}

impl ShardReader {
    async fn run(self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let input = json!({
            "StreamName": self.stream,
            "ShardId": self.shard,
            "ShardIteratorType": "TRIM_HORIZON",
        });
        let out: ShardIteratorOutput = self
            .kinesis
            .call_json("GetShardIterator", &input)
            .await
            .with_context(|| format!("GetShardIterator for {}", self.shard))?;
        let Some(mut iterator) = out.iterator else {
            return Ok(tally);
        };
        let (mut consecutive_errors, mut empty_batches) = (0, 0);
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let body = json!({ "ShardIterator": iterator, "Limit": GET_LIMIT }).to_string();
            let sent = Instant::now();
            let reply = self.kinesis.call("GetRecords", Bytes::from(body)).await;
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
            consecutive_errors = 0;
            let out: GetRecordsOutput = serde_json::from_slice(&reply)
                .with_context(|| format!("unparseable GetRecords response on {}", self.shard))?;
            let n = out.records.len() as u64;
            tally.records += n;
            tally.bytes += out
                .records
                .iter()
                .map(|r| decoded_len(&r.data))
                .sum::<u64>();
            self.progress.inc(n);
            empty_batches = if n == 0 { empty_batches + 1 } else { 0 };
            let caught_up = n == 0 && out.millis_behind == 0;
            match out.next {
                Some(next) if !caught_up && empty_batches < MAX_EMPTY_BATCHES => iterator = next,
                // No next iterator: the shard is closed and fully read.
                _ => break,
            }
        }
        Ok(tally)
    }
}

/// Length of the bytes a padded standard base64 string decodes to, without decoding it.
fn decoded_len(b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn decoded_len_matches_decoding() {
        for n in 0..20 {
            let raw = vec![7u8; n];
            assert_eq!(decoded_len(&STANDARD.encode(&raw)), n as u64);
        }
    }
}
