//! In-process throughput of the SQL engine: generated JSON ticker records pushed through an
//! application whose output is discarded, on a virtual clock (1,000 records per millisecond),
//! for the query shapes of the KDA examples (the anomaly model on fewer events: it costs far
//! more per row). Reports events per second and per CPU-second.
//!
//! `cargo bench -p freshet-analytics-engine --bench throughput [-- EVENTS]`

// A benchmark measures real time: the clock rule for services does not apply here.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use freshet_analytics_engine::{
    Application, ColumnSpec, InputRecord, InputSchema, InputSpec, OutputFormat, OutputSpec,
    RecordFormat, ReferenceSpec,
};

/// A query shape: its name, its code, whether it joins the reference table, and at most how
/// many events it is given (the anomaly models cost far more per row than the rest).
struct Query {
    name: &'static str,
    code: &'static str,
    reference: bool,
    cap: Option<usize>,
}

const QUERIES: [Query; 9] = [
    Query {
        name: "stateless filter",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), price DOUBLE, change DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, price, change FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TECH' AND price > 50;"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "tumbling COUNT/SUM per key (1 s)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), n BIGINT, total DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, COUNT(*), SUM(price) FROM "SOURCE_SQL_STREAM_001"
GROUP BY ticker_symbol, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "stagger COUNT/SUM per key (1 s)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), n BIGINT, total DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, COUNT(*), SUM(price) FROM "SOURCE_SQL_STREAM_001"
WINDOWED BY STAGGER (PARTITION BY ticker_symbol RANGE INTERVAL '1' SECOND);"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "sliding AVG per key (10 s RANGE)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), price DOUBLE, avg_price DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, price, AVG(price) OVER W FROM "SOURCE_SQL_STREAM_001"
WINDOW W AS (PARTITION BY ticker_symbol RANGE INTERVAL '10' SECOND PRECEDING);"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "reference LEFT JOIN (1,000 rows)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), company VARCHAR(32), price DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, c."Company", price FROM "SOURCE_SQL_STREAM_001"
LEFT JOIN "CompanyName" AS c ON "SOURCE_SQL_STREAM_001".ticker_symbol = c."Ticker";"#,
        reference: true,
        cap: None,
    },
    Query {
        name: "stream join, ROWS 1000 window",
        // Tickers never repeat across sectors here, so the sides join on the ticker number / 4:
        // each TECH row meets about 4 of the last 1,001 ENERGY rows.
        code: r#"CREATE STREAM "TECH" (k INTEGER, price DOUBLE);
CREATE STREAM "ENERGY" (k INTEGER, change DOUBLE);
CREATE PUMP "P1" AS INSERT INTO "TECH" SELECT STREAM CAST(SUBSTRING(ticker_symbol, 2) AS INTEGER) / 4, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TECH';
CREATE PUMP "P2" AS INSERT INTO "ENERGY" SELECT STREAM CAST(SUBSTRING(ticker_symbol, 2) AS INTEGER) / 4, change FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'ENERGY';
CREATE STREAM "OUT" (k INTEGER, price DOUBLE, change DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM t.k, t.price, e.change
FROM "TECH" AS t JOIN "ENERGY" OVER (ROWS 1000 PRECEDING) AS e ON t.k = e.k;"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "TOP_K_ITEMS_TUMBLING (K 10, 1 s)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), n BIGINT);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'TICKER_SYMBOL', 10, 1));"#,
        reference: false,
        cap: None,
    },
    Query {
        name: "RANDOM_CUT_FOREST (defaults)",
        code: r#"CREATE STREAM "OUT" (ticker VARCHAR(8), price DOUBLE, score DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM ticker_symbol, price, ANOMALY_SCORE
FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM ticker_symbol, price, change FROM "SOURCE_SQL_STREAM_001")));"#,
        reference: false,
        cap: Some(50_000),
    },
    Query {
        name: "HOTSPOTS (window 1,000)",
        code: r#"CREATE STREAM "OUT" (price DOUBLE, hotspots VARCHAR(1024));
CREATE PUMP "P" AS INSERT INTO "OUT"
SELECT STREAM price, HOTSPOTS_RESULT
FROM TABLE(HOTSPOTS(CURSOR(SELECT STREAM price, change FROM "SOURCE_SQL_STREAM_001"), 1000, 0.2, 17));"#,
        reference: false,
        cap: Some(50_000),
    },
];

