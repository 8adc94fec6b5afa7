//! Nexmark in-process on the Flink SQL engine: the generator's events, as the JSON records a
//! Kinesis stream would carry, pushed through each query's job in batches, the source ending
//! at the last event (every window fires), the sink a blackhole. Reports events per second and
//! per CPU-second per query; `scripts/bench-nexmark-peer.sh` runs the same queries on Apache
//! Flink for the ratio.
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let events: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    // The records, made once: the generator's cost is not the engine's.
    let config = GeneratorConfig::default();
    let records: Vec<Vec<u8>> = Generator::new(config.clone(), 0, events)
        .map(|event| {
            let mut out = Vec::with_capacity(256);
            event.write_json(&mut out);
            out
        })
        .collect();
    println!(
        "{events} events, {:.1} MB of JSON, first event rate {} /s",
        records.iter().map(Vec::len).sum::<usize>() as f64 / 1e6,
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
        for (i, chunk) in records.chunks(BATCH).enumerate() {
            let batch: Vec<SourceRecord<'_>> = chunk
                .iter()
                .map(|data| SourceRecord {
                    data,
                    arrival_ms: 0,
                    partition_key: "",
                    sequence_number: "",
                })
                .collect();
            if let Err(e) = job.push(0, "shardId-000000000000", &batch, i as i64) {
                println!("{:<6} failed: {e}", query.name);
                break;
            }
        }
        let _ = job.finish(0, i64::MAX / 2);
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
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
