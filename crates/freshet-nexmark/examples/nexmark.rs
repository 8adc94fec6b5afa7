//! The generator from the command line, for the Flink peer (`scripts/bench-nexmark-peer.sh`) and
//! for measuring its speed:
//!
//! - `nexmark json COUNT [START]`: the JSON lines of events START.. (default 0), one per line;
//! - `nexmark speed COUNT`: generates COUNT events and writes each one's JSON into a reused buffer,
//!   then prints events per second (one thread);
//! - `nexmark sql`: the table, views and queries of `freshet_nexmark::sql`, in sections headed
//!   `--@ table`, `--@ view`, `--@ sink q0` and `--@ query q0`, which the Java bench reads.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use freshet_nexmark::{Generator, GeneratorConfig, sql};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map_or(default, |s| s.replace('_', "").parse().expect("a number"))
    };
    match args.first().map(String::as_str) {
        Some("json") => json(number(2, 0), number(1, 100_000)),
        Some("speed") => speed(number(1, 10_000_000)),
        Some("sql") => print_sql(),
        _ => {
            eprintln!("usage: nexmark json COUNT [START] | speed COUNT | sql");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn json(start: u64, count: u64) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut line = Vec::with_capacity(1024);
    for event in Generator::new(GeneratorConfig::default(), start, count) {
        line.clear();
        event.write_json(&mut line);
        line.push(b'\n');
        out.write_all(&line).expect("stdout");
    }
    out.flush().expect("stdout");
}

fn speed(count: u64) {
    let mut line = Vec::with_capacity(1024);
    let mut bytes = 0u64;
    let started = Instant::now();
    for event in Generator::new(GeneratorConfig::default(), 0, count) {
        line.clear();
        event.write_json(&mut line);
        bytes += line.len() as u64;
    }
    let json_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut checksum = 0i64;
    for event in Generator::new(GeneratorConfig::default(), 0, count) {
        checksum = checksum.wrapping_add(event.date_time_ms());
    }
    let plain_seconds = started.elapsed().as_secs_f64();
    let sample: Vec<_> =
        Generator::new(GeneratorConfig::default(), 0, count.min(1_000_000)).collect();
    let started = Instant::now();
    let mut written = 0usize;
    for event in sample.iter().cycle().take(count as usize) {
        line.clear();
        event.write_json(&mut line);
        written += line.len();
    }
    let write_seconds = started.elapsed().as_secs_f64();
    println!(
        "JSON only ({} events written {} times over): {write_seconds:.3} s = {:.2} M events/s ({written} bytes)",
        sample.len(),
        count as f64 / sample.len() as f64,
        count as f64 / write_seconds / 1e6,
    );
    println!(
        "{count} events: generate + JSON {json_seconds:.3} s = {:.2} M events/s ({:.0} MB/s, {:.1} bytes/event); \
         generate only {plain_seconds:.3} s = {:.2} M events/s (checksum {checksum})",
        count as f64 / json_seconds / 1e6,
        bytes as f64 / json_seconds / 1e6,
        bytes as f64 / count as f64,
        count as f64 / plain_seconds / 1e6,
    );
}

fn print_sql() {
    println!("--@ table\n{}", sql::NEXMARK_DDL);
    for view in sql::NEXMARK_VIEWS {
        println!("--@ view\n{view}");
    }
    for query in sql::QUERIES {
        println!("--@ sink {}\n{}", query.name, query.sink_columns);
        println!("--@ query {}\n{}", query.name, query.select);
    }
}
