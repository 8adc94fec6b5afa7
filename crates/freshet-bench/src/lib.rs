//! A load generator for Kinesis Data Streams endpoints (Freshet or any other, e.g. kinesalite): it
//! speaks the real AWS wire API (JSON 1.1, or the Java SDK's CBOR with `--cbor`) over pooled
//! HTTP/1.1 keep-alive connections (or h2c with `--http2`) and reports throughput, latency and,
//! given the server's pid, records per server CPU-second.
//!
//! `put` runs concurrent PutRecords producers (`put`); `get` drains every shard from TRIM_HORIZON
//! (`get`); `e2e` puts at a fixed rate while GetRecords pollers and SubscribeToShard subscribers
//! read every shard, measuring put→receipt latency per record on each path; `mixed` runs `put`
//! with pollers following the tail (`e2e`). An endpoint `nats://HOST:PORT` runs `put` and `e2e`
//! against NATS JetStream instead (`nats`), for comparison. `signaling` holds a master and a
//! viewer WebSocket on each of thousands of KVS WebRTC signaling channels and times offer→answer
//! exchanges through them (`signaling`); `turn` pushes datagrams through the embedded TURN
//! server's relay (`relay`). The run ends with a human summary and one `RESULT {json}` line for
//! scripts.

mod client;
pub mod cpu;
mod e2e;
mod eventstream;
mod get;
mod limits;
mod nats;
mod put;
mod relay;
mod rest;
mod sdp;
mod signaling;
mod stamp;
mod stats;
mod subscribe;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

pub use client::{CallError, Kinesis, Wire};
pub use relay::TurnResult;
pub use signaling::SignalingResult;
use stats::Tally;

/// The largest record Kinesis accepts (1 MiB) and the most records per PutRecords call.
const MAX_RECORD_SIZE: usize = 1 << 20;
const MAX_BATCH: usize = 500;
/// `put`, `e2e` and `mixed` run this long when neither --duration nor --records is given.
const DEFAULT_PUT_DURATION: Duration = Duration::from_secs(10);

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// PutRecords from concurrent producers (creates the stream if missing).
    Put,
    /// Drain every shard from TRIM_HORIZON with GetRecords, one reader per shard.
    Get,
    /// Put at --rate while a GetRecords poller and a SubscribeToShard subscriber per shard read
    /// from LATEST; reports put→receipt latency for each path.
    E2e,
    /// `put` at full speed while a GetRecords poller per shard follows the tail; reports both.
    Mixed,
    /// KVS WebRTC signaling: a master and a viewer WebSocket on each of --channels channels
    /// (server memory per connection), then --rounds of offers at --rate answered by the masters
    /// (offer→answer latency, server CPU per 1,000 relayed messages).
    Signaling,
    /// The embedded TURN server: a relay allocated with GetIceServerConfig's credentials,
    /// datagrams pushed both ways through it for --duration (Mbit/s, packets/s, server CPU).
    Turn,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub mode: Mode,
    /// Kinesis endpoint (plain HTTP; requests are not SigV4-signed), or nats://HOST:PORT for the
    /// NATS JetStream peer (`put` and `e2e` only).
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    pub endpoint: String,
    /// Stream to write to or read from.
    #[arg(long, default_value = "freshet-bench")]
    pub stream: String,
    /// Shard count used when the stream has to be created.
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Payload bytes per record (random data; the first 12 carry the send time).
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per PutRecords request [default: 500; e2e: 1].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Concurrent producers, each with one request in flight [default: 4; e2e: 64, the most
    /// requests the fixed-rate schedule may have in flight; signaling: 100 channel creations
    /// and then 100 WebSocket handshakes in flight].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// e2e: records put per second, over all producers; signaling: offers per second, over all
    /// channels.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// e2e and mixed: a GetRecords poller's sleep after an empty batch (none after a full one).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Run time, e.g. 10s, 500ms, 2m (`put`, `e2e`, `mixed`, `turn` default to 10s; for `get`
    /// it caps the drain).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Total records to put (instead of a duration; `put` and `mixed`).
    #[arg(long)]
    pub records: Option<u64>,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// CBOR bodies (`application/x-amz-cbor-1.1`, blobs as byte strings), as the Java SDK sends.
    #[arg(long)]
    pub cbor: bool,
    /// Server process whose CPU time (/proc/PID/stat) is measured across the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Hide the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// signaling: channels `<--channel-prefix><i>`, i < N, each with a master and one viewer
    /// connected (2N WebSockets); existing ones are reused.
    #[arg(long, default_value_t = 10_000)]
    pub channels: usize,
    /// signaling: the channels' name prefix.
    #[arg(long, default_value = "bench-sig-")]
    pub channel_prefix: String,
    /// signaling: rounds of exchanges; in each, every viewer sends one offer.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// signaling: SDP bytes in an offer or answer (the messagePayload is the base64 of a JSON
    /// document around it, about 4/3 of this and more).
    #[arg(long, default_value_t = 2400)]
    pub sdp_size: usize,
    /// signaling: this client's read buffer per WebSocket. Small, so that the load generator's
    /// memory does not limit how many connections a run holds (tungstenite's default, which
    /// axum's server side keeps, is 128 KiB).
    #[arg(long, default_value_t = 16 * 1024)]
    pub ws_read_buffer: usize,
    /// turn: relay allocations, each with its own peer, all pushing at once.
    #[arg(long, default_value_t = 1)]
    pub allocations: usize,
    /// turn: UDP payload bytes per datagram.
    #[arg(long, default_value_t = 1200)]
    pub packet_size: usize,
    /// turn: datagrams in flight per direction and allocation (sent, not yet received).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
}

