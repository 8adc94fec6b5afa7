//! `put` mode: make sure the stream exists and is ACTIVE, then run concurrent producers that send
//! PutRecords batches (JSON or CBOR bodies built by hand) until the time or record budget is
//! spent. The producers are generic over `BatchSender`, so the NATS JetStream peer runs the very
//! same loop.

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

use crate::client::{CallError, Kinesis, Wire};
use crate::stamp;
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
    pub batch: usize,
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
                .call("CreateStream", kinesis.wire().encode(&create))
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

/// Something that sends a batch of records: a PutRecords request, or (for the NATS peer) a
/// batch of JetStream publishes whose acknowledgements are awaited together.
pub trait BatchSender: Send + 'static {
    /// Sends `n` records and books the request in `tally` (latency, records acknowledged or the
    /// error). The outer error ends the run (the server is not speaking the protocol); the inner
    /// one is a failed request, already counted, that the caller may retry.
    fn send(
        &mut self,
        n: usize,
        tally: &mut Tally,
    ) -> impl Future<Output = anyhow::Result<Result<u64, CallError>>> + Send;
}

/// PutRecords requests to a Kinesis endpoint.
pub struct KinesisSender {
    kinesis: Kinesis,
    body: BodyBuilder,
    record_size: usize,
}

impl KinesisSender {
    pub fn new(kinesis: &Kinesis, stream: &str, record_size: usize) -> Self {
        KinesisSender {
            kinesis: kinesis.clone(),
            body: BodyBuilder::new(stream, record_size, kinesis.wire()),
            record_size,
        }
    }
}

impl BatchSender for KinesisSender {
    async fn send(
        &mut self,
        n: usize,
        tally: &mut Tally,
    ) -> anyhow::Result<Result<u64, CallError>> {
        let request = self.body.build(n);
        put_records(&self.kinesis, request, n, self.record_size, tally).await
    }
}

