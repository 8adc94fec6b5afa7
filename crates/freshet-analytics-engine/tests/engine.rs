//! The engine end to end on a virtual clock: records in, time passing, records out.

use freshet_analytics_engine::{
    Application, ColumnSpec, CompileError, InputRecord, InputSchema, InputSpec, OutputFormat,
    OutputSpec, RecordFormat, ReferenceSpec,
};
use serde_json::{Value, json};

/// The stock ticker schema of the AWS getting-started application.
fn ticker_input(parallelism: usize) -> InputSpec {
    let column = |name: &str, sql_type: &str, path: &str| ColumnSpec {
        name: name.into(),
        sql_type: sql_type.into(),
        mapping: Some(path.into()),
    };
    InputSpec {
        name_prefix: "SOURCE_SQL_STREAM".into(),
        parallelism,
        schema: InputSchema {
            columns: vec![
                column("TICKER_SYMBOL", "VARCHAR(4)", "$.TICKER_SYMBOL"),
                column("SECTOR", "VARCHAR(16)", "$.SECTOR"),
                column("CHANGE", "REAL", "$.CHANGE"),
                column("PRICE", "REAL", "$.PRICE"),
            ],
            format: RecordFormat::Json {
                record_row_path: "$".into(),
            },
        },
    }
}

fn output(name: &str) -> OutputSpec {
    OutputSpec {
        name: name.into(),
        format: OutputFormat::Json,
    }
}

fn tick(ticker: &str, sector: &str, change: f64, price: f64) -> Vec<u8> {
    json!({"TICKER_SYMBOL": ticker, "SECTOR": sector, "CHANGE": change, "PRICE": price})
        .to_string()
        .into_bytes()
}

fn push(app: &mut Application, records: &[Vec<u8>], now_ms: i64) {
    let records: Vec<InputRecord<'_>> = records
        .iter()
        .map(|d| InputRecord {
            data: d,
            arrival_ms: now_ms - 5,
        })
        .collect();
    app.push(0, &records, now_ms).expect("push");
}

fn rows(app: &mut Application, output: usize) -> Vec<Value> {
    let mut outputs = app.take_outputs();
    std::mem::take(&mut outputs[output])
        .into_iter()
        .map(|r| serde_json::from_slice(&r).expect("JSON output"))
        .collect()
}

const FILTER: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), sector VARCHAR(12), change DOUBLE, price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, sector, change, price
    FROM   "SOURCE_SQL_STREAM_001"
    WHERE  sector SIMILAR TO '%TECH%';
"#;

#[test]
fn the_getting_started_filter_passes_exactly_the_tech_rows() {
    let mut app = Application::compile(
        FILTER,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[
            tick("AMZN", "TECHNOLOGY", 1.5, 100.0),
            tick("XOM", "ENERGY", -0.5, 80.0),
            tick("MSFT", "TECHNOLOGY", 0.25, 300.0),
        ],
        1_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"TICKER_SYMBOL": "AMZN", "SECTOR": "TECHNOLOGY", "CHANGE": 1.5, "PRICE": 100.0}),
            json!({"TICKER_SYMBOL": "MSFT", "SECTOR": "TECHNOLOGY", "CHANGE": 0.25, "PRICE": 300.0}),
        ]
    );
}

const TUMBLING: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), ticker_count INTEGER, total_price DOUBLE,
    avg_price DOUBLE, min_price REAL, max_price REAL, window_start TIMESTAMP);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, COUNT(*) AS ticker_count, SUM(price), AVG(price), MIN(price), MAX(price),
        STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ticker_symbol, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
"#;

#[test]
fn a_tumbling_window_emits_each_key_once_when_it_ends() {
    let mut app = Application::compile(
        TUMBLING,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[tick("AMZN", "T", 0.0, 10.0), tick("MSFT", "T", 0.0, 1.0)],
        60_000,
    );
    push(&mut app, &[tick("AMZN", "T", 0.0, 20.0)], 61_000);
    app.advance(119_999).expect("advance");
    assert!(rows(&mut app, 0).is_empty(), "the window is still open");
    app.advance(120_000).expect("advance");
    let mut out = rows(&mut app, 0);
    out.sort_by_key(|r| r["TICKER_SYMBOL"].as_str().map(String::from));
    assert_eq!(
        out,
        vec![
            json!({"TICKER_SYMBOL": "AMZN", "TICKER_COUNT": 2, "TOTAL_PRICE": 30.0, "AVG_PRICE": 15.0,
                   "MIN_PRICE": 10.0, "MAX_PRICE": 20.0, "WINDOW_START": "1970-01-01 00:01:00.000"}),
            json!({"TICKER_SYMBOL": "MSFT", "TICKER_COUNT": 1, "TOTAL_PRICE": 1.0, "AVG_PRICE": 1.0,
                   "MIN_PRICE": 1.0, "MAX_PRICE": 1.0, "WINDOW_START": "1970-01-01 00:01:00.000"}),
        ]
    );
    // An empty window emits nothing.
    app.advance(240_000).expect("advance");
    assert!(rows(&mut app, 0).is_empty());
}

#[test]
fn a_row_past_the_window_closes_it_before_it_counts() {
    let code = r#"
CREATE STREAM "OUT" (ticker VARCHAR(4), n BIGINT);
CREATE PUMP "P" AS INSERT INTO "OUT"
    SELECT STREAM ticker_symbol, COUNT(*) FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ticker_symbol, FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE);
"#;
    let mut app =
        Application::compile(code, &[ticker_input(1)], &[], &[output("OUT")]).expect("compiles");
    let mut pushed = 0;
    for second in 0..150 {
        push(
            &mut app,
            &[tick(if second % 3 == 0 { "A" } else { "B" }, "T", 0.0, 1.0)],
            second * 1_000,
        );
        pushed += 1;
    }
    app.advance(180_000).expect("advance");
    let out = rows(&mut app, 0);
    let total: i64 = out.iter().map(|r| r["N"].as_i64().expect("count")).sum();
    assert_eq!(
        total, pushed,
        "every row is counted in exactly one window: {out:?}"
    );
    assert_eq!(out.len(), 6, "three windows, two keys each: {out:?}");
}

