//! Nexmark in-process on the Flink SQL engine: the generator's events, as the JSON records a
//! Kinesis stream would carry, pushed through each query's job in batches of 10,000 (made as
//! they are pushed, so memory stays flat; the cost of making them is measured alone first and
//! taken out), the source ending at the last event (every window fires), the sink a blackhole.
//! Reports events per second and per CPU-second per query; `scripts/bench-nexmark-peer.sh` runs
//! the same queries on Apache Flink for the ratio.
//!
//! `cargo bench -p freshet-analytics-engine --bench nexmark [-- EVENTS [QUERY ...]]`

// A benchmark measures real time: the clock rule for services does not apply here.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::Instant;

use freshet_analytics_engine::flink::{FlinkJob, SourceRecord};
use freshet_nexmark::{Generator, GeneratorConfig, sql};

/// Events per push: what one Kinesis read hands the engine.
const BATCH: usize = 10_000;

fn cpu_secs() -> f64 {
    freshet_bench::cpu::process_cpu_secs(std::process::id()).unwrap_or(f64::NAN)
}

/// The job of one query: the Nexmark table on a Kinesis stream, the views, a blackhole sink.
fn code(query: &sql::NexmarkQuery) -> String {
    let mut code = sql::nexmark_ddl(
        "'connector' = 'kinesis', 'stream' = 'nexmark', 'format' = 'json', 'source.init.position' = 'TRIM_HORIZON'",
    );
    code.push_str(";\n");
    for view in sql::NEXMARK_VIEWS {
        code.push_str(view);
        code.push_str(";\n");
    }
    code.push_str(&query.sink_ddl("'connector' = 'blackhole'"));
    code.push_str(";\n");
    code.push_str(&query.insert());
    code
}

/// The JSON records of events `first .. first + count`.
fn records(config: &GeneratorConfig, first: u64, count: u64, out: &mut Vec<Vec<u8>>) {
    out.clear();
    for event in Generator::new(config.clone(), first, count) {
        let mut record = Vec::with_capacity(384);
        event.write_json(&mut record);
        out.push(record);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let events: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let config = GeneratorConfig::default();
    // What making the records costs alone, to take out of each query's time: Flink's source
    // makes rows, not JSON, so the engine's figure is the time after the records exist.
    let mut batch = Vec::with_capacity(BATCH);
    let (started, cpu) = (Instant::now(), cpu_secs());
    let mut bytes = 0;
    for first in (0..events).step_by(BATCH) {
        records(
            &config,
            first,
            (events - first).min(BATCH as u64),
            &mut batch,
        );
        bytes += batch.iter().map(Vec::len).sum::<usize>();
    }
    let (gen_wall, gen_cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    println!(
        "{events} events, {:.1} MB of JSON, first event rate {} /s; making the JSON: {gen_wall:.3} s wall, {gen_cpu:.3} CPU-s (taken out below)",
        bytes as f64 / 1e6,
        config.first_event_rate
    );
    println!(
        "{:<6} {:>10} {:>10} {:>14} {:>16} {:>12}",
        "query", "wall s", "CPU s", "events/s", "events/CPU-s", "rows out"
    );
    for query in sql::QUERIES {
        if !wanted.is_empty() && !wanted.contains(&query.name) {
            continue;
        }
        let mut job = match FlinkJob::compile(&code(query), &BTreeMap::new()) {
            Ok(job) => job,
            Err(e) => {
                println!("{:<6} not run: {e}", query.name);
                continue;
            }
        };
        let started = Instant::now();
        let cpu = cpu_secs();
        for (i, first) in (0..events).step_by(BATCH).enumerate() {
            records(
                &config,
                first,
                (events - first).min(BATCH as u64),
                &mut batch,
            );
            let pushed: Vec<SourceRecord<'_>> = batch
                .iter()
                .map(|data| SourceRecord {
                    data,
                    arrival_ms: 0,
                    partition_key: "",
                    sequence_number: "",
                })
                .collect();
            if let Err(e) = job.push(0, "shardId-000000000000", &pushed, i as i64) {
                println!("{:<6} failed: {e}", query.name);
                break;
            }
        }
        let _ = job.finish(0, i64::MAX / 2);
        let wall = (started.elapsed().as_secs_f64() - gen_wall).max(1e-9);
        let cpu = (cpu_secs() - cpu - gen_cpu).max(1e-9);
        let metrics = job.metrics();
        println!(
            "{:<6} {:>10.3} {:>10.3} {:>14.0} {:>16.0} {:>12}",
            query.name,
            wall,
            cpu,
            events as f64 / wall,
            events as f64 / cpu,
            metrics.records_out
        );
    }
}
