//! `put` mode: make sure the stream exists and is ACTIVE, then run concurrent producers that send
//! PutRecords batches until the time or record budget is spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Deserialize;
use serde_json::json;

use crate::client::{CallError, Kinesis};
use crate::stats::Tally;

/// A producer gives up after this many failed requests in a row (the server is gone or refusing).
const MAX_CONSECUTIVE_ERRORS: u32 = 50;
/// How long to wait for CreateStream to reach ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Distinct random payloads per producer, capped at this many bytes in all.
const POOL_RECORDS: usize = 256;
const POOL_BYTES: usize = 64 << 20;
const PARTITION_KEY_LEN: usize = 16;

pub struct PutPlan {
    pub stream: String,
    pub record_size: usize,
    pub batch: usize,
    pub concurrency: usize,
    pub deadline: Option<Duration>,
    pub records: Option<u64>,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(rename = "StreamDescriptionSummary")]
    summary: SummaryFields,
}

#[derive(Deserialize)]
struct SummaryFields {
    #[serde(rename = "StreamStatus")]
    status: String,
    #[serde(rename = "OpenShardCount", default)]
    open_shards: Option<u64>,
}

/// Creates the stream with `shards` shards unless it exists, then waits until it is ACTIVE.
pub async fn ensure_stream(kinesis: &Kinesis, stream: &str, shards: u32) -> anyhow::Result<()> {
    let describe = json!({ "StreamName": stream });
    match kinesis
        .call_json::<Summary>("DescribeStreamSummary", &describe)
        .await
    {
        Ok(s) => {
            if let Some(open) = s.summary.open_shards.filter(|&n| n != u64::from(shards)) {
                eprintln!(
                    "note: stream {stream} already exists with {open} open shards; using it as is"
                );
            }
        }
        Err(CallError::Api { kind, .. }) if kind == "ResourceNotFoundException" => {
            let create = json!({ "StreamName": stream, "ShardCount": shards });
            kinesis
                .call("CreateStream", Bytes::from(create.to_string()))
                .await
                .context("CreateStream")?;
        }
        Err(e) => return Err(e).context("DescribeStreamSummary"),
    }
    let started = Instant::now();
    loop {
        let s: Summary = kinesis
            .call_json("DescribeStreamSummary", &describe)
            .await
            .context("DescribeStreamSummary")?;
        if s.summary.status == "ACTIVE" {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            bail!(
                "stream {stream} still {} after {ACTIVE_TIMEOUT:?}",
                s.summary.status
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the producers and returns their combined tally.
pub async fn produce(
    kinesis: &Kinesis,
    plan: Arc<PutPlan>,
    progress: ProgressBar,
) -> anyhow::Result<Tally> {
    let started = Instant::now();
    let budget = plan.records.map(|n| Arc::new(AtomicU64::new(n)));
    let mut producers = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        let producer = Producer {
            kinesis: kinesis.clone(),
            plan: Arc::clone(&plan),
            budget: budget.clone(),
            deadline: plan.deadline.map(|d| started + d),
            progress: progress.clone(),
        };
        producers.push(tokio::spawn(producer.run()));
    }
    let mut total = Tally::new();
    for producer in producers {
        total.merge(producer.await.context("producer task panicked")??);
    }
    Ok(total)
}

struct Producer {
    kinesis: Kinesis,
    plan: Arc<PutPlan>,
    budget: Option<Arc<AtomicU64>>,
    deadline: Option<Instant>,
    progress: ProgressBar,
}

#[derive(Deserialize)]
struct PutRecordsOutput {
    #[serde(rename = "FailedRecordCount", default)]
    failed: u64,
}

#[derive(Deserialize)]
struct PutRecordsDetail {
    #[serde(rename = "Records")]
    records: Vec<PutRecordsEntry>,
}

#[derive(Deserialize)]
struct PutRecordsEntry {
    #[serde(rename = "ErrorCode", default)]
    error_code: Option<String>,
}

impl Producer {
    async fn run(self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let mut body = BodyBuilder::new(&self.plan.stream, self.plan.record_size);
        let mut consecutive_errors = 0;
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let n = self.claim();
            if n == 0 {
                break;
            }
            let request = body.build(n);
            let sent = Instant::now();
            let reply = self.kinesis.call("PutRecords", request).await;
            tally.latency(sent.elapsed());
            match reply {
                Ok(reply) => {
                    consecutive_errors = 0;
                    let out: PutRecordsOutput = serde_json::from_slice(&reply)
                        .context("unparseable PutRecords response")?;
                    if out.failed > 0 {
                        count_failed_records(&reply, &mut tally)?;
                    }
                    let acked = (n as u64).saturating_sub(out.failed);
                    tally.records += acked;
                    tally.bytes += acked * self.plan.record_size as u64;
                    self.progress.inc(acked);
                }
                Err(error) => {
                    tally.error(&error);
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        bail!("{consecutive_errors} PutRecords failures in a row; last: {error}");
                    }
                    if error.is_throttle() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        Ok(tally)
    }

    /// How many records the next request carries: a full batch, or what is left of `--records`.
    fn claim(&self) -> usize {
        let batch = self.plan.batch as u64;
        match &self.budget {
            None => self.plan.batch,
            Some(left) => {
                let previous = left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                        Some(l.saturating_sub(batch))
                    })
                    .unwrap_or(0);
                previous.min(batch) as usize
            }
        }
    }
}

fn count_failed_records(reply: &[u8], tally: &mut Tally) -> anyhow::Result<()> {
    let detail: PutRecordsDetail =
        serde_json::from_slice(reply).context("unparseable PutRecords response")?;
    for code in detail.records.into_iter().filter_map(|r| r.error_code) {
        *tally.failed_records.entry(code).or_default() += 1;
    }
    Ok(())
}

/// Builds PutRecords bodies by concatenation. Payloads come from a pool of random records that
/// are base64-encoded once, and each record gets a fresh random partition key: generating and
/// encoding every payload anew would cost the client about as much CPU as a fast server spends
/// on the request, on a box where client and server share the cores.
struct BodyBuilder {
    rng: StdRng,
    head: Vec<u8>,
    pool: Vec<String>,
    capacity: usize,
}

impl BodyBuilder {
    fn new(stream: &str, record_size: usize) -> Self {
        let mut rng = StdRng::from_entropy();
        let pool_len = (POOL_BYTES / record_size.max(1)).clamp(1, POOL_RECORDS);
        let mut raw = vec![0u8; record_size];
        let pool: Vec<String> = (0..pool_len)
            .map(|_| {
                rng.fill_bytes(&mut raw);
                STANDARD.encode(&raw)
            })
            .collect();
        let head = format!(
            "{{\"StreamName\":{},\"Records\":[",
            serde_json::Value::from(stream)
        )
        .into_bytes();
        let per_record = pool[0].len() + PARTITION_KEY_LEN + 32;
        BodyBuilder {
            rng,
            head,
            pool,
            capacity: per_record,
        }
    }

    fn build(&mut self, records: usize) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + self.capacity * records + 2);
        out.extend_from_slice(&self.head);
        for i in 0..records {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Data\":\"");
            let data = &self.pool[self.rng.gen_range(0..self.pool.len())];
            out.extend_from_slice(data.as_bytes());
            out.extend_from_slice(b"\",\"PartitionKey\":\"");
            out.extend(
                (0..PARTITION_KEY_LEN).map(|_| self.rng.sample(rand::distributions::Alphanumeric)),
            );
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b"]}");
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_put_records_requests() {
        let mut builder = BodyBuilder::new("my \"stream\"", 100);
        let body = builder.build(3);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["StreamName"], "my \"stream\"");
        let records = doc["Records"].as_array().unwrap();
        assert_eq!(records.len(), 3);
        for r in records {
            let data = STANDARD.decode(r["Data"].as_str().unwrap()).unwrap();
            assert_eq!(data.len(), 100);
            assert_eq!(r["PartitionKey"].as_str().unwrap().len(), PARTITION_KEY_LEN);
        }
    }
}