#[test]
fn chained_pumps_feed_in_application_streams() {
    let code = r#"
CREATE STREAM "TECH" (ticker VARCHAR(4), price DOUBLE);
CREATE STREAM "EXPENSIVE" (ticker VARCHAR(4), doubled DOUBLE);
CREATE PUMP "P2" AS INSERT INTO "EXPENSIVE" SELECT STREAM ticker, price * 2 FROM "TECH" WHERE price > 50;
CREATE PUMP "P1" AS INSERT INTO "TECH" SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TECH';
"#;
    let mut app = Application::compile(
        code,
        &[ticker_input(1)],
        &[],
        &[output("EXPENSIVE"), output("TECH")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[
            tick("A", "TECH", 0.0, 10.0),
            tick("B", "TECH", 0.0, 60.0),
            tick("C", "OIL", 0.0, 90.0),
        ],
        1,
    );
    let mut outputs = app.take_outputs();
    let parse = |records: Vec<Vec<u8>>| -> Vec<Value> {
        records
            .iter()
            .map(|r| serde_json::from_slice(r).expect("json"))
            .collect()
    };
    assert_eq!(
        parse(std::mem::take(&mut outputs[0])),
        vec![json!({"TICKER": "B", "DOUBLED": 120.0})]
    );
    assert_eq!(parse(std::mem::take(&mut outputs[1])).len(), 2);
}

#[test]
fn records_that_do_not_fit_go_to_error_stream_and_the_rest_go_on() {
    let mut app = Application::compile(
        FILTER,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM"), output("error_stream")],
    )
    .expect("compiles");
    let bad = br#"{"TICKER_SYMBOL":"BAD","SECTOR":"TECH","CHANGE":"lots","PRICE":1}"#.to_vec();
    push(
        &mut app,
        &[
            bad.clone(),
            b"{not json".to_vec(),
            tick("OK", "TECH", 1.0, 2.0),
        ],
        5_000,
    );
    assert_eq!(rows(&mut app, 0).len(), 1);
    let errors = app.take_outputs().remove(1);
    assert_eq!(errors.len(), 0, "taken with the first take");
    push(&mut app, std::slice::from_ref(&bad), 6_000);
    let errors: Vec<Value> = app
        .take_outputs()
        .remove(1)
        .iter()
        .map(|r| serde_json::from_slice(r).expect("json"))
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["ERROR_NAME"], "Coercion_Error");
    assert_eq!(errors[0]["ERROR_LEVEL"], "ERROR");
    assert_eq!(errors[0]["DATA_ROW"], hex_of(&bad));
    assert_eq!(errors[0]["DATA_ROWTIME"], "1970-01-01 00:00:06.000");
    assert!(
        errors[0]["MESSAGE"]
            .as_str()
            .expect("message")
            .contains("REAL"),
        "{errors:?}"
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_row_that_fails_evaluation_is_isolated_with_its_pump_name() {
    let code = r#"
CREATE STREAM "OUT" (ticker VARCHAR(4), ratio INTEGER);
CREATE PUMP "DIVIDE" AS INSERT INTO "OUT" SELECT STREAM ticker_symbol, 100 / CAST(price AS INTEGER) FROM "SOURCE_SQL_STREAM_001";
"#;
    let mut app = Application::compile(
        code,
        &[ticker_input(1)],
        &[],
        &[output("OUT"), output("error_stream")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[
            tick("A", "T", 0.0, 4.0),
            tick("Z", "T", 0.0, 0.0),
            tick("B", "T", 0.0, 5.0),
        ],
        9,
    );
    let mut outputs = app.take_outputs();
    let out: Vec<Value> = outputs[0]
        .iter()
        .map(|r| serde_json::from_slice(r).expect("json"))
        .collect();
    assert_eq!(
        out,
        vec![
            json!({"TICKER": "A", "RATIO": 25}),
            json!({"TICKER": "B", "RATIO": 20})
        ]
    );
    let errors: Vec<Value> = std::mem::take(&mut outputs[1])
        .iter()
        .map(|r| serde_json::from_slice(r).expect("json"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["PUMP_NAME"], "DIVIDE");
    assert_eq!(errors[0]["ERROR_NAME"], "Evaluation_Error");
}

#[test]
fn open_windows_survive_a_snapshot_and_restore() {
    let inputs = [ticker_input(1)];
    let outputs = [output("DESTINATION_SQL_STREAM")];
    let mut first = Application::compile(TUMBLING, &inputs, &[], &outputs).expect("compiles");
    push(
        &mut first,
        &[tick("AMZN", "T", 0.0, 10.0), tick("MSFT", "T", 0.0, 1.0)],
        60_000,
    );
    let snapshot = first.snapshot().expect("snapshot");
    // The snapshot leaves the window open in the running application too.
    push(&mut first, &[tick("AMZN", "T", 0.0, 20.0)], 61_000);
    first.advance(120_000).expect("advance");
    let expected = rows(&mut first, 0);

    let mut second = Application::compile(TUMBLING, &inputs, &[], &outputs).expect("compiles");
    second.restore(&snapshot).expect("restore");
    push(&mut second, &[tick("AMZN", "T", 0.0, 20.0)], 61_000);
    second.advance(120_000).expect("advance");
    assert_eq!(rows(&mut second, 0), expected);
    assert_eq!(expected.len(), 2);
}

#[test]
fn csv_in_and_csv_out() {
    let input = InputSpec {
        name_prefix: "SOURCE_SQL_STREAM".into(),
        parallelism: 2,
        schema: InputSchema {
            columns: vec![
                ColumnSpec {
                    name: "K".into(),
                    sql_type: "VARCHAR(8)".into(),
                    mapping: None,
                },
                ColumnSpec {
                    name: "V".into(),
                    sql_type: "BIGINT".into(),
                    mapping: None,
                },
            ],
            format: RecordFormat::Csv {
                row_delimiter: "\n".into(),
                column_delimiter: ";".into(),
            },
        },
    };
    let code = r#"CREATE STREAM "OUT" (k VARCHAR(8), v BIGINT);
CREATE PUMP "P" AS INSERT INTO "OUT" SELECT STREAM "K", "V" + 1 FROM "SOURCE_SQL_STREAM_002";"#;
    let mut app = Application::compile(
        code,
        &[input],
        &[],
        &[OutputSpec {
            name: "OUT".into(),
            format: OutputFormat::Csv,
        }],
    )
    .expect("compiles");
    assert_eq!(app.input_instances(), 2);
    app.push(
        1,
        &[InputRecord {
            data: b"a;1\nb;2\n",
            arrival_ms: 0,
        }],
        3,
    )
    .expect("push");
    app.push(
        0,
        &[InputRecord {
            data: b"ignored;1",
            arrival_ms: 0,
        }],
        3,
    )
    .expect("push");
    assert_eq!(
        app.take_outputs()[0],
        vec![b"a,2\n".to_vec(), b"b,3\n".to_vec()]
    );
}

#[test]
fn compile_errors_say_where() {
    let inputs = [ticker_input(1)];
    let err = |code: &str| match Application::compile(code, &inputs, &[], &[]) {
        Err(CompileError::Code(e)) => e,
        other => panic!("expected a code error, got {:?}", other.err()),
    };
    let e = err(
        "CREATE STREAM \"O\" (a INT);\n\nCREATE PUMP \"P\" AS INSERT INTO \"O\" SELECT STREAM nope FROM \"SOURCE_SQL_STREAM_001\";",
    );
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("NOPE"), "{e}");
    let e = err(
        "CREATE STREAM \"O\" (a INT);\nCREATE PUMP \"P\" AS INSERT INTO \"O\" SELECT STREAM 1 FROM \"MISSING\";",
    );
    assert!(e.message.contains("MISSING"), "{e}");
    let e = err(
        "CREATE STREAM \"O\" (a VARCHAR(4), n BIGINT);\nCREATE PUMP \"P\" AS INSERT INTO \"O\" SELECT STREAM ticker_symbol, COUNT(*) FROM \"SOURCE_SQL_STREAM_001\" GROUP BY ticker_symbol;",
    );
    assert!(e.message.contains("window on ROWTIME"), "{e}");
    let e = err(
        "CREATE STREAM \"O\" (a INT, b INT);\nCREATE PUMP \"P\" AS INSERT INTO \"O\" SELECT STREAM price FROM \"SOURCE_SQL_STREAM_001\";",
    );
    assert!(e.message.contains("1 column(s)"), "{e}");
    let e = err(
        "CREATE PUMP \"P\" AS INSERT INTO \"SOURCE_SQL_STREAM_001\" SELECT STREAM * FROM \"SOURCE_SQL_STREAM_001\";",
    );
    assert!(e.message.contains("CREATE STREAM"), "{e}");
    match Application::compile(
        "CREATE STREAM \"O\" (a INT);",
        &inputs,
        &[],
        &[output("NOT_THERE")],
    ) {
        Err(CompileError::Configuration(m)) => assert!(m.contains("NOT_THERE")),
        other => panic!("expected a configuration error, got {:?}", other.err()),
    }
}

const SLIDING: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), price DOUBLE, avg_price DOUBLE, n BIGINT, max_price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, price, AVG(price) OVER W1, COUNT(*) OVER W1, MAX(price) OVER W1
    FROM "SOURCE_SQL_STREAM_001"
    WINDOW W1 AS (PARTITION BY ticker_symbol RANGE INTERVAL '10' SECOND PRECEDING);
"#;

#[test]
fn a_sliding_range_window_covers_each_rows_last_interval_per_partition() {
    let mut app = Application::compile(
        SLIDING,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[tick("A", "T", 0.0, 10.0), tick("B", "T", 0.0, 100.0)],
        1_000,
    );
    push(&mut app, &[tick("A", "T", 0.0, 20.0)], 5_000);
    // 12 s: the row at 1 s is more than 10 s back and leaves A's window.
    push(&mut app, &[tick("A", "T", 0.0, 30.0)], 12_000);
    let out = rows(&mut app, 0);
    let summary: Vec<(String, f64, f64, i64, f64)> = out
        .iter()
        .map(|r| {
            (
                r["TICKER_SYMBOL"].as_str().expect("ticker").to_string(),
                r["PRICE"].as_f64().expect("price"),
                r["AVG_PRICE"].as_f64().expect("avg"),
                r["N"].as_i64().expect("n"),
                r["MAX_PRICE"].as_f64().expect("max"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("A".into(), 10.0, 10.0, 1, 10.0),
            ("B".into(), 100.0, 100.0, 1, 100.0),
            ("A".into(), 20.0, 15.0, 2, 20.0),
            ("A".into(), 30.0, 25.0, 2, 30.0),
        ]
    );
}

#[test]
fn a_sliding_rows_window_keeps_the_last_n_rows() {
    let code = r#"
CREATE STREAM "OUT" (price DOUBLE, total DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
    SELECT STREAM price, SUM(price) OVER (ROWS 2 PRECEDING) FROM "SOURCE_SQL_STREAM_001";
"#;
    let mut app =
        Application::compile(code, &[ticker_input(1)], &[], &[output("OUT")]).expect("compiles");
    let records: Vec<Vec<u8>> = [1.0, 2.0, 4.0, 8.0, 16.0]
        .iter()
        .map(|p| tick("A", "T", 0.0, *p))
        .collect();
    push(&mut app, &records, 1);
    let totals: Vec<f64> = rows(&mut app, 0)
        .iter()
        .map(|r| r["TOTAL"].as_f64().expect("total"))
        .collect();
    assert_eq!(totals, vec![1.0, 3.0, 7.0, 14.0, 28.0]);
}

#[test]
fn sliding_windows_survive_a_snapshot_and_restore() {
    let inputs = [ticker_input(1)];
    let outputs = [output("DESTINATION_SQL_STREAM")];
    let mut first = Application::compile(SLIDING, &inputs, &[], &outputs).expect("compiles");
    push(
        &mut first,
        &[tick("A", "T", 0.0, 10.0), tick("A", "T", 0.0, 20.0)],
        1_000,
    );
    let snapshot = first.snapshot().expect("snapshot");
    rows(&mut first, 0);
    let mut second = Application::compile(SLIDING, &inputs, &[], &outputs).expect("compiles");
    second.restore(&snapshot).expect("restore");
    push(&mut second, &[tick("A", "T", 0.0, 30.0)], 2_000);
    let out = rows(&mut second, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["AVG_PRICE"], 20.0);
    assert_eq!(out[0]["N"], 3);
}

#[test]
fn sliding_window_errors_are_code_errors() {
    let inputs = [ticker_input(1)];
    let code = |window: &str| {
        format!(
            "CREATE STREAM \"O\" (a DOUBLE);\nCREATE PUMP \"P\" AS INSERT INTO \"O\" SELECT STREAM AVG(price) OVER {window} FROM \"SOURCE_SQL_STREAM_001\";"
        )
    };
    for (window, expected) in [
        ("(RANGE UNBOUNDED PRECEDING)", "UNBOUNDED"),
        ("W9", "Window 'W9' not found"),
        ("(ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING)", "CURRENT ROW"),
    ] {
        match Application::compile(&code(window), &inputs, &[], &[]) {
            Err(CompileError::Code(e)) => {
                assert!(e.message.contains(expected), "{window}: {e}");
                assert_eq!(e.line, 2);
            }
            other => panic!("{window}: expected a code error, got {:?}", other.err()),
        }
    }
}

fn companies(format: RecordFormat, data: &[u8]) -> ReferenceSpec {
    ReferenceSpec {
        table_name: "CompanyName".into(),
        schema: InputSchema {
            columns: vec![
                ColumnSpec {
                    name: "Ticker".into(),
                    sql_type: "VARCHAR(4)".into(),
                    mapping: Some("$.Ticker".into()),
                },
                ColumnSpec {
                    name: "Company".into(),
                    sql_type: "VARCHAR(64)".into(),
                    mapping: Some("$.Company".into()),
                },
            ],
            format,
        },
        data: data.to_vec(),
    }
}

/// The AWS reference-data example: a LEFT JOIN with a table loaded from S3.
const ENRICH: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), "Company" varchar(20), sector VARCHAR(12), change DOUBLE, price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
   SELECT STREAM ticker_symbol, "c"."Company", sector, change, price
   FROM "SOURCE_SQL_STREAM_001" LEFT JOIN "CompanyName" as "c"
   ON "SOURCE_SQL_STREAM_001".ticker_symbol = "c"."Ticker";
"#;

#[test]
fn a_left_join_enriches_rows_from_a_reference_table() {
    for reference in [
        companies(
            RecordFormat::Csv { row_delimiter: "\n".into(), column_delimiter: ",".into() },
            b"AMZN,Amazon\nMSFT,Microsoft\n",
        ),
        companies(
            RecordFormat::Json { record_row_path: "$".into() },
            b"{\"Ticker\":\"AMZN\",\"Company\":\"Amazon\"}\n{\"Ticker\":\"MSFT\",\"Company\":\"Microsoft\"}\n",
        ),
    ] {
        let mut app = Application::compile(ENRICH, &[ticker_input(1)], &[reference], &[output("DESTINATION_SQL_STREAM")])
            .expect("compiles");
        push(&mut app, &[tick("MSFT", "TECH", 1.0, 2.0), tick("XOM", "ENERGY", 3.0, 4.0)], 10);
        assert_eq!(
            rows(&mut app, 0),
            vec![
                json!({"TICKER_SYMBOL": "MSFT", "Company": "Microsoft", "SECTOR": "TECH", "CHANGE": 1.0, "PRICE": 2.0}),
                json!({"TICKER_SYMBOL": "XOM", "Company": null, "SECTOR": "ENERGY", "CHANGE": 3.0, "PRICE": 4.0}),
            ]
        );
    }
}

#[test]
fn an_inner_join_drops_rows_without_a_match_and_can_feed_a_window() {
    let code = r#"
CREATE STREAM "OUT" (company VARCHAR(20), n BIGINT);
CREATE PUMP "P" AS INSERT INTO "OUT"
   SELECT STREAM c."Company", COUNT(*) FROM "SOURCE_SQL_STREAM_001" AS s JOIN "CompanyName" AS c ON s.ticker_symbol = c."Ticker"
   GROUP BY c."Company", STEP(s.ROWTIME BY INTERVAL '1' SECOND);
"#;
    let reference = companies(
        RecordFormat::Csv {
            row_delimiter: "\n".into(),
            column_delimiter: ",".into(),
        },
        b"AMZN,Amazon\n",
    );
    let mut app = Application::compile(code, &[ticker_input(1)], &[reference], &[output("OUT")])
        .expect("compiles");
    push(
        &mut app,
        &[
            tick("AMZN", "T", 0.0, 1.0),
            tick("AMZN", "T", 0.0, 1.0),
            tick("NONE", "T", 0.0, 1.0),
        ],
        100,
    );
    app.advance(1_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"COMPANY": "Amazon", "N": 2})]
    );
}

#[test]
fn a_reference_table_that_does_not_fit_its_schema_is_a_configuration_error() {
    let reference = companies(
        RecordFormat::Json {
            record_row_path: "$".into(),
        },
        b"{\"Ticker\":\"AMZN\",\"Company\":\"Amazon\"}\nnot json\n",
    );
    match Application::compile(ENRICH, &[ticker_input(1)], &[reference], &[]) {
        Err(CompileError::Configuration(m)) => assert!(m.contains("CompanyName"), "{m}"),
        other => panic!("expected a configuration error, got {:?}", other.err()),
    }
}

#[test]
fn lag_looks_back_within_each_partition() {
    let code = r#"
CREATE STREAM "OUT" (ticker VARCHAR(4), price DOUBLE, previous DOUBLE, two_back DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
    SELECT STREAM ticker_symbol, price, LAG(price) OVER W, LAG(price, 2, -1) OVER W
    FROM "SOURCE_SQL_STREAM_001"
    WINDOW W AS (PARTITION BY ticker_symbol ROWS 3 PRECEDING);
"#;
    let mut app =
        Application::compile(code, &[ticker_input(1)], &[], &[output("OUT")]).expect("compiles");
    push(
        &mut app,
        &[
            tick("A", "T", 0.0, 1.0),
            tick("B", "T", 0.0, 10.0),
            tick("A", "T", 0.0, 2.0),
            tick("A", "T", 0.0, 3.0),
        ],
        5,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"TICKER": "A", "PRICE": 1.0, "PREVIOUS": null, "TWO_BACK": -1.0}),
            json!({"TICKER": "B", "PRICE": 10.0, "PREVIOUS": null, "TWO_BACK": -1.0}),
            json!({"TICKER": "A", "PRICE": 2.0, "PREVIOUS": 1.0, "TWO_BACK": -1.0}),
            json!({"TICKER": "A", "PRICE": 3.0, "PREVIOUS": 2.0, "TWO_BACK": 1.0}),
        ]
    );
    let snapshot = app.snapshot().expect("snapshot");
    let mut restored =
        Application::compile(code, &[ticker_input(1)], &[], &[output("OUT")]).expect("compiles");
    restored.restore(&snapshot).expect("restore");
    push(&mut restored, &[tick("A", "T", 0.0, 4.0)], 6);
    assert_eq!(
        rows(&mut restored, 0),
        vec![json!({"TICKER": "A", "PRICE": 4.0, "PREVIOUS": 3.0, "TWO_BACK": 2.0})]
    );
}

