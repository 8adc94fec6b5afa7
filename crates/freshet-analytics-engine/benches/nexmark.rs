//! Nexmark in-process on the Flink SQL engine: the generator's events, as the JSON records a
//! Kinesis stream would carry, decoded by the table's format into rows and pushed through each
//! query's job in batches of 10,000 (made as they are pushed, so memory stays flat), the source
//! ending at the last event (every window fires), the sink a blackhole. Making the rows
//! (generating, writing and decoding the JSON) is measured alone first and taken out, since
//! Flink's Nexmark source hands its engine rows; the cost with decoding is shown beside.
//! Reports events per second and per CPU-second per query; `scripts/bench-nexmark-peer.sh` runs
//! the same queries on Apache Flink for the ratio.
//!
//! `cargo bench -p freshet-analytics-engine --bench nexmark [-- EVENTS [QUERY ...]]`

// A benchmark measures real time: the clock rule for services does not apply here.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::Instant;

use freshet_analytics_engine::flink::FlinkJob;
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
    let decoder = match FlinkJob::compile(&code(&sql::QUERIES[0]), &BTreeMap::new()) {
        Ok(job) => job,
        Err(e) => panic!("the Nexmark table does not compile: {e}"),
    };
    // What making the rows costs alone (events, their JSON, the JSON decoded into the table's
    // columns), measured once and taken out of each query's figures: Flink's source makes its
    // rows without JSON, so the engine's figure starts from rows too.
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = 0;
    let (started, cpu) = (Instant::now(), cpu_secs());
    for first in (0..events).step_by(BATCH) {
        records(
            &config,
            first,
            (events - first).min(BATCH as u64),
            &mut batch,
        );
        bytes += batch.iter().map(Vec::len).sum::<usize>();
    }
    let (json_wall, json_cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    let (started, cpu) = (Instant::now(), cpu_secs());
    for first in (0..events).step_by(BATCH) {
        records(
            &config,
            first,
            (events - first).min(BATCH as u64),
            &mut batch,
        );
        let data: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        if let Err(e) = decoder.decode(0, &data) {
            panic!("the records do not decode: {e}");
        }
    }
    let (rows_wall, rows_cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    println!(
        "{events} events, {:.1} MB of JSON, first event rate {} /s",
        bytes as f64 / 1e6,
        config.first_event_rate
    );
    println!(
        "making the JSON: {json_wall:.3} s wall, {json_cpu:.3} CPU-s; decoding it into rows: {:.3} CPU-s ({:.0} events/CPU-s); rows in hand: taken out below",
        rows_cpu - json_cpu,
        events as f64 / (rows_cpu - json_cpu)
    );
    println!(
        "{:<6} {:>10} {:>10} {:>14} {:>16} {:>22} {:>12}",
        "query", "wall s", "CPU s", "events/s", "events/CPU-s", "with JSON decoding", "rows out"
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
            let data: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let pushed = job
                .decode(0, &data)
                .and_then(|rows| job.push_rows(0, "shardId-000000000000", rows, i as i64));
            if let Err(e) = pushed {
                println!("{:<6} failed: {e}", query.name);
                break;
            }
        }
        let _ = job.finish(0, i64::MAX / 2);
        let wall = (started.elapsed().as_secs_f64() - rows_wall).max(1e-9);
        let cpu = (cpu_secs() - cpu - rows_cpu).max(1e-9);
        let with_decoding = events as f64 / (cpu + rows_cpu - json_cpu);
        let metrics = job.metrics();
        println!(
            "{:<6} {:>10.3} {:>10.3} {:>14.0} {:>16.0} {:>22.0} {:>12}",
            query.name,
            wall,
            cpu,
            events as f64 / wall,
            events as f64 / cpu,
            with_decoding,
            metrics.records_out
        );
    }
}
