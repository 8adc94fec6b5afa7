//! Flink SQL `filesystem` tables and lookup joins on a virtual clock, through the engine's
//! public API as the runner drives it: a table's files are loaded whole, then the table is
//! finished; stream records are pushed with the time they are read at.

use std::collections::BTreeMap;

use freshet_analytics_engine::flink::{Connector, FlinkJob, SourceRecord};

/// 2026-01-01 00:00:00 UTC, in ms: processing times in the tests are this plus a few seconds.
const T0: i64 = 1_767_225_600_000;

const ORDERS: &str = "CREATE TABLE orders (
    id BIGINT,
    product STRING,
    qty INT,
    proc_time AS PROCTIME()
) WITH ('connector' = 'kinesis', 'stream' = 'orders', 'format' = 'json');
CREATE TABLE products (
    product STRING,
    name STRING,
    price DOUBLE
) WITH ('connector' = 'filesystem', 'path' = 's3://dims/products', 'format' = 'csv');
CREATE TABLE enriched (id BIGINT, name STRING, amount DOUBLE)
  WITH ('connector' = 'kinesis', 'stream' = 'enriched', 'format' = 'json');";

/// The products table's one file: `p3` has no row, so orders for it meet nothing.
const PRODUCTS: &str = "p1,apple,0.5\np2,pear,2.25\r\n\np2,pear (bio),3\n";

fn job(code: &str) -> FlinkJob {
    match FlinkJob::compile(code, &BTreeMap::new()) {
        Ok(job) => job,
        Err(e) => panic!("compiles: {e}"),
    }
}

fn refused(code: &str) -> String {
    match FlinkJob::compile(code, &BTreeMap::new()) {
        Ok(_) => panic!("compiled: {code}"),
        Err(e) => e.to_string(),
    }
}

/// The sources reading `table` (a lookup join reads its table as a source of its own).
fn sources_named(job: &FlinkJob, table: &str) -> Vec<usize> {
    let found: Vec<usize> = job
        .sources()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.name == table)
        .map(|(i, _)| i)
        .collect();
    assert!(!found.is_empty(), "no source reads {table}");
    found
}

/// What the runner does at the start: every file of each source of `table`, then its end.
fn load(job: &mut FlinkJob, table: &str, files: &[&str], now: i64) {
    for source in sources_named(job, table) {
        for file in files {
            job.load(source, file.as_bytes(), now).expect("loads");
        }
        job.finish(source, now).expect("ends");
    }
}

fn push(job: &mut FlinkJob, table: &str, rows: &[&str], now: i64) {
    let records: Vec<SourceRecord<'_>> = rows
        .iter()
        .map(|r| SourceRecord {
            data: r.as_bytes(),
            arrival_ms: now,
            partition_key: "pk",
            sequence_number: "1",
        })
        .collect();
    let source = sources_named(job, table)[0];
    job.push(source, "shardId-000000000000", &records, now)
        .expect("pushes");
}

/// Every sink's records, in the order they were written.
fn output(job: &mut FlinkJob) -> Vec<String> {
    job.take_outputs()
        .into_iter()
        .flatten()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect()
}