const STAGGER: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), ticker_count INTEGER, total_price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, COUNT(*) AS ticker_count, SUM(price)
    FROM "SOURCE_SQL_STREAM_001"
    WINDOWED BY STAGGER (PARTITION BY ticker_symbol RANGE INTERVAL '1' MINUTE);
"#;

fn stagger_app() -> Application {
    Application::compile(
        STAGGER,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
    .expect("compiles")
}

#[test]
fn a_stagger_window_opens_per_key_with_its_first_row_and_closes_a_range_later() {
    let mut app = stagger_app();
    push(&mut app, &[tick("AMZN", "T", 0.0, 1.0)], 10_000);
    push(&mut app, &[tick("AMZN", "T", 0.0, 2.0)], 20_000);
    push(&mut app, &[tick("MSFT", "T", 0.0, 5.0)], 30_000);
    // 65 s is past the minute AMZN's window would have had as a tumbling window, but within
    // the minute since AMZN's first row.
    push(&mut app, &[tick("AMZN", "T", 0.0, 4.0)], 65_000);
    app.advance(69_999).expect("advance");
    assert!(rows(&mut app, 0).is_empty(), "AMZN's window is still open");
    app.advance(70_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER_SYMBOL": "AMZN", "TICKER_COUNT": 3, "TOTAL_PRICE": 7.0})]
    );
    // A row of a key whose window closed opens a new window; MSFT's own closes at 90 s.
    push(&mut app, &[tick("AMZN", "T", 0.0, 8.0)], 75_000);
    app.advance(90_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER_SYMBOL": "MSFT", "TICKER_COUNT": 1, "TOTAL_PRICE": 5.0})]
    );
    // A row exactly at a window's close belongs to the next window: the closed one is emitted
    // first, without it.
    push(&mut app, &[tick("AMZN", "T", 0.0, 16.0)], 135_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER_SYMBOL": "AMZN", "TICKER_COUNT": 1, "TOTAL_PRICE": 8.0})]
    );
    app.advance(195_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER_SYMBOL": "AMZN", "TICKER_COUNT": 1, "TOTAL_PRICE": 16.0})]
    );
    app.advance(400_000).expect("advance");
    assert!(rows(&mut app, 0).is_empty(), "no window is open");
}

#[test]
fn stagger_windows_close_in_one_batch_each_at_its_own_time() {
    let mut app = stagger_app();
    // Many keys opening at different times in one stream: each closes a minute after its first
    // row, and the counts per key add up to the input.
    let mut expected = 0;
    for i in 0..100i64 {
        let key = format!("K{}", i % 7);
        push(&mut app, &[tick(&key, "T", 0.0, 1.0)], 1_000 * i);
        expected += 1;
    }
    let mut counted = 0;
    let mut now = 0;
    while now <= 300_000 {
        app.advance(now).expect("advance");
        for row in rows(&mut app, 0) {
            counted += row["TICKER_COUNT"].as_i64().expect("count");
        }
        now += 7_000;
    }
    assert_eq!(counted, expected);
}

#[test]
fn stagger_windows_survive_a_snapshot_and_restore() {
    let mut app = stagger_app();
    push(&mut app, &[tick("AMZN", "T", 0.0, 1.0)], 10_000);
    push(&mut app, &[tick("MSFT", "T", 0.0, 2.0)], 40_000);
    let state = app.snapshot().expect("snapshot");
    let mut restored = stagger_app();
    restored.restore(&state).expect("restore");
    push(&mut restored, &[tick("AMZN", "T", 0.0, 3.0)], 50_000);
    restored.advance(70_000).expect("advance");
    assert_eq!(
        rows(&mut restored, 0),
        vec![json!({"TICKER_SYMBOL": "AMZN", "TICKER_COUNT": 2, "TOTAL_PRICE": 4.0})]
    );
    restored.advance(100_000).expect("advance");
    assert_eq!(
        rows(&mut restored, 0),
        vec![json!({"TICKER_SYMBOL": "MSFT", "TICKER_COUNT": 1, "TOTAL_PRICE": 2.0})]
    );
}

#[test]
fn stagger_window_errors_are_code_errors() {
    let compile = |code: &str| match Application::compile(code, &[ticker_input(1)], &[], &[]) {
        Err(error) => error,
        Ok(_) => panic!("compiled: {code}"),
    };
    let with_group_by = compile(
        "CREATE STREAM d (k VARCHAR(4), n INTEGER);\n\
         CREATE PUMP p AS INSERT INTO d SELECT STREAM ticker_symbol, COUNT(*) FROM SOURCE_SQL_STREAM_001\n\
         GROUP BY ticker_symbol WINDOWED BY STAGGER (PARTITION BY ticker_symbol RANGE INTERVAL '1' MINUTE);",
    );
    assert!(
        matches!(with_group_by, CompileError::Code(_)),
        "{with_group_by}"
    );
    assert!(
        with_group_by.to_string().contains("GROUP BY"),
        "{with_group_by}"
    );
    let ungrouped = compile(
        "CREATE STREAM d (k VARCHAR(4), n INTEGER);\n\
         CREATE PUMP p AS INSERT INTO d SELECT STREAM sector, COUNT(*) FROM SOURCE_SQL_STREAM_001\n\
         WINDOWED BY STAGGER (PARTITION BY ticker_symbol RANGE INTERVAL '1' MINUTE);",
    );
    assert!(
        ungrouped.to_string().contains("not being grouped"),
        "{ungrouped}"
    );
}

const TOP_K: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("TICKER_SYMBOL" VARCHAR(4), "MOST_FREQUENT_VALUES" BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM * FROM TABLE (TOP_K_ITEMS_TUMBLING(
        CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
        'TICKER_SYMBOL', 2, 60));
"#;

fn compile_one(code: &str) -> Application {
    Application::compile(
        code,
        &[ticker_input(1)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
    .expect("compiles")
}

#[test]
fn top_k_items_tumbling_emits_the_k_most_frequent_values_per_window() {
    let mut app = compile_one(TOP_K);
    let ticks: Vec<Vec<u8>> = ["AMZN", "MSFT", "AMZN", "IBM", "MSFT", "AMZN", "IBM", "XOM"]
        .iter()
        .map(|t| tick(t, "T", 0.0, 1.0))
        .collect();
    push(&mut app, &ticks[..4], 60_000);
    // The snapshot carries the open window's counts.
    let state = app.snapshot().expect("snapshot");
    let mut app = compile_one(TOP_K);
    app.restore(&state).expect("restore");
    push(&mut app, &ticks[4..], 70_000);
    app.advance(119_999).expect("advance");
    assert!(rows(&mut app, 0).is_empty(), "the window is open");
    app.advance(120_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"TICKER_SYMBOL": "AMZN", "MOST_FREQUENT_VALUES": 3}),
            json!({"TICKER_SYMBOL": "MSFT", "MOST_FREQUENT_VALUES": 2}),
        ]
    );
}

#[test]
fn count_distinct_items_tumbling_counts_each_window_over_a_filtered_cursor() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (NUMBER_OF_DISTINCT_ITEMS BIGINT);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM * FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
            CURSOR(SELECT STREAM ticker_symbol AS t FROM "SOURCE_SQL_STREAM_001" WHERE price > 1),
            'T', 10));"#,
    );
    push(
        &mut app,
        &[
            tick("AMZN", "T", 0.0, 5.0),
            tick("AMZN", "T", 0.0, 5.0),
            tick("MSFT", "T", 0.0, 5.0),
            tick("IBM", "T", 0.0, 0.5),
        ],
        1_000,
    );
    // A row in the next window closes the first.
    push(&mut app, &[tick("XOM", "T", 0.0, 5.0)], 12_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"NUMBER_OF_DISTINCT_ITEMS": 2})]
    );
    app.advance(20_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"NUMBER_OF_DISTINCT_ITEMS": 1})]
    );
}