const BATCH: usize = 10_000;
const KEYS: usize = 1_000;

fn input() -> InputSpec {
    let column = |name: &str, sql_type: &str| ColumnSpec {
        name: name.into(),
        sql_type: sql_type.into(),
        mapping: Some(format!("$.{name}")),
    };
    InputSpec {
        name_prefix: "SOURCE_SQL_STREAM".into(),
        parallelism: 1,
        schema: InputSchema {
            columns: vec![
                column("TICKER_SYMBOL", "VARCHAR(8)"),
                column("SECTOR", "VARCHAR(16)"),
                column("CHANGE", "DOUBLE"),
                column("PRICE", "DOUBLE"),
            ],
            format: RecordFormat::Json {
                record_row_path: "$".into(),
            },
        },
    }
}

fn records(n: usize) -> Vec<Vec<u8>> {
    const SECTORS: [&str; 4] = ["TECH", "ENERGY", "RETAIL", "HEALTH"];
    (0..n)
        .map(|i| {
            format!(
                r#"{{"TICKER_SYMBOL":"T{:04}","SECTOR":"{}","CHANGE":{:.2},"PRICE":{:.2}}}"#,
                i % KEYS,
                SECTORS[i % SECTORS.len()],
                (i % 200) as f64 / 100.0 - 1.0,
                (i * 7 % 10_000) as f64 / 100.0
            )
            .into_bytes()
        })
        .collect()
}

/// The reference table: a company name for every ticker.
fn companies() -> ReferenceSpec {
    let column = |name: &str, sql_type: &str| ColumnSpec {
        name: name.into(),
        sql_type: sql_type.into(),
        mapping: None,
    };
    let data: String = (0..KEYS)
        .map(|k| format!("T{k:04},Company number {k}\n"))
        .collect();
    ReferenceSpec {
        table_name: "CompanyName".into(),
        schema: InputSchema {
            columns: vec![
                column("Ticker", "VARCHAR(8)"),
                column("Company", "VARCHAR(32)"),
            ],
            format: RecordFormat::Csv {
                row_delimiter: "\n".into(),
                column_delimiter: ",".into(),
            },
        },
        data: data.into_bytes(),
    }
}

fn cpu_secs() -> f64 {
    freshet_bench::cpu::process_cpu_secs(std::process::id()).unwrap_or(f64::NAN)
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let data = records(events);
    println!("{events} JSON events per query, batches of {BATCH}, {KEYS} keys");
    println!(
        "{:<36} {:>12} {:>16} {:>12} {:>10}",
        "query", "events/s", "events/CPU-s", "output rows", "events"
    );
    for query in QUERIES {
        let outputs = [OutputSpec {
            name: "OUT".into(),
            format: OutputFormat::Json,
        }];
        let references = if query.reference {
            vec![companies()]
        } else {
            Vec::new()
        };
        let mut app = Application::compile(query.code, &[input()], &references, &outputs)
            .expect("the bench queries compile");
        let events = query.cap.map_or(events, |cap| cap.min(events));
        let data = &data[..events];
        let mut produced = 0usize;
        let cpu = cpu_secs();
        let started = Instant::now();
        for (n, chunk) in data.chunks(BATCH).enumerate() {
            let now = (n * BATCH / 1_000) as i64;
            let batch: Vec<InputRecord<'_>> = chunk
                .iter()
                .map(|d| InputRecord {
                    data: d,
                    arrival_ms: now,
                })
                .collect();
            app.push(0, &batch, now).expect("push");
            app.advance(now).expect("advance");
            produced += app.take_outputs().iter().map(Vec::len).sum::<usize>();
        }
        app.advance((events / 1_000) as i64 + 60_000)
            .expect("advance");
        produced += app.take_outputs().iter().map(Vec::len).sum::<usize>();
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        println!(
            "{:<36} {:>12.0} {:>16.0} {produced:>12} {events:>10}",
            query.name,
            events as f64 / wall,
            events as f64 / cpu
        );
    }
}