fn order(id: i64, product: &str, qty: i64) -> String {
    format!(r#"{{"id":{id},"product":"{product}","qty":{qty}}}"#)
}

#[test]
fn a_filesystem_tables_rows_flow_through_a_query_and_its_end_fires_every_window() {
    let code = "CREATE TABLE events (
        action STRING,
        ts TIMESTAMP(3),
        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
    ) WITH ('connector' = 'filesystem', 'path' = 's3a://logs/2026/', 'format' = 'json',
            'json.ignore-parse-errors' = 'true');
    CREATE TABLE counts (action STRING, n BIGINT, wstart TIMESTAMP(3), wend TIMESTAMP(3))
      WITH ('connector' = 'kinesis', 'stream' = 'counts', 'format' = 'csv');
    INSERT INTO counts
    SELECT action, COUNT(*), window_start, window_end
    FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
    GROUP BY action, window_start, window_end;";
    let mut job = job(code);
    assert_eq!(
        job.sources()[0].connector,
        Connector::Filesystem {
            bucket: "logs".into(),
            key: "2026/".into(),
        }
    );
    let first = r#"{"action":"view","ts":"2026-01-01 00:00:01"}
{"action":"buy","ts":"2026-01-01 00:00:02"}
not json
{"action":"view","ts":"2026-01-01 00:00:12"}
"#;
    let second = r#"{"action":"view","ts":"2026-01-01 00:00:03"}"#;
    job.load(0, first.as_bytes(), 0).expect("loads");
    job.load(0, second.as_bytes(), 0).expect("loads");
    // The watermark is 11 s: the first window [0, 10) fired, the second is open.
    let mut rows = output(&mut job);
    rows.sort();
    assert_eq!(
        rows,
        [
            "buy,1,2026-01-01 00:00:00,2026-01-01 00:00:10",
            "view,1,2026-01-01 00:00:00,2026-01-01 00:00:10",
        ]
    );
    assert!(!job.is_finished(0));
    let metrics = job.metrics();
    assert_eq!((metrics.records_in, metrics.parse_failures), (5, 1));
    // 00:00:03 came after the watermark passed its window: late.
    assert_eq!(metrics.late_rows, 1);
    let unfinished = job.snapshot().expect("snapshot");
    job.finish(0, 0).expect("ends");
    assert!(job.is_finished(0) && job.finished());
    assert_eq!(
        output(&mut job),
        ["view,1,2026-01-01 00:00:10,2026-01-01 00:00:20"]
    );

    // A job restored from a snapshot taken after the end does not read the files again (its
    // rows are in the state); one taken before, does.
    let finished = job.snapshot().expect("snapshot");
    let mut restored = self::job(code);
    restored.restore(&finished, 1).expect("restores");
    assert!(restored.is_finished(0));
    let mut again = self::job(code);
    again.restore(&unfinished, 1).expect("restores");
    assert!(!again.is_finished(0));
}