#[test]
fn table_function_errors_are_code_errors() {
    let code = |call: &str| {
        format!(
            "CREATE STREAM d (a VARCHAR(4), n BIGINT);\nCREATE PUMP p AS INSERT INTO d SELECT STREAM * FROM TABLE({call});"
        )
    };
    for (call, expected) in [
        (
            "NO_SUCH_FUNCTION(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001))",
            "Function 'NO_SUCH_FUNCTION' not found",
        ),
        (
            "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 'NOPE', 2, 60)",
            "no column 'NOPE'",
        ),
        (
            "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 'PRICE', 0, 60)",
            "K must be an integer from 1 to 100000",
        ),
        (
            "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 'PRICE', 2, 3601)",
            "windowSize is a number of seconds from 1 to 3600",
        ),
        (
            "TOP_K_ITEMS_TUMBLING('PRICE', 2, 60)",
            "takes a CURSOR(SELECT STREAM ...) first",
        ),
    ] {
        match Application::compile(&code(call), &[ticker_input(1)], &[], &[]) {
            Err(CompileError::Code(error)) => {
                assert_eq!(error.line, 2, "{error}");
                assert!(error.message.contains(expected), "{call}: {error}");
            }
            Err(other) => panic!("{call}: not a code error: {other}"),
            Ok(_) => panic!("{call}: compiled"),
        }
    }
}

#[test]
fn kda_date_and_time_functions() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), at_text VARCHAR(32),
            parsed TIMESTAMP, age BIGINT, epoch_ms BIGINT, back TIMESTAMP, processed TIMESTAMP);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker_symbol,
            TIMESTAMP_TO_CHAR('yyyy-MM-dd HH:mm:ss', s.ROWTIME),
            CHAR_TO_TIMESTAMP('dd/MM/yyyy', sector),
            TSDIFF(s.ROWTIME, CHAR_TO_TIMESTAMP('dd/MM/yyyy', sector)),
            UNIX_TIMESTAMP(s.ROWTIME),
            TO_TIMESTAMP(UNIX_TIMESTAMP(s.ROWTIME) - 1000),
            CURRENT_ROW_TIMESTAMP
        FROM "SOURCE_SQL_STREAM_001" AS s;"#,
    );
    push(
        &mut app,
        &[tick("AMZN", "02/01/1970", 0.0, 1.0)],
        90_061_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "AMZN", "AT_TEXT": "1970-01-02 01:01:01",
            "PARSED": "1970-01-02 00:00:00.000", "AGE": 3_661_000, "EPOCH_MS": 90_061_000,
            "BACK": "1970-01-02 01:01:00.000", "PROCESSED": "1970-01-02 01:01:01.000"})]
    );
    // Text that does not match the format is the row's error, not the application's.
    push(
        &mut app,
        &[tick("MSFT", "not a date", 0.0, 1.0)],
        90_062_000,
    );
    assert!(rows(&mut app, 0).is_empty());
}