/// Runs one producer per sender, as fast as each one's requests are answered, and returns their
/// combined tally.
pub async fn produce<S: BatchSender>(
    senders: Vec<S>,
    plan: Arc<PutPlan>,
    progress: ProgressBar,
) -> anyhow::Result<Tally> {
    let started = Instant::now();
    let budget = plan.records.map(|n| Arc::new(AtomicU64::new(n)));
    let mut producers = Vec::with_capacity(senders.len());
    for sender in senders {
        let producer = Producer {
            sender,
            batch: plan.batch,
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

struct Producer<S> {
    sender: S,
    batch: usize,
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

impl<S: BatchSender> Producer<S> {
    async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let mut consecutive_errors = 0;
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let n = self.claim();
            if n == 0 {
                break;
            }
            match self.sender.send(n, &mut tally).await? {
                Ok(acked) => {
                    consecutive_errors = 0;
                    self.progress.inc(acked);
                }
                Err(error) => {
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        bail!("{consecutive_errors} put failures in a row; last: {error}");
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
        let batch = self.batch as u64;
        match &self.budget {
            None => self.batch,
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

/// Sends one PutRecords request of `n` records and books it in `tally`.
async fn put_records(
    kinesis: &Kinesis,
    request: Bytes,
    n: usize,
    record_size: usize,
    tally: &mut Tally,
) -> anyhow::Result<Result<u64, CallError>> {
    let sent = Instant::now();
    let reply = kinesis.call("PutRecords", request).await;
    tally.latency(sent.elapsed());
    match reply {
        Ok(reply) => {
            let out: PutRecordsOutput = kinesis.decode("PutRecords", &reply)?;
            if out.failed > 0 {
                let detail: PutRecordsDetail = kinesis.decode("PutRecords", &reply)?;
                for code in detail.records.into_iter().filter_map(|r| r.error_code) {
                    *tally.failed_records.entry(code).or_default() += 1;
                }
            }
            let acked = (n as u64).saturating_sub(out.failed);
            tally.records += acked;
            tally.bytes += acked * record_size as u64;
            Ok(Ok(acked))
        }
        Err(error) => {
            tally.error(&error);
            Ok(Err(error))
        }
    }
}

/// Builds PutRecords bodies by concatenation, in JSON or CBOR. Payloads come from a pool of
/// random records that are encoded once, and each record gets a fresh random partition key:
/// generating and encoding every payload anew would cost the client about as much CPU as a fast
/// server spends on the request, on a box where client and server share the cores. Records of at
/// least `STAMP_LEN` bytes start with the send stamp (see `stamp`), so readers can measure
/// put→receipt latency; the pool then holds only the part after the stamp.
pub struct BodyBuilder {
    rng: StdRng,
    wire: Wire,
    head: Vec<u8>,
    pool: Vec<Vec<u8>>,
    record_size: usize,
    stamped: bool,
    capacity: usize,
}

impl BodyBuilder {
    pub fn new(stream: &str, record_size: usize, wire: Wire) -> Self {
        let mut rng = StdRng::from_entropy();
        let stamped = record_size >= stamp::STAMP_LEN;
        let tail_len = if stamped {
            record_size - stamp::STAMP_LEN
        } else {
            record_size
        };
        let pool_len = (POOL_BYTES / record_size.max(1)).clamp(1, POOL_RECORDS);
        let mut raw = vec![0u8; tail_len];
        let pool: Vec<Vec<u8>> = (0..pool_len)
            .map(|_| {
                rng.fill_bytes(&mut raw);
                match wire {
                    Wire::Json => STANDARD.encode(&raw).into_bytes(),
                    Wire::Cbor => raw.clone(),
                }
            })
            .collect();
        let head = match wire {
            Wire::Json => format!(
                "{{\"StreamName\":{},\"Records\":[",
                serde_json::Value::from(stream)
            )
            .into_bytes(),
            Wire::Cbor => {
                let mut h = Vec::new();
                cbor::head(&mut h, cbor::MAP, 2);
                cbor::text(&mut h, "StreamName");
                cbor::text(&mut h, stream);
                cbor::text(&mut h, "Records");
                h
            }
        };
        let capacity = pool[0].len() + stamp::STAMP_B64_LEN + PARTITION_KEY_LEN + 40;
        BodyBuilder {
            rng,
            wire,
            head,
            pool,
            record_size,
            stamped,
            capacity,
        }
    }

    /// A request of `records` records, stamped with the current time.
    pub fn build(&mut self, records: usize) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + self.capacity * records + 8);
        out.extend_from_slice(&self.head);
        let now = stamp::unix_nanos();
        match self.wire {
            Wire::Json => {
                for i in 0..records {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"Data\":\"");
                    if self.stamped {
                        stamp::encode_b64(now, &mut out);
                    }
                    out.extend_from_slice(&self.pool[self.rng.gen_range(0..self.pool.len())]);
                    out.extend_from_slice(b"\",\"PartitionKey\":\"");
                    self.partition_key(&mut out);
                    out.extend_from_slice(b"\"}");
                }
                out.extend_from_slice(b"]}");
            }
            Wire::Cbor => {
                cbor::head(&mut out, cbor::ARRAY, records as u64);
                for _ in 0..records {
                    cbor::head(&mut out, cbor::MAP, 2);
                    cbor::text(&mut out, "Data");
                    cbor::head(&mut out, cbor::BYTES, self.record_size as u64);
                    if self.stamped {
                        out.extend_from_slice(&stamp::encode(now));
                    }
                    out.extend_from_slice(&self.pool[self.rng.gen_range(0..self.pool.len())]);
                    cbor::text(&mut out, "PartitionKey");
                    cbor::head(&mut out, cbor::TEXT, PARTITION_KEY_LEN as u64);
                    self.partition_key(&mut out);
                }
            }
        }
        Bytes::from(out)
    }

    fn partition_key(&mut self, out: &mut Vec<u8>) {
        out.extend(
            (0..PARTITION_KEY_LEN).map(|_| self.rng.sample(rand::distributions::Alphanumeric)),
        );
    }
}

/// The few CBOR heads (RFC 8949 §3) a PutRecords body needs, written directly: going through a
/// generic CBOR value would copy every payload once more.
mod cbor {
    pub const BYTES: u8 = 2;
    pub const TEXT: u8 = 3;
    pub const ARRAY: u8 = 4;
    pub const MAP: u8 = 5;

    /// A major type with its length argument, in the shortest form.
    pub fn head(out: &mut Vec<u8>, major: u8, len: u64) {
        let m = major << 5;
        match len {
            0..=23 => out.push(m | len as u8),
            24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
    }

    pub fn text(out: &mut Vec<u8>, s: &str) {
        head(out, TEXT, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value as Cbor;

    #[test]
    fn json_bodies_are_valid_stamped_put_records_requests() {
        let mut builder = BodyBuilder::new("my \"stream\"", 100, Wire::Json);
        let before = stamp::unix_nanos();
        let body = builder.build(3);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["StreamName"], "my \"stream\"");
        let records = doc["Records"].as_array().unwrap();
        assert_eq!(records.len(), 3);
        for r in records {
            let data = STANDARD.decode(r["Data"].as_str().unwrap()).unwrap();
            assert_eq!(data.len(), 100);
            let sent = stamp::decode(&data).unwrap();
            assert!(sent >= before && sent <= stamp::unix_nanos());
            assert_eq!(r["PartitionKey"].as_str().unwrap().len(), PARTITION_KEY_LEN);
        }
    }

    #[test]
    fn cbor_bodies_carry_blobs_as_byte_strings() {
        for size in [5usize, 100, 300, 70_000] {
            let mut builder = BodyBuilder::new("s", size, Wire::Cbor);
            let body = builder.build(30);
            let doc: Cbor = ciborium::de::from_reader(body.as_ref()).unwrap();
            let map = doc.as_map().unwrap();
            assert_eq!(
                map[0],
                (Cbor::Text("StreamName".into()), Cbor::Text("s".into()))
            );
            assert_eq!(map[1].0, Cbor::Text("Records".into()));
            let records = map[1].1.as_array().unwrap();
            assert_eq!(records.len(), 30);
            for r in records {
                let r = r.as_map().unwrap();
                assert_eq!(r[0].0, Cbor::Text("Data".into()));
                let data = r[0].1.as_bytes().unwrap();
                assert_eq!(data.len(), size);
                // Records too short for a stamp go out unstamped.
                assert_eq!(stamp::decode(data).is_some(), size >= stamp::STAMP_LEN);
                assert_eq!(r[1].0, Cbor::Text("PartitionKey".into()));
                assert_eq!(r[1].1.as_text().unwrap().len(), PARTITION_KEY_LEN);
            }
        }
    }

    #[test]
    fn cbor_heads_use_the_shortest_form() {
        let encoded = |len: u64| {
            let mut out = Vec::new();
            cbor::head(&mut out, cbor::BYTES, len);
            out
        };
        assert_eq!(encoded(23), [0x57]);
        assert_eq!(encoded(24), [0x58, 24]);
        assert_eq!(encoded(256), [0x59, 1, 0]);
        assert_eq!(encoded(65_536), [0x5a, 0, 1, 0, 0]);
        assert_eq!(encoded(1 << 32), [0x5b, 0, 0, 0, 1, 0, 0, 0, 0]);
    }
}
