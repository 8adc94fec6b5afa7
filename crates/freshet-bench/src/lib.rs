//! A load generator for Kinesis Data Streams endpoints (Freshet or any other, e.g. kinesalite): it
//! speaks the real AWS JSON 1.1 wire API over pooled HTTP/1.1 keep-alive connections and reports
//! throughput, per-request latency and, given the server's pid, records per server CPU-second.
//!
//! `put` runs concurrent PutRecords producers (`put`); `get` drains every shard from TRIM_HORIZON
//! (`get`). The run ends with a human summary and one `RESULT {json}` line for scripts.

mod client;
mod cpu;
mod get;
mod put;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

pub use client::{CallError, Kinesis};
use stats::Tally;

/// The largest record Kinesis accepts (1 MiB) and the most records per PutRecords call.
const MAX_RECORD_SIZE: usize = 1 << 20;
const MAX_BATCH: usize = 500;
/// `put` runs this long when neither --duration nor --records is given.
const DEFAULT_PUT_DURATION: Duration = Duration::from_secs(10);

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// PutRecords from concurrent producers (creates the stream if missing).
    Put,
    /// Drain every shard from TRIM_HORIZON with GetRecords, one reader per shard.
    Get,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub mode: Mode,
    /// Kinesis endpoint (plain HTTP; requests are not SigV4-signed).
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    pub endpoint: String,
    /// Stream to write to or read from.
    #[arg(long, default_value = "freshet-bench")]
    pub stream: String,
    /// Shard count used when `put` has to create the stream.
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Payload bytes per record (random data).
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per PutRecords request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent producers (each with its own request in flight).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Run time, e.g. 10s, 500ms, 2m (`put` defaults to 10s; for `get` it caps the drain).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Total records to put (instead of a duration).
    #[arg(long)]
    pub records: Option<u64>,
    /// Server process whose CPU time (/proc/PID/stat) is measured across the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Hide the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct BenchResult {
    pub mode: Mode,
    pub endpoint: String,
    pub stream: String,
    pub record_size: usize,
    pub batch: usize,
    pub concurrency: usize,
    /// Records acknowledged (put: FailedRecordCount subtracted) or read (get).
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    pub secs: f64,
    pub records_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    pub requests: u64,
    /// Per-request latency.
    pub latency_ms: LatencyMs,
    /// Requests that failed as a whole, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// A few messages per error kind.
    pub error_samples: BTreeMap<String, Vec<String>>,
    /// Records refused inside successful PutRecords responses, by ErrorCode.
    pub failed_records: BTreeMap<String, u64>,
    pub server_cpu_secs: Option<f64>,
    pub records_per_server_cpu_sec: Option<f64>,
    /// CPU seconds this load generator used, for judging whether the client was the bottleneck.
    pub client_cpu_secs: Option<f64>,
}

/// Runs one benchmark, prints the summary and the `RESULT {json}` line to stdout, and returns it.
pub async fn run(args: BenchArgs) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(
        (1..=MAX_BATCH).contains(&args.batch),
        "--batch must be 1..={MAX_BATCH}"
    );
    anyhow::ensure!(
        (1..=MAX_RECORD_SIZE).contains(&args.record_size),
        "--record-size must be 1..={MAX_RECORD_SIZE}"
    );
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.shards >= 1, "--shards must be at least 1");
    let kinesis = Kinesis::new(&args.endpoint)?;

    if args.mode == Mode::Put {
        put::ensure_stream(&kinesis, &args.stream, args.shards).await?;
    }
    let deadline = match (args.mode, args.duration, args.records) {
        (Mode::Put, None, None) => Some(DEFAULT_PUT_DURATION),
        (_, duration, _) => duration,
    };
    let progress = progress_bar(&args, deadline);

    let cpu_before = args.server_pid.map(cpu::process_cpu_secs).transpose()?;
    let client_cpu_before = cpu::process_cpu_secs(std::process::id()).ok();
    let started = Instant::now();
    let tally = match args.mode {
        Mode::Put => {
            let plan = Arc::new(put::PutPlan {
                stream: args.stream.clone(),
                record_size: args.record_size,
                batch: args.batch,
                concurrency: args.concurrency,
                deadline,
                records: args.records,
            });
            put::produce(&kinesis, plan, progress.clone()).await?
        }
        Mode::Get => get::consume(&kinesis, &args.stream, deadline, progress.clone()).await?,
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

    let mut result = BenchResult::from_tally(&args, tally, secs, server_cpu_secs);
    result.client_cpu_secs = client_cpu_secs;
    println!("{}", result.summary());
    println!(
        "RESULT {}",
        serde_json::to_string(&result).expect("the result serialises")
    );
    Ok(result)
}

impl BenchResult {
    fn from_tally(args: &BenchArgs, tally: Tally, secs: f64, server_cpu_secs: Option<f64>) -> Self {
        let h = &tally.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency_ms = LatencyMs {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        };
        let per_sec = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
        BenchResult {
            mode: args.mode,
            endpoint: args.endpoint.clone(),
            stream: args.stream.clone(),
            record_size: args.record_size,
            batch: args.batch,
            concurrency: args.concurrency,
            records: tally.records,
            bytes: tally.bytes,
            secs,
            records_per_sec: per_sec(tally.records as f64),
            mb_per_sec: per_sec(tally.bytes as f64 / 1e6),
            requests: tally.requests,
            latency_ms,
            errors: tally.errors,
            error_samples: tally.error_samples,
            failed_records: tally.failed_records,
            server_cpu_secs,
            records_per_server_cpu_sec: server_cpu_secs
                .filter(|&c| c > 0.0)
                .map(|c| tally.records as f64 / c),
            client_cpu_secs: None,
        }
    }

    /// The human-readable report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{mode:?} {stream} at {endpoint}: {records} records ({mb:.1} MB) in {secs:.2} s \
             over {requests} requests\n  \
             throughput: {rps:.0} records/s, {mbps:.2} MB/s\n  \
             latency ms: p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  p99.9 {p999:.2}  max {max:.2}",
            mode = self.mode,
            stream = self.stream,
            endpoint = self.endpoint,
            records = self.records,
            mb = self.bytes as f64 / 1e6,
            secs = self.secs,
            requests = self.requests,
            rps = self.records_per_sec,
            mbps = self.mb_per_sec,
            p50 = self.latency_ms.p50,
            p90 = self.latency_ms.p90,
            p99 = self.latency_ms.p99,
            p999 = self.latency_ms.p999,
            max = self.latency_ms.max,
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
        s
    }
}

fn progress_bar(args: &BenchArgs, deadline: Option<Duration>) -> ProgressBar {
    if args.no_progress {
        return ProgressBar::hidden();
    }
    let bar = match (args.mode, args.records) {
        (Mode::Put, Some(n)) => ProgressBar::new(n).with_style(
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