fn join_app(join: &str) -> Application {
    compile_one(&format!(
        r#"CREATE OR REPLACE STREAM "ORDERS" (ticker VARCHAR(4), amount DOUBLE);
        CREATE OR REPLACE STREAM "TRADES" (ticker VARCHAR(4), price DOUBLE);
        CREATE OR REPLACE PUMP "P1" AS INSERT INTO "ORDERS"
            SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'ORDER';
        CREATE OR REPLACE PUMP "P2" AS INSERT INTO "TRADES"
            SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TRADE';
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), order_amount DOUBLE, trade_price DOUBLE);
        CREATE OR REPLACE PUMP "P3" AS INSERT INTO "DESTINATION_SQL_STREAM"
            SELECT STREAM o.ticker, o.amount, t.price {join};"#
    ))
}

fn order(ticker: &str, amount: f64) -> Vec<u8> {
    tick(ticker, "ORDER", 0.0, amount)
}

fn trade(ticker: &str, price: f64) -> Vec<u8> {
    tick(ticker, "TRADE", 0.0, price)
}

#[test]
fn a_stream_joins_another_streams_last_minute_of_rows() {
    let join = r#"FROM "ORDERS" AS o JOIN "TRADES" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS t
        ON o.ticker = t.ticker"#;
    let mut app = join_app(join);
    push(&mut app, &[trade("AMZN", 10.0)], 1_000);
    assert!(rows(&mut app, 0).is_empty(), "no order yet");
    push(&mut app, &[order("AMZN", 5.0), order("MSFT", 1.0)], 2_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "AMZN", "ORDER_AMOUNT": 5.0, "TRADE_PRICE": 10.0})]
    );
    // A trade after the order meets only the orders of its own ROWTIME: ORDERS has no window.
    push(&mut app, &[trade("AMZN", 11.0)], 3_000);
    assert!(rows(&mut app, 0).is_empty());
    // The state survives a snapshot: both trades are still in TRADES' minute at 62 s.
    let state = app.snapshot().expect("snapshot");
    let mut app = join_app(join);
    app.restore(&state).expect("restore");
    push(&mut app, &[order("AMZN", 6.0)], 62_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "AMZN", "ORDER_AMOUNT": 6.0, "TRADE_PRICE": 11.0})]
    );
    // A trade at the order's ROWTIME meets it.
    push(&mut app, &[trade("AMZN", 12.0)], 62_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "AMZN", "ORDER_AMOUNT": 6.0, "TRADE_PRICE": 12.0})]
    );
}

#[test]
fn rows_windows_and_cross_joins_of_streams() {
    let mut app =
        join_app(r#"FROM "ORDERS" OVER (ROWS 1 PRECEDING) AS o CROSS JOIN "TRADES" AS t"#);
    push(&mut app, &[order("A", 1.0)], 1_000);
    push(&mut app, &[order("B", 2.0)], 2_000);
    push(&mut app, &[order("C", 3.0)], 3_000);
    // The trade meets ORDERS' latest row and the one before it.
    push(&mut app, &[trade("X", 9.0)], 4_000);
    let mut out = rows(&mut app, 0);
    out.sort_by(|a, b| a["TICKER"].as_str().cmp(&b["TICKER"].as_str()));
    assert_eq!(
        out,
        vec![
            json!({"TICKER": "B", "ORDER_AMOUNT": 2.0, "TRADE_PRICE": 9.0}),
            json!({"TICKER": "C", "ORDER_AMOUNT": 3.0, "TRADE_PRICE": 9.0}),
        ]
    );
}

#[test]
fn stream_join_errors_are_code_errors() {
    for (join, expected) in [
        (
            r#"FROM "ORDERS" AS o LEFT JOIN "TRADES" AS t USING (ticker)"#,
            "needs ON left.column = right.column",
        ),
        (
            r#"FROM "ORDERS" AS o JOIN "TRADES" OVER (PARTITION BY ticker RANGE INTERVAL '1' MINUTE PRECEDING) AS t ON o.ticker = t.ticker"#,
            "PARTITION BY",
        ),
        (
            r#"FROM "ORDERS" AS o JOIN "TRADES" AS t ON o.ticker = o.ticker"#,
            "compares a column of one stream with a column of the other",
        ),
    ] {
        let code = format!(
            r#"CREATE STREAM "ORDERS" (ticker VARCHAR(4), amount DOUBLE);
            CREATE STREAM "TRADES" (ticker VARCHAR(4), price DOUBLE);
            CREATE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), order_amount DOUBLE, trade_price DOUBLE);
            CREATE PUMP "P3" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM o.ticker, o.amount, t.price {join};"#
        );
        match Application::compile(&code, &[ticker_input(1)], &[], &[]) {
            Err(CompileError::Code(error)) => {
                assert!(error.message.contains(expected), "{join}: {error}")
            }
            Err(other) => panic!("{join}: not a code error: {other}"),
            Ok(_) => panic!("{join}: compiled"),
        }
    }
}

#[test]
fn first_last_and_nth_value_read_the_windows_rows() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), first_price DOUBLE, last_price DOUBLE, second_price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker_symbol, FIRST_VALUE(price) OVER W, LAST_VALUE(price) OVER W, NTH_VALUE(price, 2) OVER W
        FROM "SOURCE_SQL_STREAM_001"
        WINDOW W AS (PARTITION BY ticker_symbol ROWS 2 PRECEDING);"#,
    );
    push(
        &mut app,
        &[
            tick("A", "T", 0.0, 1.0),
            tick("B", "T", 0.0, 10.0),
            tick("A", "T", 0.0, 2.0),
            tick("A", "T", 0.0, 3.0),
            tick("A", "T", 0.0, 4.0),
        ],
        1_000,
    );
    let got: Vec<(Value, Value, Value)> = rows(&mut app, 0)
        .into_iter()
        .map(|r| {
            (
                r["FIRST_PRICE"].clone(),
                r["LAST_PRICE"].clone(),
                r["SECOND_PRICE"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(1.0), json!(1.0), Value::Null),
            (json!(10.0), json!(10.0), Value::Null),
            (json!(1.0), json!(2.0), json!(2.0)),
            (json!(1.0), json!(3.0), json!(2.0)),
            // ROWS 2 PRECEDING: the window is now 2, 3, 4.
            (json!(2.0), json!(4.0), json!(3.0)),
        ]
    );
}

#[test]
fn exp_avg_halves_the_weight_every_half_life_back() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), avg_price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker_symbol, EXP_AVG(price, INTERVAL '10' SECOND) OVER W
        FROM "SOURCE_SQL_STREAM_001"
        WINDOW W AS (PARTITION BY ticker_symbol RANGE INTERVAL '30' SECOND PRECEDING);"#,
    );
    push(&mut app, &[tick("A", "T", 0.0, 1.0)], 100_000);
    push(&mut app, &[tick("A", "T", 0.0, 2.0)], 115_000);
    push(&mut app, &[tick("A", "T", 0.0, 4.0)], 125_000);
    // 35 s after the first row it has left the 30 s window.
    push(&mut app, &[tick("A", "T", 0.0, 8.0)], 135_000);
    let averages: Vec<f64> = rows(&mut app, 0)
        .iter()
        .map(|r| r["AVG_PRICE"].as_f64().expect("a number"))
        .collect();
    let expected = [
        1.0,
        (0.5 * 1.0 + 2.0) / 1.5,
        (0.25 * 1.0 + 0.5 * 2.0 + 4.0) / 1.75,
        (0.25 * 2.0 + 0.5 * 4.0 + 8.0) / 1.75,
    ];
    assert_eq!(averages.len(), expected.len());
    for (got, want) in averages.iter().zip(expected) {
        assert!((got - want).abs() < 1e-9, "{got} != {want}");
    }
}

const UNION_ALL: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), n INTEGER);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
            SELECT STREAM ticker_symbol, 1 FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'A'
            UNION ALL
            SELECT STREAM ticker_symbol, COUNT(*) FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'B'
            GROUP BY ticker_symbol, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);"#;

#[test]
fn union_all_feeds_one_stream_from_each_branch() {
    let mut app = compile_one(UNION_ALL);
    push(
        &mut app,
        &[
            tick("X", "A", 0.0, 1.0),
            tick("Y", "B", 0.0, 1.0),
            tick("Y", "B", 0.0, 1.0),
        ],
        1_000,
    );
    let state = app.snapshot().expect("snapshot");
    assert_eq!(rows(&mut app, 0), vec![json!({"TICKER": "X", "N": 1})]);
    // The grouped branch's open window is its own in the snapshot.
    let mut app = compile_one(UNION_ALL);
    app.restore(&state).expect("restore");
    app.advance(2_000).expect("advance");
    assert_eq!(rows(&mut app, 0), vec![json!({"TICKER": "Y", "N": 2})]);
    let error = match Application::compile(
        "CREATE STREAM d (a VARCHAR(4));\nCREATE PUMP p AS INSERT INTO d SELECT STREAM ticker_symbol FROM SOURCE_SQL_STREAM_001 UNION SELECT STREAM sector FROM SOURCE_SQL_STREAM_001;",
        &[ticker_input(1)],
        &[],
        &[],
    ) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("UNION without ALL compiled"),
    };
    assert!(error.contains("only UNION ALL"), "{error}");
}