/// What a run measured: Kinesis (and NATS) modes share one result shape, the video modes have
/// their own.
#[derive(Debug)]
pub enum Report {
    Kinesis(Box<BenchResult>),
    Signaling(Box<SignalingResult>),
    Turn(Box<TurnResult>),
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyMs {
    fn from_us(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct BenchResult {
    pub mode: Mode,
    pub endpoint: String,
    pub stream: String,
    pub wire: Wire,
    pub http2: bool,
    pub record_size: usize,
    pub batch: usize,
    pub concurrency: usize,
    /// Records acknowledged (put, e2e, mixed: FailedRecordCount subtracted) or read (get).
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    pub secs: f64,
    pub records_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    pub requests: u64,
    /// Per-request latency (PutRecords, or GetRecords in `get`).
    pub latency_ms: LatencyMs,
    /// Requests that failed as a whole, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// A few messages per error kind.
    pub error_samples: BTreeMap<String, Vec<String>>,
    /// Records refused inside successful PutRecords responses, by ErrorCode.
    pub failed_records: BTreeMap<String, u64>,
    pub server_cpu_secs: Option<f64>,
    /// `records` per server CPU-second (in `mixed`, put records only: see `read`).
    pub records_per_server_cpu_sec: Option<f64>,
    /// CPU seconds this load generator used, for judging whether the client was the bottleneck.
    pub client_cpu_secs: Option<f64>,
    /// `mixed`: what the tail-following pollers read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadReport>,
    /// `e2e`: put→receipt latency on each read path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e: Option<E2eReport>,
}

/// The readers' side of a `mixed` run.
#[derive(Serialize, Clone, Debug)]
pub struct ReadReport {
    pub records: u64,
    pub bytes: u64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub requests: u64,
    /// Per-GetRecords latency.
    pub latency_ms: LatencyMs,
    /// Put→receipt latency per record.
    pub receipt_latency_ms: LatencyMs,
    /// (put + read records) per server CPU-second.
    pub total_records_per_server_cpu_sec: Option<f64>,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct E2eReport {
    /// The --rate asked for (records/s); `records_per_sec` is what was achieved.
    pub target_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_records: Option<PathReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribe_to_shard: Option<PathReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jetstream_consumer: Option<PathReport>,
}

/// One read path of an `e2e` run.
#[derive(Serialize, Clone, Debug)]
pub struct PathReport {
    /// Records received that this run put (stamped).
    pub records: u64,
    /// Acknowledged puts that this path had not received when the run ended.
    pub missing: u64,
    /// Records received without this run's stamp.
    pub unstamped: u64,
    /// Put→receipt latency per record.
    pub latency_ms: LatencyMs,
    /// Requests (GetRecords calls, subscriptions) and their failures.
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
}

impl PathReport {
    fn new(acked: u64, tally: &Tally) -> Self {
        let stamped = tally.receipt_us.len();
        PathReport {
            records: stamped,
            missing: acked.saturating_sub(stamped),
            unstamped: tally.unstamped,
            latency_ms: LatencyMs::from_us(&tally.receipt_us),
            requests: tally.requests,
            errors: tally.errors.clone(),
        }
    }
}

/// What a run measured, before it is turned into a result.
enum Measured {
    Plain(Box<Tally>),
    Mixed {
        put: Box<Tally>,
        read: Box<Tally>,
    },
    /// `put_secs` replaces the run's wall time for the put rate: the readers' final drain is
    /// not put time.
    E2e {
        put: Box<Tally>,
        put_secs: f64,
        paths: Vec<(&'static str, Tally)>,
    },
}

/// The argument values after mode-specific defaults.
struct Resolved {
    batch: usize,
    concurrency: usize,
    deadline: Option<Duration>,
}

fn resolve(args: &BenchArgs) -> anyhow::Result<Resolved> {
    let paced = args.mode == Mode::E2e;
    let batch = args.batch.unwrap_or(if paced { 1 } else { MAX_BATCH });
    let concurrency = args.concurrency.unwrap_or(if paced { 64 } else { 4 });
    anyhow::ensure!(
        (1..=MAX_BATCH).contains(&batch),
        "--batch must be 1..={MAX_BATCH}"
    );
    anyhow::ensure!(
        (1..=MAX_RECORD_SIZE).contains(&args.record_size),
        "--record-size must be 1..={MAX_RECORD_SIZE}"
    );
    anyhow::ensure!(concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.shards >= 1, "--shards must be at least 1");
    if paced {
        anyhow::ensure!(
            args.rate.is_finite() && args.rate > 0.0,
            "--rate must be a positive number"
        );
        anyhow::ensure!(
            args.record_size >= stamp::STAMP_LEN,
            "e2e needs --record-size of at least {} (the send stamp)",
            stamp::STAMP_LEN
        );
        anyhow::ensure!(
            args.records.is_none(),
            "e2e runs for --duration, not --records"
        );
    }
    let deadline = match (args.mode, args.duration, args.records) {
        (Mode::Get, duration, _) => duration,
        (Mode::E2e, duration, _) => Some(duration.unwrap_or(DEFAULT_PUT_DURATION)),
        (_, None, None) => Some(DEFAULT_PUT_DURATION),
        (_, duration, _) => duration,
    };
    Ok(Resolved {
        batch,
        concurrency,
        deadline,
    })
}

/// Runs one benchmark, prints the summary and the `RESULT {json}` line to stdout, and returns it.
pub async fn run(args: BenchArgs) -> anyhow::Result<Report> {
    match args.mode {
        Mode::Signaling => {
            let result = signaling::run(signaling::Plan {
                endpoint: args.endpoint.clone(),
                channels: args.channels,
                prefix: args.channel_prefix.clone(),
                concurrency: args.concurrency.unwrap_or(100).max(1),
                rounds: args.rounds,
                rate: args.rate,
                sdp_size: args.sdp_size,
                ws_read_buffer: args.ws_read_buffer,
                server_pid: args.server_pid,
                no_progress: args.no_progress,
            })
            .await?;
            print_result(&result.summary(), &result)?;
            Ok(Report::Signaling(Box::new(result)))
        }
        Mode::Turn => {
            let result = relay::run(relay::Plan {
                endpoint: args.endpoint.clone(),
                allocations: args.allocations,
                packet_size: args.packet_size,
                window: args.window,
                duration: args.duration.unwrap_or(DEFAULT_PUT_DURATION),
                server_pid: args.server_pid,
                no_progress: args.no_progress,
            })
            .await?;
            print_result(&result.summary(), &result)?;
            Ok(Report::Turn(Box::new(result)))
        }
        _ => run_kinesis(args)
            .await
            .map(|r| Report::Kinesis(Box::new(r))),
    }
}

fn print_result(summary: &str, result: &impl Serialize) -> anyhow::Result<()> {
    println!("{summary}");
    println!(
        "RESULT {}",
        serde_json::to_string(result).context("serialising the result")?
    );
    Ok(())
}

async fn run_kinesis(args: BenchArgs) -> anyhow::Result<BenchResult> {
    let resolved = resolve(&args)?;
    let nats = args.endpoint.starts_with("nats://");
    let wire = if args.cbor { Wire::Cbor } else { Wire::Json };

    // Set-up (stream, consumers) happens before the clocks start.
    let kinesis = if nats {
        None
    } else {
        let kinesis = Kinesis::new(&args.endpoint, args.http2, wire)?;
        if args.mode != Mode::Get {
            put::ensure_stream(&kinesis, &args.stream, args.shards).await?;
        }
        Some(kinesis)
    };
    let jetstream = if nats {
        if matches!(args.mode, Mode::Get | Mode::Mixed) {
            bail!("a nats:// endpoint supports the put and e2e modes only");
        }
        Some(nats::JetStream::connect(&args.endpoint, &args.stream, args.shards).await?)
    } else {
        None
    };
    let progress = progress_bar(&args, resolved.deadline);
    let plan = Arc::new(put::PutPlan {
        batch: resolved.batch,
        deadline: resolved.deadline,
        records: args.records,
    });
    let rate_duration = resolved.deadline.unwrap_or(DEFAULT_PUT_DURATION);

    let cpu_before = args.server_pid.map(cpu::process_cpu_secs).transpose()?;
    let client_cpu_before = cpu::process_cpu_secs(std::process::id()).ok();
    let started = Instant::now();
    let measured = match (&kinesis, &jetstream, args.mode) {
        (Some(k), _, Mode::Put) => {
            let senders = (0..resolved.concurrency)
                .map(|_| put::KinesisSender::new(k, &args.stream, args.record_size))
                .collect();
            Measured::Plain(Box::new(
                put::produce(senders, plan, progress.clone()).await?,
            ))
        }
        (Some(k), _, Mode::Get) => Measured::Plain(Box::new(
            get::consume(k, &args.stream, resolved.deadline, progress.clone()).await?,
        )),
        (Some(k), _, Mode::Mixed) => {
            let senders = (0..resolved.concurrency)
                .map(|_| put::KinesisSender::new(k, &args.stream, args.record_size))
                .collect();
            let (put, read) = e2e::mixed(
                k,
                &args.stream,
                senders,
                plan,
                args.poll_interval,
                progress.clone(),
            )
            .await?;
            Measured::Mixed {
                put: Box::new(put),
                read: Box::new(read),
            }
        }
        (Some(k), _, Mode::E2e) => {
            let plan = e2e::PacedPlan {
                stream: args.stream.clone(),
                record_size: args.record_size,
                batch: resolved.batch,
                rate: args.rate,
                duration: rate_duration,
                workers: resolved.concurrency,
                poll_idle: args.poll_interval,
            };
            let t = e2e::e2e(k, plan, progress.clone()).await?;
            Measured::E2e {
                put: Box::new(t.put),
                put_secs: t.put_secs,
                paths: vec![("get_records", t.polled), ("subscribe_to_shard", t.pushed)],
            }
        }
        (None, Some(js), Mode::Put) => {
            let senders = (0..resolved.concurrency)
                .map(|_| js.sender(args.record_size))
                .collect();
            Measured::Plain(Box::new(
                put::produce(senders, plan, progress.clone()).await?,
            ))
        }
        (None, Some(js), Mode::E2e) => {
            let t = nats::e2e(
                js,
                resolved.concurrency,
                args.record_size,
                resolved.batch,
                args.rate,
                rate_duration,
                progress.clone(),
            )
            .await?;
            Measured::E2e {
                put: Box::new(t.put),
                put_secs: t.put_secs,
                paths: vec![("jetstream_consumer", t.consumed)],
            }
        }
        _ => bail!("{:?} is not supported against {}", args.mode, args.endpoint),
    };
    let secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(
            cpu::process_cpu_secs(pid).context("the server process ended during the run")? - before,
        ),
        _ => None,
    };
    let client_cpu_secs = client_cpu_before
        .and_then(|before| Some(cpu::process_cpu_secs(std::process::id()).ok()? - before));
    progress.finish_and_clear();

    let mut result = BenchResult::new(&args, &resolved, measured, secs, server_cpu_secs);
    result.client_cpu_secs = client_cpu_secs;
    print_result(&result.summary(), &result)?;
    Ok(result)
}

impl BenchResult {
    fn new(
        args: &BenchArgs,
        resolved: &Resolved,
        measured: Measured,
        mut secs: f64,
        server_cpu_secs: Option<f64>,
    ) -> Self {
        if let Measured::E2e { put_secs, .. } = &measured {
            secs = *put_secs;
        }
        let per_sec = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
        let per_cpu = |records: u64| {
            server_cpu_secs
                .filter(|&c| c > 0.0)
                .map(|c| records as f64 / c)
        };
        let (tally, read, e2e) = match measured {
            Measured::Plain(t) => (*t, None, None),
            Measured::Mixed { put, read } => {
                let report = ReadReport {
                    records: read.records,
                    bytes: read.bytes,
                    records_per_sec: per_sec(read.records as f64),
                    mb_per_sec: per_sec(read.bytes as f64 / 1e6),
                    requests: read.requests,
                    latency_ms: LatencyMs::from_us(&read.latency_us),
                    receipt_latency_ms: LatencyMs::from_us(&read.receipt_us),
                    total_records_per_server_cpu_sec: per_cpu(put.records + read.records),
                    errors: read.errors.clone(),
                };
                (*put, Some(report), None)
            }
            Measured::E2e { put, paths, .. } => {
                let mut report = E2eReport {
                    target_rate: args.rate,
                    get_records: None,
                    subscribe_to_shard: None,
                    jetstream_consumer: None,
                };
                for (name, t) in paths {
                    let path = Some(PathReport::new(put.records, &t));
                    match name {
                        "get_records" => report.get_records = path,
                        "subscribe_to_shard" => report.subscribe_to_shard = path,
                        _ => report.jetstream_consumer = path,
                    }
                }
                (*put, None, Some(report))
            }
        };
        BenchResult {
            mode: args.mode,
            endpoint: args.endpoint.clone(),
            stream: args.stream.clone(),
            wire: if args.cbor { Wire::Cbor } else { Wire::Json },
            http2: args.http2,
            record_size: args.record_size,
            batch: resolved.batch,
            concurrency: resolved.concurrency,
            records: tally.records,
            bytes: tally.bytes,
            secs,
            records_per_sec: per_sec(tally.records as f64),
            mb_per_sec: per_sec(tally.bytes as f64 / 1e6),
            requests: tally.requests,
            latency_ms: LatencyMs::from_us(&tally.latency_us),
            errors: tally.errors,
            error_samples: tally.error_samples,
            failed_records: tally.failed_records,
            server_cpu_secs,
            records_per_server_cpu_sec: per_cpu(tally.records),
            client_cpu_secs: None,
            read,
            e2e,
        }
    }

    /// The human-readable report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{mode:?} {stream} at {endpoint}: {records} records ({mb:.1} MB) in {secs:.2} s \
             over {requests} requests\n  \
             throughput: {rps:.0} records/s, {mbps:.2} MB/s\n  \
             request latency ms: {latency}",
            mode = self.mode,
            stream = self.stream,
            endpoint = self.endpoint,
            records = self.records,
            mb = self.bytes as f64 / 1e6,
            secs = self.secs,
            requests = self.requests,
            rps = self.records_per_sec,
            mbps = self.mb_per_sec,
            latency = quantiles(&self.latency_ms),
        );
        if let Some(cpu) = self.server_cpu_secs {
            s.push_str(&format!("\n  server CPU: {cpu:.2} s"));
            if let Some(r) = self.records_per_server_cpu_sec {
                s.push_str(&format!(", {r:.0} records per server CPU-second"));
            }
        }
        if let Some(cpu) = self.client_cpu_secs {
            s.push_str(&format!("\n  client CPU: {cpu:.2} s"));
        }
        for (kind, count) in &self.errors {
            s.push_str(&format!("\n  errors: {count} × {kind}"));
            for sample in self.error_samples.get(kind).into_iter().flatten() {
                s.push_str(&format!("\n    e.g. {sample}"));
            }
        }
        for (code, count) in &self.failed_records {
            s.push_str(&format!("\n  failed records: {count} × {code}"));
        }
        if let Some(r) = &self.read {
            s.push_str(&format!(
                "\n  read (GetRecords following the tail): {} records, {:.0} records/s, {:.2} MB/s \
                 over {} requests\n    put→read latency ms: {}",
                r.records,
                r.records_per_sec,
                r.mb_per_sec,
                r.requests,
                quantiles(&r.receipt_latency_ms)
            ));
            if let Some(total) = r.total_records_per_server_cpu_sec {
                s.push_str(&format!(
                    "\n    {total:.0} records (put + read) per server CPU-second"
                ));
            }
            for (kind, count) in &r.errors {
                s.push_str(&format!("\n    read errors: {count} × {kind}"));
            }
        }
        if let Some(e) = &self.e2e {
            s.push_str(&format!("\n  target rate: {:.0} records/s", e.target_rate));
            let paths = [
                ("put→GetRecords", &e.get_records),
                ("put→SubscribeToShard", &e.subscribe_to_shard),
                ("put→JetStream consumer", &e.jetstream_consumer),
            ];
            for (name, path) in paths {
                let Some(p) = path else { continue };
                s.push_str(&format!(
                    "\n  {name}: {} records ({} missing, {} unstamped) over {} requests\n    \
                     latency ms: {}",
                    p.records,
                    p.missing,
                    p.unstamped,
                    p.requests,
                    quantiles(&p.latency_ms)
                ));
                for (kind, count) in &p.errors {
                    s.push_str(&format!("\n    errors: {count} × {kind}"));
                }
            }
        }
        s
    }
}

fn quantiles(l: &LatencyMs) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        l.p50, l.p90, l.p99, l.p999, l.max
    )
}

fn progress_bar(args: &BenchArgs, deadline: Option<Duration>) -> ProgressBar {
    if args.no_progress {
        return ProgressBar::hidden();
    }
    let bar = match (args.mode, args.records) {
        (Mode::Put | Mode::Mixed, Some(n)) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} records ({per_sec}) {elapsed}",
            )
            .expect("valid template"),
        ),
        _ => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(
                "{spinner} {human_pos} records ({per_sec}) {elapsed} {msg}",
            )
            .expect("valid template"),
        ),
    };
    if let Some(d) = deadline {
        bar.set_message(format!("of {d:?}"));
    }
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A bar (or spinner) drawn as `progress_bar`'s are; its length is set by the caller.
fn styled_bar(template: &str) -> ProgressBar {
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(0).with_style(style);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `10s`, `500ms`, `2m`, `1h` or plain seconds (`10`, `1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {s:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