#[test]
fn inner_lookup_joins_meet_the_tables_rows_and_drop_orders_without_one() {
    let mut job = job(&format!(
        "{ORDERS}
         INSERT INTO enriched
         SELECT o.id, p.name, o.qty * p.price
         FROM orders AS o
         JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p ON o.product = p.product;"
    ));
    // The stream is source 0, the table the lookup join's own.
    assert_eq!(sources_named(&job, "products"), [1]);
    load(&mut job, "products", &[PRODUCTS], T0);
    assert!(
        output(&mut job).is_empty(),
        "loading the table emits nothing"
    );
    push(
        &mut job,
        "orders",
        &[
            &order(1, "p2", 4),
            &order(2, "p3", 1),
            &order(3, "p1", 2),
            r#"{"id":4,"product":null,"qty":1}"#,
        ],
        T0 + 1_000,
    );
    assert_eq!(
        output(&mut job),
        [
            r#"{"id":1,"name":"pear","amount":9.0}"#,
            r#"{"id":1,"name":"pear (bio)","amount":12.0}"#,
            r#"{"id":3,"name":"apple","amount":1.0}"#,
        ]
    );
    // Each order meets the table once, as it comes: nothing of it is kept.
    push(&mut job, "orders", &[&order(5, "p1", 10)], T0 + 2_000);
    assert_eq!(
        output(&mut job),
        [r#"{"id":5,"name":"apple","amount":5.0}"#]
    );
    let snapshot: serde_json::Value =
        serde_json::from_slice(&job.snapshot().expect("snapshot")).expect("json");
    assert_eq!(snapshot["operators"], serde_json::json!([]), "{snapshot}");
}

#[test]
fn left_lookup_joins_give_orders_without_a_row_nulls_in_the_streams_order() {
    let mut job = job(&format!(
        "{ORDERS}
         INSERT INTO enriched
         SELECT o.id, p.name, o.qty * p.price
         FROM orders AS o
         LEFT JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p
           ON o.product = p.product AND p.price < 3
         WHERE o.qty > 0;"
    ));
    load(&mut job, "products", &[PRODUCTS], T0);
    push(
        &mut job,
        "orders",
        &[
            &order(1, "p3", 1),
            &order(2, "p2", 2),
            &order(3, "p1", 0),
            &order(4, "p1", 4),
            r#"{"id":5,"product":null,"qty":1}"#,
        ],
        T0 + 1_000,
    );
    // p3 has no row, `pear (bio)` fails the ON condition (its order keeps only `pear`), the
    // WHERE drops order 3 after the join.
    assert_eq!(
        output(&mut job),
        [
            r#"{"id":1,"name":null,"amount":null}"#,
            r#"{"id":2,"name":"pear","amount":4.5}"#,
            r#"{"id":4,"name":"apple","amount":2.0}"#,
            r#"{"id":5,"name":null,"amount":null}"#,
        ]
    );
}

#[test]
fn a_regular_join_with_a_filesystem_table_keeps_the_tables_rows() {
    let mut job = job(&format!(
        "{ORDERS}
         INSERT INTO enriched
         SELECT o.id, p.name, o.qty * p.price
         FROM orders AS o, products AS p
         WHERE o.product = p.product AND p.name <> 'pear (bio)';"
    ));
    load(&mut job, "products", &[PRODUCTS], T0);
    push(
        &mut job,
        "orders",
        &[&order(1, "p2", 2), &order(2, "p3", 1)],
        T0 + 1_000,
    );
    assert_eq!(output(&mut job), [r#"{"id":1,"name":"pear","amount":4.5}"#]);
    // The table's rows are the join's state, so a snapshot carries them.
    let snapshot: serde_json::Value =
        serde_json::from_slice(&job.snapshot().expect("snapshot")).expect("json");
    assert_eq!(snapshot["sources"][1]["finished"], true, "{snapshot}");
}

#[test]
fn snapshots_of_a_job_with_a_lookup_join_reload_the_table_at_the_restore() {
    // Per-product totals over 10-second windows of processing time, behind the lookup join.
    let code = format!(
        "{ORDERS}
         CREATE TABLE totals (name STRING, amount DOUBLE, wstart TIMESTAMP(3), wend TIMESTAMP(3))
           WITH ('connector' = 'kinesis', 'stream' = 'totals', 'format' = 'json');
         CREATE VIEW lines AS
           SELECT o.proc_time, p.name, o.qty * p.price AS amount
           FROM orders AS o
           JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p ON o.product = p.product;
         INSERT INTO totals
         SELECT name, SUM(amount), window_start, window_end
         FROM TABLE(TUMBLE(TABLE lines, DESCRIPTOR(proc_time), INTERVAL '10' SECOND))
         GROUP BY name, window_start, window_end;"
    );
    let mut first = job(&code);
    load(&mut first, "products", &[PRODUCTS], T0);
    push(
        &mut first,
        "orders",
        &[&order(1, "p1", 2), &order(2, "p3", 1)],
        T0 + 1_000,
    );
    let snapshot = first.snapshot().expect("snapshot");
    let state: serde_json::Value = serde_json::from_slice(&snapshot).expect("json");
    let names: Vec<&str> = state["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["orders"], "the table is no state: {state}");

    // The first job goes on; a second starts from the snapshot, loads the table (a newer
    // file: apples cost more now), and both see the same window.
    push(&mut first, "orders", &[&order(3, "p1", 1)], T0 + 2_000);
    first.advance(T0 + 10_000).expect("advances");
    let mut second = job(&code);
    let report = second.restore(&snapshot, T0 + 1_500).expect("restores");
    assert!(report.unmatched.is_empty(), "{:?}", report.unmatched);
    let table = sources_named(&second, "products")[0];
    assert!(!second.is_finished(table), "a lookup table is loaded again");
    load(&mut second, "products", &["p1,apple,0.75\n"], T0 + 1_500);
    push(&mut second, "orders", &[&order(3, "p1", 1)], T0 + 2_000);
    second.advance(T0 + 10_000).expect("advances");
    assert_eq!(
        output(&mut first),
        [
            r#"{"name":"apple","amount":1.5,"wstart":"2026-01-01 00:00:00","wend":"2026-01-01 00:00:10"}"#
        ]
    );
    assert_eq!(
        output(&mut second),
        [
            r#"{"name":"apple","amount":1.75,"wstart":"2026-01-01 00:00:00","wend":"2026-01-01 00:00:10"}"#
        ]
    );
}

#[test]
fn what_filesystem_tables_and_lookup_joins_cannot_do_is_refused() {
    let table = |path: &str| {
        format!(
            "CREATE TABLE f (a STRING) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'raw');
             CREATE TABLE o (a STRING) WITH ('connector' = 'kinesis', 'stream' = 'o', 'format' = 'raw');
             INSERT INTO o SELECT a FROM f;"
        )
    };
    job(&table("S3://bucket/key"));
    for path in [
        "file:///tmp/dim.csv",
        "hdfs://nn/dim",
        "/tmp/dim.csv",
        "dims/x",
    ] {
        let e = refused(&table(path));
        assert!(
            e.contains(&format!("'{path}' is not supported"))
                && e.contains("S3 store only (s3://bucket/key or s3a://bucket/key"),
            "{e}"
        );
    }
    let e = refused(&table("s3:///key"));
    assert!(e.contains("names no bucket"), "{e}");

    let e = refused(
        "CREATE TABLE f (a STRING) WITH ('connector' = 'filesystem', 'path' = 's3://b/k', 'format' = 'raw');
         CREATE TABLE src (a STRING) WITH ('connector' = 'kinesis', 'stream' = 's', 'format' = 'raw');
         INSERT INTO f SELECT a FROM src;",
    );
    assert!(
        e.contains("Table sink 'default_catalog.default_database.f' cannot be written")
            && e.contains("writing the 'filesystem' connector's files is not supported"),
        "{e}"
    );
    let e = refused(
        "CREATE TABLE f (a STRING) WITH ('connector' = 'filesystem', 'path' = 's3://b/k', 'format' = 'raw',
           'source.monitor-interval' = '10 s');
         CREATE TABLE o (a STRING) WITH ('connector' = 'kinesis', 'stream' = 'o', 'format' = 'raw');
         INSERT INTO o SELECT a FROM f;",
    );
    assert!(e.contains("'source.monitor-interval'"), "{e}");

    let lookup = |extra: &str, join: &str| {
        format!(
            "{ORDERS}
             CREATE TABLE events (product STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
               WITH ('connector' = 'kinesis', 'stream' = 'e', 'format' = 'json');
             {extra}
             INSERT INTO enriched SELECT o.id, p.name, p.price FROM {join};"
        )
    };
    let e = refused(&lookup(
        "",
        "orders AS o JOIN events FOR SYSTEM_TIME AS OF o.proc_time AS e ON o.product = e.product
         JOIN products AS p ON o.product = p.product",
    ));
    assert!(
        e.contains("Processing-time temporal join is not supported on the 'kinesis' connector's table events"),
        "{e}"
    );
    let e = refused(&lookup(
        "CREATE TABLE timed (id BIGINT, product STRING, qty INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
           WITH ('connector' = 'kinesis', 'stream' = 't', 'format' = 'json');",
        "timed AS o JOIN products FOR SYSTEM_TIME AS OF o.ts AS p ON o.product = p.product",
    ));
    assert!(e.contains("Event-Time Temporal Table Join"), "{e}");
    let e = refused(&lookup(
        "",
        "orders AS o JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p ON p.price > 1",
    ));
    assert!(
        e.contains("requires an equality condition on fields of table [default_catalog.default_database.products]"),
        "{e}"
    );
    let e = refused(&lookup(
        "",
        "orders AS o FULL JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p ON o.product = p.product",
    ));
    assert!(e.contains("INNER or LEFT"), "{e}");
    let e = refused(&lookup(
        "",
        "products FOR SYSTEM_TIME AS OF PROCTIME() AS p, orders AS o",
    ));
    assert!(e.contains("lookup join's table"), "{e}");
    let e = refused(&lookup(
        "",
        "orders AS o JOIN nowhere FOR SYSTEM_TIME AS OF o.proc_time AS p ON o.product = p.product",
    ));
    assert!(
        e.contains("Object 'nowhere' not found within 'default_catalog.default_database'"),
        "{e}"
    );
}