const MONOTONIC_GROUPS: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (batch_no INTEGER, ticker VARCHAR(4), n INTEGER);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM MONOTONIC(CAST(change AS INTEGER)), ticker_symbol, COUNT(*)
        FROM "SOURCE_SQL_STREAM_001"
        GROUP BY MONOTONIC(CAST(change AS INTEGER)), ticker_symbol;"#;

#[test]
fn a_monotonic_key_closes_its_groups_when_it_moves_on() {
    let mut app = compile_one(MONOTONIC_GROUPS);
    push(
        &mut app,
        &[
            tick("A", "T", 1.0, 1.0),
            tick("B", "T", 1.0, 1.0),
            tick("A", "T", 1.0, 1.0),
        ],
        1_000,
    );
    // Time alone closes nothing: only the key moving on does.
    app.advance(1_000_000).expect("advance");
    assert!(rows(&mut app, 0).is_empty());
    let state = app.snapshot().expect("snapshot");
    let mut app = compile_one(MONOTONIC_GROUPS);
    app.restore(&state).expect("restore");
    push(&mut app, &[tick("A", "T", 2.0, 1.0)], 1_000_001);
    let mut out = rows(&mut app, 0);
    out.sort_by(|a, b| a["TICKER"].as_str().cmp(&b["TICKER"].as_str()));
    assert_eq!(
        out,
        vec![
            json!({"BATCH_NO": 1, "TICKER": "A", "N": 2}),
            json!({"BATCH_NO": 1, "TICKER": "B", "N": 1}),
        ]
    );
}

#[test]
fn a_cursor_can_be_a_grouped_window() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), windows BIGINT);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
            CURSOR(SELECT STREAM ticker_symbol AS t, COUNT(*) AS n FROM "SOURCE_SQL_STREAM_001"
                   GROUP BY ticker_symbol, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)),
            'T', 5, 60));"#,
    );
    for second in 0..3i64 {
        push(
            &mut app,
            &[tick("A", "T", 0.0, 1.0), tick("B", "T", 0.0, 1.0)],
            second * 1_000,
        );
    }
    push(&mut app, &[tick("A", "T", 0.0, 1.0)], 3_000);
    app.advance(60_000).expect("advance");
    // Each 1-second window emitted A and B once (A also in the fourth): A in 4 windows, B in 3.
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"TICKER": "A", "WINDOWS": 4}),
            json!({"TICKER": "B", "WINDOWS": 3}),
        ]
    );
}

#[test]
fn sql_special_function_syntax_is_planned() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (head VARCHAR(4), tail VARCHAR(4), at_pos INTEGER, hour_of BIGINT);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM SUBSTRING(ticker_symbol FROM 1 FOR 2), SUBSTRING(ticker_symbol, 3),
            POSITION('Z' IN ticker_symbol), EXTRACT(HOUR FROM s.ROWTIME)
        FROM "SOURCE_SQL_STREAM_001" AS s;"#,
    );
    push(&mut app, &[tick("AMZN", "T", 0.0, 1.0)], 7_200_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"HEAD": "AM", "TAIL": "ZN", "AT_POS": 3, "HOUR_OF": 2})]
    );
}

#[test]
fn distinct_and_ungrouped_aggregates_run_in_grouped_windows() {
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (sector VARCHAR(8), tickers BIGINT, median_price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM sector, COUNT(DISTINCT ticker_symbol), MEDIAN(price)
        FROM "SOURCE_SQL_STREAM_001"
        GROUP BY sector, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);"#;
    let mut app = compile_one(code);
    push(
        &mut app,
        &[
            tick("A", "TECH", 0.0, 1.0),
            tick("B", "TECH", 0.0, 5.0),
            tick("A", "TECH", 0.0, 3.0),
        ],
        1_000,
    );
    // The distinct values and the median's values survive a snapshot.
    let state = app.snapshot().expect("snapshot");
    let mut app = compile_one(code);
    app.restore(&state).expect("restore");
    push(&mut app, &[tick("C", "TECH", 0.0, 4.0)], 1_500);
    app.advance(2_000).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"SECTOR": "TECH", "TICKERS": 3, "MEDIAN_PRICE": 3.5})]
    );
}

#[test]
fn an_outer_stream_join_keeps_what_met_nothing_once_it_leaves_its_window() {
    let join = r#"FROM "ORDERS" OVER (RANGE INTERVAL '10' SECOND PRECEDING) AS o
        FULL OUTER JOIN "TRADES" AS t ON o.ticker = t.ticker"#;
    let mut app = join_app(join);
    push(&mut app, &[order("AMZN", 5.0), order("MSFT", 1.0)], 1_000);
    // A trade meets the orders of the last 10 s.
    push(&mut app, &[trade("AMZN", 10.0), trade("IBM", 3.0)], 2_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "AMZN", "ORDER_AMOUNT": 5.0, "TRADE_PRICE": 10.0})]
    );
    // The IBM trade (TRADES has no window) left at once: it met nothing.
    app.advance(2_001).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": null, "ORDER_AMOUNT": null, "TRADE_PRICE": 3.0})]
    );
    // The MSFT order leaves ORDERS' window 10 s later, unmatched; AMZN's met a trade.
    app.advance(11_001).expect("advance");
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"TICKER": "MSFT", "ORDER_AMOUNT": 1.0, "TRADE_PRICE": null})]
    );
}

#[test]
fn aggregates_that_cannot_retract_are_recomputed_over_sliding_windows() {
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), tickers BIGINT, median_price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker_symbol, COUNT(DISTINCT ticker_symbol) OVER W, MEDIAN(price) OVER W
        FROM "SOURCE_SQL_STREAM_001"
        WINDOW W AS (RANGE INTERVAL '10' SECOND PRECEDING);"#,
    );
    push(&mut app, &[tick("A", "T", 0.0, 1.0)], 1_000);
    push(&mut app, &[tick("B", "T", 0.0, 9.0)], 2_000);
    push(&mut app, &[tick("A", "T", 0.0, 2.0)], 3_000);
    // 12.5 s: the rows of 1 s and 2 s have left the 10 s window; A (3 s) and C remain.
    push(&mut app, &[tick("C", "T", 0.0, 4.0)], 12_500);
    let got: Vec<(i64, f64)> = rows(&mut app, 0)
        .iter()
        .map(|r| {
            (
                r["TICKERS"].as_i64().expect("count"),
                r["MEDIAN_PRICE"].as_f64().expect("median"),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, 1.0), (2, 5.0), (2, 2.0), (2, 3.0)]);
}

/// The KDA SQL Reference's exact distinct count: SELECT STREAM DISTINCT in a subquery, counted
/// per ticker over a STEP of the subquery's event time.
const EXACT_DISTINCT: &str = r#"
CREATE OR REPLACE STREAM output_stream (ticker_symbol VARCHAR(4), unique_count BIGINT);
CREATE OR REPLACE PUMP stream_pump AS INSERT INTO output_stream
SELECT STREAM TICKER_SYMBOL, COUNT(distinct_stream.price) AS unique_count
  FROM (
    SELECT STREAM DISTINCT rowtime as window_time, TICKER_SYMBOL, CHANGE, PRICE,
      STEP((SOURCE_SQL_STREAM_001.rowtime) BY INTERVAL '5' SECOND)
    FROM SOURCE_SQL_STREAM_001) as distinct_stream
  GROUP BY TICKER_SYMBOL, STEP((distinct_stream.window_time) BY INTERVAL '5' SECOND);
"#;

#[test]
fn select_distinct_in_a_subquery_counts_distinct_rows() {
    let mut app = Application::compile(
        EXACT_DISTINCT,
        &[ticker_input(1)],
        &[],
        &[output("OUTPUT_STREAM")],
    )
    .expect("compiles");
    push(
        &mut app,
        &[tick("A", "T", 0.0, 1.0), tick("A", "T", 0.0, 1.0)],
        1_000,
    );
    push(&mut app, &[tick("A", "T", 0.0, 2.0)], 2_000);
    push(&mut app, &[tick("B", "T", 0.0, 1.0)], 3_000);
    app.advance(5_000).expect("advance");
    assert!(
        rows(&mut app, 0).is_empty(),
        "the outer window waits for its key to move on"
    );
    push(&mut app, &[tick("A", "T", 0.0, 3.0)], 6_000);
    app.advance(10_000).expect("advance");
    let mut out = rows(&mut app, 0);
    out.sort_by(|a, b| {
        a["TICKER_SYMBOL"]
            .as_str()
            .cmp(&b["TICKER_SYMBOL"].as_str())
    });
    assert_eq!(
        out,
        vec![
            json!({"TICKER_SYMBOL": "A", "UNIQUE_COUNT": 2}),
            json!({"TICKER_SYMBOL": "B", "UNIQUE_COUNT": 1}),
        ]
    );
    let error = match Application::compile(
        "CREATE STREAM d (a VARCHAR(4));\nCREATE PUMP p AS INSERT INTO d SELECT STREAM DISTINCT ticker_symbol FROM SOURCE_SQL_STREAM_001;",
        &[ticker_input(1)],
        &[],
        &[],
    ) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a DISTINCT without a window compiled"),
    };
    assert!(error.contains("needs a window on ROWTIME"), "{error}");
}

/// An input of JSON records with the given (name, SQL type) columns, each mapped from the key of
/// its name: a log line in one VARCHAR column, as the Developer Guide's log examples have.
fn json_input(columns: &[(&str, &str)]) -> InputSpec {
    InputSpec {
        name_prefix: "SOURCE_SQL_STREAM".into(),
        parallelism: 1,
        schema: InputSchema {
            columns: columns
                .iter()
                .map(|(name, sql_type)| ColumnSpec {
                    name: name.to_string(),
                    sql_type: sql_type.to_string(),
                    mapping: Some(format!("$.{name}")),
                })
                .collect(),
            format: RecordFormat::Json {
                record_row_path: "$".into(),
            },
        },
    }
}

fn compile_logs(code: &str, columns: &[(&str, &str)]) -> Result<Application, CompileError> {
    Application::compile(
        code,
        &[json_input(columns)],
        &[],
        &[output("DESTINATION_SQL_STREAM")],
    )
}

fn log_error(code: &str, columns: &[(&str, &str)]) -> String {
    match compile_logs(code, columns) {
        Err(CompileError::Code(e)) => e.message,
        Err(other) => panic!("expected a code error, got {other}"),
        Ok(_) => panic!("compiled: {code}"),
    }
}

fn record(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The Developer Guide's "Parsing Web Logs (W3C_LOG_PARSE Function)" application, as written:
/// the subquery's alias names its one column (`AS l(r)`).
const W3C_COMMON: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    column1 VARCHAR(16), column2 VARCHAR(16), column3 VARCHAR(16), column4 VARCHAR(16),
    column5 VARCHAR(16), column6 VARCHAR(16), column7 VARCHAR(16));
CREATE OR REPLACE PUMP "myPUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM l.r.COLUMN1, l.r.COLUMN2, l.r.COLUMN3, l.r.COLUMN4, l.r.COLUMN5, l.r.COLUMN6, l.r.COLUMN7
    FROM (SELECT STREAM W3C_LOG_PARSE("log", 'COMMON') FROM "SOURCE_SQL_STREAM_001") AS l(r);
"#;

#[test]
fn w3c_log_parse_reads_the_common_log_format() {
    let mut app = compile_logs(W3C_COMMON, &[("log", "VARCHAR(256)")]).expect("compiles");
    push(
        &mut app,
        &[
            record(
                json!({"log": r#"192.168.254.30 - John [24/May/2004:22:01:02 -0700] "GET /icons/apache_pb.gif HTTP/1.1" 304 0"#}),
            ),
            record(json!({"log": "this is not a web log"})),
        ],
        1_000,
    );
    // The SQL Reference's Example 1 output: the time keeps its brackets, the request its words.
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"COLUMN1": "192.168.254.30", "COLUMN2": "-", "COLUMN3": "John",
                   "COLUMN4": "[24/May/2004:22:01:02 -0700]",
                   "COLUMN5": "GET /icons/apache_pb.gif HTTP/1.1", "COLUMN6": "304", "COLUMN7": "0"}),
            // A line that does not parse is a NULL row: every field NULL.
            json!({"COLUMN1": null, "COLUMN2": null, "COLUMN3": null, "COLUMN4": null,
                   "COLUMN5": null, "COLUMN6": null, "COLUMN7": null}),
        ]
    );
}

#[test]
fn w3c_log_parse_takes_extended_and_custom_formats() {
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (host VARCHAR(64), status INTEGER, agent VARCHAR(64), at_time VARCHAR(32));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM l.n.COLUMN1, CAST(l.n.COLUMN6 AS INTEGER), l.n.COLUMN9, l.c.COLUMN4
    FROM (SELECT STREAM W3C_LOG_PARSE("log", 'NCSA EXTENDED') AS n,
                        W3C_LOG_PARSE("log", '%h %l %u [%t] \"%r\" %>s %b \"%[Referer]i\" \"%[User-agent]i\"') AS c
          FROM "SOURCE_SQL_STREAM_001") AS l;"#;
    let mut app = compile_logs(code, &[("log", "VARCHAR(512)")]).expect("compiles");
    let line = r#"203.0.113.24 - - [25/Mar/2018:15:25:37 -0700] "GET /index.php HTTP/1.1" 200 125 "-" "Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0""#;
    push(&mut app, &[record(json!({"log": line}))], 1_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"HOST": "203.0.113.24", "STATUS": 200,
                    "AGENT": "Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0",
                    "AT_TIME": "25/Mar/2018:15:25:37 -0700"})]
    );
}

#[test]
fn regex_log_parse_returns_the_groups_of_a_whole_line_match() {
    // The SQL Reference's Example 2, on the getting-started ticker stream.
    let mut app = compile_one(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (sector VARCHAR(24), match1 VARCHAR(24), match2 VARCHAR(24));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM T.SECTOR, T.REC.COLUMN1, T.REC.COLUMN2
    FROM (SELECT STREAM SECTOR, REGEX_LOG_PARSE(SECTOR, '.*([E].).*([R].*)') AS REC
          FROM SOURCE_SQL_STREAM_001) AS T;"#,
    );
    push(
        &mut app,
        &[
            tick("XOM", "ENERGY", 0.0, 1.0),
            tick("UNH", "HEALTHCARE", 0.0, 1.0),
            tick("AMZN", "TECHNOLOGY", 0.0, 1.0),
        ],
        1_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"SECTOR": "ENERGY", "MATCH1": "EN", "MATCH2": "RGY"}),
            json!({"SECTOR": "HEALTHCARE", "MATCH1": "EA", "MATCH2": "RE"}),
            // No R after an E: no match, NULL.
            json!({"SECTOR": "TECHNOLOGY", "MATCH1": null, "MATCH2": null}),
        ]
    );
}

#[test]
fn regex_log_parse_runs_the_developer_guides_example_and_names_columns() {
    // "Parsing Log Strings Based on Regular Expressions (REGEX_LOG_PARSE Function)".
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (logentry VARCHAR(24), match1 VARCHAR(24), match2 VARCHAR(24));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM T.LOGENTRY, T.REC.COLUMN1, T.REC.COLUMN2
    FROM (SELECT STREAM LOGENTRY,
              REGEX_LOG_PARSE(LOGENTRY, '(\w.+) (\d.+) (\w.+) (\w.+)') AS REC
          FROM SOURCE_SQL_STREAM_001) AS T;"#;
    let mut app = compile_logs(code, &[("LOGENTRY", "VARCHAR(256)")]).expect("compiles");
    let line = r#"203.0.113.24 - - [25/Mar/2018:15:25:37 -0700] "GET /index.php HTTP/1.1" 200 125 "-" "Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0""#;
    push(&mut app, &[record(json!({"LOGENTRY": line}))], 1_000);
    // Java's greedy groups: the first takes all it can and still leave a digit for the second.
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"LOGENTRY": line,
                    "MATCH1": r#"203.0.113.24 - - [25/Mar/2018:15:25:37 -0700] "GET /index.php HTTP/1.1" 200"#,
                    "MATCH2": r#"125 "-" "Mozilla/5.0 [en]"#})]
    );
    // The optional column list names and types the groups.
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ip VARCHAR(16), bytes BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM t.r.IP, t.r.BYTES + 1
    FROM (SELECT STREAM REGEX_LOG_PARSE(LOGENTRY, '(\S+) .* (\d+) ".*', 'ip, bytes BIGINT') AS r
          FROM SOURCE_SQL_STREAM_001) AS t;"#;
    let mut app = compile_logs(code, &[("LOGENTRY", "VARCHAR(256)")]).expect("compiles");
    push(&mut app, &[record(json!({"LOGENTRY": line}))], 1_000);
    assert_eq!(
        rows(&mut app, 0),
        vec![json!({"IP": "203.0.113.24", "BYTES": 126})]
    );
}

#[test]
fn fast_regex_log_parse_matches_lazily_without_backtracking() {
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (c1 VARCHAR(32), c2 VARCHAR(32));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM t.r.COLUMN1, t.r."COLUMN2"
    FROM (SELECT STREAM FAST_REGEX_LOG_PARSE("line", '(.*)_+(<Alpha>.*)') AS r
          FROM "SOURCE_SQL_STREAM_001") AS t;"#;
    let mut app = compile_logs(code, &[("line", "VARCHAR(64)")]).expect("compiles");
    push(
        &mut app,
        &[
            record(json!({"line": "Mary____had_a_little_lamb"})),
            record(json!({"line": "Mary_"})),
        ],
        1_000,
    );
    // The SQL Reference's Example C; the second line has nothing for the second group.
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"C1": "Mary", "C2": "had_a_little_lamb"}),
            json!({"C1": null, "C2": null}),
        ]
    );
}

#[test]
fn variable_column_log_parse_splits_fields() {
    // The Developer Guide's "Split Strings into Multiple Fields" application.
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM"(
            "column_A" VARCHAR(16), "column_B" VARCHAR(16), "column_C" VARCHAR(16),
            "COL_1" VARCHAR(16), "COL_2" VARCHAR(16), "COL_3" VARCHAR(16));
CREATE OR REPLACE PUMP "SECOND_STREAM_PUMP" AS
INSERT INTO "DESTINATION_SQL_STREAM"
   SELECT STREAM  t."Col_A", t."Col_B", t."Col_C",
                  t.r."COL_1", t.r."COL_2", t.r."COL_3"
   FROM (SELECT STREAM
           "Col_A", "Col_B", "Col_C",
           VARIABLE_COLUMN_LOG_PARSE ("Col_E_Unstructured",
                                     'COL_1 TYPE VARCHAR(16), COL_2 TYPE VARCHAR(16), COL_3 TYPE VARCHAR(16)',
                                     ',') AS r
         FROM "SOURCE_SQL_STREAM_001") as t;"#;
    let columns = [
        ("Col_A", "VARCHAR(16)"),
        ("Col_B", "VARCHAR(16)"),
        ("Col_C", "VARCHAR(16)"),
        ("Col_E_Unstructured", "VARCHAR(64)"),
    ];
    let mut app = compile_logs(code, &columns).expect("compiles");
    push(
        &mut app,
        &[
            record(
                json!({"Col_A": "a", "Col_B": "b", "Col_C": "c", "Col_E_Unstructured": "x,y,z"}),
            ),
            record(json!({"Col_A": "a", "Col_B": "b", "Col_C": "c", "Col_E_Unstructured": "x"})),
        ],
        1_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"column_A": "a", "column_B": "b", "column_C": "c", "COL_1": "x", "COL_2": "y", "COL_3": "z"}),
            // Fewer fields than columns: the rest are NULL.
            json!({"column_A": "a", "column_B": "b", "column_C": "c", "COL_1": "x", "COL_2": null, "COL_3": null}),
        ]
    );
    // A number of columns, an escape and quotes; typed columns convert (or are NULL).
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (a VARCHAR(16), b VARCHAR(16), c VARCHAR(32), n INTEGER, t TIMESTAMP);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM s.u.COLUMN1, s.u.COLUMN2, s.u.COLUMN3, s.typed.N, s.typed.T
    FROM (SELECT STREAM VARIABLE_COLUMN_LOG_PARSE("line", 3, ';', '\', '"') AS u,
                        VARIABLE_COLUMN_LOG_PARSE("line", 'x TYPE VARCHAR(4), n TYPE INTEGER, t TYPE TIMESTAMP ''dd/MMM/yyyy:HH:mm:ss''', ';') AS typed
          FROM "SOURCE_SQL_STREAM_001") AS s;"#;
    let mut app = compile_logs(code, &[("line", "VARCHAR(64)")]).expect("compiles");
    push(
        &mut app,
        &[
            record(json!({"line": r#"a\;b;"c;d";24/May/2004:22:01:02"#})),
            record(json!({"line": "x;42;24/May/2004:22:01:02"})),
        ],
        1_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"A": "a;b", "B": "c;d", "C": "24/May/2004:22:01:02", "N": null, "T": null}),
            json!({"A": "x", "B": "42", "C": "24/May/2004:22:01:02", "N": 42, "T": "2004-05-24 22:01:02.000"}),
        ]
    );
}

#[test]
fn fixed_column_log_parse_cuts_and_converts_fixed_width_fields() {
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (code VARCHAR(4), n INTEGER, at_time TIMESTAMP, rest VARCHAR(32));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM s.r.CODE, s.r.N, s.r."when", s.r.REST
    FROM (SELECT STREAM FIXED_COLUMN_LOG_PARSE("line",
            'code TYPE VARCHAR(4) START 0 FOR 4, n TYPE INTEGER NOT NULL START 4 FOR 5, "when" TYPE TIMESTAMP ''yyyy-MM-dd HH:mm:ss'' START 9 FOR 19, rest TYPE VARCHAR(32) START 29') AS r
          FROM "SOURCE_SQL_STREAM_001") AS s;"#;
    let mut app = compile_logs(code, &[("line", "VARCHAR(64)")]).expect("compiles");
    push(
        &mut app,
        &[
            record(json!({"line": "E042   172018-03-25 15:25:37 disk full"})),
            record(json!({"line": "E043 oops2018-03-25 15:25:37 n is not a number"})),
        ],
        1_000,
    );
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"CODE": "E042", "N": 17, "AT_TIME": "2018-03-25 15:25:37.000", "REST": "disk full"}),
            // N is NOT NULL: a line whose N does not convert does not parse.
            json!({"CODE": null, "N": null, "AT_TIME": null, "REST": null}),
        ]
    );
}

#[test]
fn sys_log_parse_reads_the_time_and_the_message() {
    let code = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (logged TIMESTAMP, message VARCHAR(64));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM s.r.COLUMN1, s.r.COLUMN2
    FROM (SELECT STREAM SYS_LOG_PARSE("line") AS r FROM "SOURCE_SQL_STREAM_001") AS s;"#;
    let mut app = compile_logs(code, &[("line", "VARCHAR(64)")]).expect("compiles");
    push(
        &mut app,
        &[
            record(json!({"line": "Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick"})),
            record(json!({"line": "2018-10-11T22:14:15Z mymachine su"})),
        ],
        1_000,
    );
    // A syslog time has no year: 1970's, as Java's SimpleDateFormat reads one.
    assert_eq!(
        rows(&mut app, 0),
        vec![
            json!({"LOGGED": "1970-10-11 22:14:15.000", "MESSAGE": "mymachine su: 'su root' failed for lonvick"}),
            json!({"LOGGED": null, "MESSAGE": null}),
        ]
    );
}

#[test]
fn log_parsing_errors_are_code_errors() {
    let line = [("line", "VARCHAR(64)")];
    let pump = |call: &str| {
        format!(
            "CREATE STREAM \"DESTINATION_SQL_STREAM\" (a VARCHAR(8));\n\
             CREATE PUMP p AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n\
             SELECT STREAM s.r.COLUMN1 FROM (SELECT STREAM {call} AS r FROM SOURCE_SQL_STREAM_001) AS s;"
        )
    };
    let e = log_error(&pump(r#"REGEX_LOG_PARSE("line", '(a')"#), &line);
    assert!(
        e.starts_with("REGEX_LOG_PARSE: the pattern '(a' is not a regular expression"),
        "{e}"
    );
    let e = log_error(&pump(r#"REGEX_LOG_PARSE("line", '(?<=a)(b)')"#), &line);
    assert!(e.contains("look-around"), "{e}");
    let e = log_error(&pump(r#"REGEX_LOG_PARSE("line", 'abc')"#), &line);
    assert!(e.contains("has no groups"), "{e}");
    let e = log_error(&pump(r#"REGEX_LOG_PARSE("line", "line")"#), &line);
    assert!(e.contains("argument 2 must be a literal"), "{e}");
    let e = log_error(&pump(r#"W3C_LOG_PARSE("line", 'FANCY')"#), &line);
    assert!(
        e.starts_with("W3C_LOG_PARSE: 'FANCY' is neither a predefined format"),
        "{e}"
    );
    let e = log_error(&pump(r#"FAST_REGEX_LOG_PARSE("line", '(<0-255>)')"#), &line);
    assert!(e.contains("numerical intervals"), "{e}");
    let e = log_error(&pump(r#"VARIABLE_COLUMN_LOG_PARSE("line", 0, ',')"#), &line);
    assert!(e.contains("number of columns"), "{e}");
    let e = log_error(
        &pump(r#"FIXED_COLUMN_LOG_PARSE("line", 'a TYPE INTEGER')"#),
        &line,
    );
    assert!(e.contains("needs START"), "{e}");
    let e = log_error(&pump(r#"SYS_LOG_PARSE("line", 'x')"#), &line);
    assert!(e.contains("SYS_LOG_PARSE takes 1 argument, not 2"), "{e}");
    // A field the row does not have is named.
    let e = log_error(
        "CREATE STREAM \"DESTINATION_SQL_STREAM\" (a VARCHAR(8));\n\
         CREATE PUMP p AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n\
         SELECT STREAM s.r.COLUMN9 FROM (SELECT STREAM W3C_LOG_PARSE(\"line\", 'COMMON') AS r FROM SOURCE_SQL_STREAM_001) AS s;",
        &line,
    );
    assert!(e.contains("COLUMN9"), "{e}");
}
