//! Flink SQL jobs on a virtual clock: each window kind, each join, snapshots, and the errors.

use std::collections::BTreeMap;

use super::*;

const BIDS: &str = "CREATE TABLE bids (
    auction BIGINT,
    price BIGINT,
    ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'kinesis', 'stream' = 'bids', 'format' = 'json');
CREATE TABLE out (
    a BIGINT, b BIGINT, c TIMESTAMP(3), d TIMESTAMP(3)
) WITH ('connector' = 'kinesis', 'stream' = 'out', 'format' = 'json');";

fn job(code: &str) -> FlinkJob {
    match FlinkJob::compile(code, &BTreeMap::new()) {
        Ok(job) => job,
        Err(e) => panic!("compiles: {e}"),
    }
}

fn bid(auction: i64, price: i64, second: i64, ms: i64) -> String {
    format!(
        r#"{{"auction":{auction},"price":{price},"ts":"2026-01-01 00:00:{second:02}.{ms:03}"}}"#
    )
}

/// Pushes to the source table `table` (sources are numbered in the order queries read them).
fn push_to(job: &mut FlinkJob, table: &str, rows: &[String], now: i64) {
    let source = job
        .sources()
        .iter()
        .position(|s| s.name == table)
        .expect("a source table");
    push(job, source, rows, now);
}

fn push(job: &mut FlinkJob, source: usize, rows: &[String], now: i64) {
    let records: Vec<SourceRecord<'_>> = rows
        .iter()
        .map(|r| SourceRecord {
            data: r.as_bytes(),
            arrival_ms: now,
            partition_key: "pk",
            sequence_number: "1",
        })
        .collect();
    job.push(source, "shardId-000000000000", &records, now)
        .expect("pushes");
}

fn output(job: &mut FlinkJob) -> Vec<String> {
    let mut rows: Vec<String> = job
        .take_outputs()
        .into_iter()
        .flatten()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect();
    rows.sort();
    rows
}

#[test]
fn tumbling_windows_fire_when_the_watermark_passes_their_end() {
    let mut job = job(&format!(
        "{BIDS}
         INSERT INTO out
         SELECT auction, COUNT(*), window_start, window_end
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY auction, window_start, window_end;"
    ));
    push(
        &mut job,
        0,
        &[bid(1, 5, 1, 0), bid(2, 7, 3, 0), bid(1, 9, 9, 500)],
        0,
    );
    // A NULL key is a group of its own.
    let null_key = r#"{"auction":null,"price":1,"ts":"2026-01-01 00:00:02"}"#;
    push(&mut job, 0, &[null_key.to_string()], 0);
    assert!(output(&mut job).is_empty(), "the watermark is at 8.5 s");
    // 10.999 s - 1 s: the window [0, 10) ends at 10 s, fires once the watermark is 9.999.
    push(&mut job, 0, &[bid(1, 1, 10, 999)], 1);
    assert_eq!(
        output(&mut job),
        [
            r#"{"a":1,"b":2,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#,
            r#"{"a":2,"b":1,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#,
            r#"{"a":null,"b":1,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#,
        ]
    );
    // A row for the fired window is late: counted, dropped.
    push(&mut job, 0, &[bid(3, 1, 2, 0)], 2);
    assert_eq!(job.metrics().late_rows, 1);
    job.finish(0, 3).expect("ends");
    assert_eq!(
        output(&mut job),
        [r#"{"a":1,"b":1,"c":"2026-01-01 00:00:10","d":"2026-01-01 00:00:20"}"#]
    );
}

#[test]
fn hop_and_cumulate_windows_count_each_row_in_every_window_it_falls_in() {
    let mut hop = job(&format!(
        "{BIDS}
         INSERT INTO out
         SELECT COUNT(*), SUM(price), window_start, window_end
         FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
         GROUP BY window_start, window_end;"
    ));
    push(&mut hop, 0, &[bid(1, 1, 2, 0), bid(1, 10, 7, 0)], 0);
    hop.finish(0, 1).expect("ends");
    assert_eq!(
        output(&mut hop),
        [
            // [-5, 5), [0, 10), [5, 15)
            r#"{"a":1,"b":1,"c":"2025-12-31 23:59:55","d":"2026-01-01 00:00:05"}"#,
            r#"{"a":1,"b":10,"c":"2026-01-01 00:00:05","d":"2026-01-01 00:00:15"}"#,
            r#"{"a":2,"b":11,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#,
        ]
    );
    let mut cumulate = job(&format!(
        "{BIDS}
         INSERT INTO out
         SELECT COUNT(*), MAX(price), window_start, window_end
         FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
         GROUP BY window_start, window_end;"
    ));
    push(&mut cumulate, 0, &[bid(1, 3, 2, 0), bid(1, 8, 7, 0)], 0);
    cumulate.finish(0, 1).expect("ends");
    assert_eq!(
        output(&mut cumulate),
        [
            r#"{"a":1,"b":3,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:05"}"#,
            r#"{"a":2,"b":8,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#,
        ]
    );
}

#[test]
fn session_windows_close_a_gap_after_their_last_row() {
    for window in [
        "FROM TABLE(SESSION(TABLE bids PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '3' SECOND))
         GROUP BY auction, window_start, window_end",
        // The group-window form of the same query.
        "FROM bids GROUP BY auction, SESSION(ts, INTERVAL '3' SECOND)",
    ] {
        let select = if window.starts_with("FROM TABLE") {
            "SELECT auction, COUNT(*), window_start, window_end"
        } else {
            "SELECT auction, COUNT(*), SESSION_START(ts, INTERVAL '3' SECOND), SESSION_END(ts, INTERVAL '3' SECOND)"
        };
        let mut job = job(&format!("{BIDS}\nINSERT INTO out {select} {window};"));
        // Auction 1: rows at 1 s and 3 s (one session), then 9 s (another); out of order.
        push(
            &mut job,
            0,
            &[bid(1, 1, 3, 0), bid(1, 1, 1, 0), bid(2, 1, 2, 0)],
            0,
        );
        push(&mut job, 0, &[bid(1, 1, 9, 0)], 1);
        // Watermark 8 s: the session [1, 6) and auction 2's [2, 5) are over.
        assert_eq!(
            output(&mut job),
            [
                r#"{"a":1,"b":2,"c":"2026-01-01 00:00:01","d":"2026-01-01 00:00:06"}"#,
                r#"{"a":2,"b":1,"c":"2026-01-01 00:00:02","d":"2026-01-01 00:00:05"}"#,
            ],
            "{window}"
        );
        push(&mut job, 0, &[bid(1, 1, 11, 0)], 2);
        job.finish(0, 3).expect("ends");
        assert_eq!(
            output(&mut job),
            [r#"{"a":1,"b":2,"c":"2026-01-01 00:00:09","d":"2026-01-01 00:00:14"}"#]
        );
    }
}

/// A sink for window aggregates of several aggregates.
const WIDE: &str = "CREATE TABLE wide (
    k BIGINT, n BIGINT, s BIGINT, m BIGINT, d BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3)
) WITH ('connector' = 'kinesis', 'stream' = 'wide', 'format' = 'json');";

/// A window aggregate over `tvf`: sliced when it reads the window function directly, per
/// window when `filter` (a WHERE clause that keeps every row) stands between them.
fn aggregate_over(tvf: &str, filter: &str) -> String {
    format!(
        "{BIDS}
         {WIDE}
         INSERT INTO wide
         SELECT auction, COUNT(*), SUM(price), MAX(price), COUNT(DISTINCT price),
                window_start, window_end
         FROM TABLE({tvf}) {filter}
         GROUP BY auction, window_start, window_end;"
    )
}

const HOP_6S_BY_2S: &str =
    "HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND)";
const CUMULATE_6S_BY_2S: &str =
    "CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND)";

/// Rows pushed in turn (the watermark 1 s behind the latest): windows fire between them, a
/// row comes for a slice some of whose windows fired, one for a slice all of whose windows
/// fired (freed), keys appear in some slices only, a NULL key, a row without a time.
fn sliced_steps() -> Vec<Vec<String>> {
    vec![
        vec![
            bid(1, 5, 0, 500),
            bid(2, 7, 1, 0),
            bid(1, 9, 3, 0),
            r#"{"auction":null,"price":1,"ts":"2026-01-01 00:00:03.500"}"#.to_string(),
            r#"{"auction":4,"price":1,"ts":null}"#.to_string(),
            // At a slice's (and windows') boundary: in the slice [4 s, 6 s).
            bid(3, 2, 4, 0),
            bid(3, 2, 5, 0),
        ],
        // Watermark 6 s.
        vec![bid(2, 4, 2, 500), bid(1, 3, 7, 0)],
        vec![bid(1, 8, 1, 500), bid(5, 6, 6, 500), bid(2, 1, 3, 999)],
        // Watermark 8 s.
        vec![bid(3, 3, 9, 0), bid(3, 3, 9, 0)],
    ]
}

/// Each step's output; the job snapshotted after step `restart_after` and the rest run on a
/// new job restored from it.
fn run_steps(
    code: &str,
    steps: &[Vec<String>],
    restart_after: Option<usize>,
) -> (Vec<Vec<String>>, u64) {
    let mut running = job(code);
    let mut outputs = Vec::new();
    for (i, rows) in steps.iter().enumerate() {
        push(&mut running, 0, rows, i as i64);
        outputs.push(output(&mut running));
        if restart_after == Some(i) {
            let snapshot = running.snapshot().expect("snapshot");
            running = job(code);
            let report = running.restore(&snapshot, i as i64).expect("restores");
            assert!(report.unmatched.is_empty(), "{:?}", report.unmatched);
        }
    }
    running.finish(0, steps.len() as i64).expect("ends");
    outputs.push(output(&mut running));
    (outputs, running.metrics().late_rows)
}

#[test]
fn sliced_hop_and_cumulate_windows_give_the_rows_of_per_window_assignment() {
    for tvf in [HOP_6S_BY_2S, CUMULATE_6S_BY_2S] {
        let steps = sliced_steps();
        let (sliced, sliced_late) = run_steps(&aggregate_over(tvf, ""), &steps, None);
        let (per_window, per_window_late) =
            run_steps(&aggregate_over(tvf, "WHERE TRUE"), &steps, None);
        assert_eq!(sliced, per_window, "{tvf}");
        // Per window, a row counts as late once per window that fired before it came; sliced,
        // once when every window of its slice had fired.
        if tvf == HOP_6S_BY_2S {
            // 1.5 s after [-4, 2), [-2, 4), [0, 6) fired; 2.5 s and 3.999 s are kept for the
            // windows still open.
            assert_eq!((sliced_late, per_window_late), (1, 1 + 3 + 2));
            // [2 s, 8 s): slices [2, 4) (read out when [-2, 4) and [0, 6) fired, then more
            // rows), [4, 6) and [6, 8); auction 5 only in the last, the NULL key only in the
            // first.
            let window = |row: &str| row.contains(r#""ws":"2026-01-01 00:00:02""#);
            let rows: Vec<&String> = sliced[3].iter().filter(|r| window(r)).collect();
            assert_eq!(
                rows,
                [
                    r#"{"k":1,"n":2,"s":12,"m":9,"d":2,"ws":"2026-01-01 00:00:02","we":"2026-01-01 00:00:08"}"#,
                    r#"{"k":2,"n":2,"s":5,"m":4,"d":2,"ws":"2026-01-01 00:00:02","we":"2026-01-01 00:00:08"}"#,
                    r#"{"k":3,"n":2,"s":4,"m":2,"d":1,"ws":"2026-01-01 00:00:02","we":"2026-01-01 00:00:08"}"#,
                    r#"{"k":5,"n":1,"s":6,"m":6,"d":1,"ws":"2026-01-01 00:00:02","we":"2026-01-01 00:00:08"}"#,
                    r#"{"k":null,"n":1,"s":1,"m":1,"d":1,"ws":"2026-01-01 00:00:02","we":"2026-01-01 00:00:08"}"#,
                ]
            );
        } else {
            // 2.5 s came before [0, 6) fired, 1.5 s and 3.999 s after: when the whole period
            // [0, 6) had fired.
            assert_eq!((sliced_late, per_window_late), (2, 1 + 3 + 2));
        }
    }
}

#[test]
fn a_sliced_window_aggregate_restored_mid_window_goes_on_as_before() {
    for tvf in [HOP_6S_BY_2S, CUMULATE_6S_BY_2S] {
        let steps = sliced_steps();
        let (uninterrupted, _) = run_steps(&aggregate_over(tvf, ""), &steps, None);
        let (per_window, _) = run_steps(&aggregate_over(tvf, "WHERE TRUE"), &steps, None);
        // After step 2 the open slices have parts read out by fired windows and live rows
        // after them; after step 0, live rows only.
        for restart_after in [0, 2] {
            let (restored, _) = run_steps(&aggregate_over(tvf, ""), &steps, Some(restart_after));
            assert_eq!(
                restored, uninterrupted,
                "{tvf} restarted after {restart_after}"
            );
            assert_eq!(
                restored, per_window,
                "{tvf} restarted after {restart_after}"
            );
        }
    }
}

#[test]
fn sliced_windows_with_an_offset_or_two_keys_give_the_rows_of_per_window_assignment() {
    // Two keys are hashed as Arrow rows, not by the BIGINT's value.
    let two_keys = |tvf: &str, filter: &str| {
        format!(
            "{BIDS}
             {WIDE}
             INSERT INTO wide
             SELECT auction, MOD(price, 2), COUNT(*), SUM(price), MAX(price),
                    window_start, window_end
             FROM TABLE({tvf}) {filter}
             GROUP BY auction, MOD(price, 2), window_start, window_end;"
        )
    };
    let tvfs = [
        HOP_6S_BY_2S,
        CUMULATE_6S_BY_2S,
        "HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND, INTERVAL '1' SECOND)",
        "CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND, INTERVAL '1' SECOND)",
    ];
    let steps = sliced_steps();
    for tvf in tvfs {
        for query in [aggregate_over, two_keys] {
            let (per_window, _) = run_steps(&query(tvf, "WHERE TRUE"), &steps, None);
            for restart_after in [None, Some(1)] {
                let (sliced, _) = run_steps(&query(tvf, ""), &steps, restart_after);
                assert_eq!(
                    sliced, per_window,
                    "{tvf}, restarted after {restart_after:?}"
                );
            }
        }
    }
}

#[test]
fn a_per_window_snapshot_of_an_aggregate_that_now_slices_is_refused() {
    // A TUMBLE aggregate keeps its state per window, in the layout HOP's had before slicing;
    // the two jobs' operators have the same ids.
    let tumble = "TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '6' SECOND)";
    let mut old = job(&aggregate_over(tumble, ""));
    push(&mut old, 0, &[bid(1, 5, 0, 500)], 0);
    let snapshot = old.snapshot().expect("snapshot");
    let mut sliced = job(&aggregate_over(HOP_6S_BY_2S, ""));
    let report = sliced.restore(&snapshot, 0).expect("restores the rest");
    // Refused by the aggregate, whose id the snapshot names.
    assert_eq!(report.unmatched.len(), 1, "{:?}", report.unmatched);
    assert!(
        sliced
            .nodes
            .iter()
            .any(|n| n.node.id == report.unmatched[0] && matches!(n.node.op, Op::Aggregate(_))),
        "{:?}",
        report.unmatched
    );
}

#[test]
fn aggregates_that_depend_on_row_order_keep_per_window_state() {
    // FIRST_VALUE takes a window's first row in arrival order: slices merged in time order
    // would take another when rows come out of order.
    let code = format!(
        "{BIDS}
         INSERT INTO out
         SELECT auction, FIRST_VALUE(price), window_start, window_end
         FROM TABLE({HOP_6S_BY_2S})
         GROUP BY auction, window_start, window_end;"
    );
    let mut job = job(&code);
    push(&mut job, 0, &[bid(1, 5, 3, 0), bid(1, 7, 1, 0)], 0);
    job.finish(0, 1).expect("ends");
    assert_eq!(
        output(&mut job),
        [
            r#"{"a":1,"b":5,"c":"2025-12-31 23:59:58","d":"2026-01-01 00:00:04"}"#,
            r#"{"a":1,"b":5,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:06"}"#,
            r#"{"a":1,"b":5,"c":"2026-01-01 00:00:02","d":"2026-01-01 00:00:08"}"#,
            r#"{"a":1,"b":7,"c":"2025-12-31 23:59:56","d":"2026-01-01 00:00:02"}"#,
        ]
    );
}

const TWO: &str = "CREATE TABLE persons (
    id BIGINT, name STRING, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'kinesis', 'stream' = 'persons', 'format' = 'json');
CREATE TABLE auctions (
    id BIGINT, seller BIGINT, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'kinesis', 'stream' = 'auctions', 'format' = 'json');
CREATE TABLE joined (
    id BIGINT, name STRING, auction BIGINT
) WITH ('connector' = 'kinesis', 'stream' = 'out', 'format' = 'json');";

fn person(id: i64, name: &str, second: i64) -> String {
    format!(r#"{{"id":{id},"name":"{name}","ts":"2026-01-01 00:00:{second:02}"}}"#)
}

fn auction(id: i64, seller: i64, second: i64) -> String {
    format!(r#"{{"id":{id},"seller":{seller},"ts":"2026-01-01 00:00:{second:02}"}}"#)
}

#[test]
fn window_joins_meet_rows_of_the_same_window() {
    let mut job = job(&format!(
        "{TWO}
         INSERT INTO joined
         SELECT P.id, P.name, A.id
         FROM (SELECT * FROM TABLE(TUMBLE(TABLE persons, DESCRIPTOR(ts), INTERVAL '10' SECOND))) P
         LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE auctions, DESCRIPTOR(ts), INTERVAL '10' SECOND))) A
         ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end;"
    ));
    push_to(
        &mut job,
        "persons",
        &[person(1, "ann", 1), person(2, "bob", 2)],
        0,
    );
    // Seller 1 in the same window, and in the next (which meets nobody).
    push_to(
        &mut job,
        "auctions",
        &[auction(100, 1, 5), auction(101, 1, 12)],
        0,
    );
    push_to(&mut job, "persons", &[person(3, "cy", 15)], 1);
    push_to(&mut job, "auctions", &[auction(102, 9, 15)], 1);
    assert_eq!(
        output(&mut job),
        [
            r#"{"id":1,"name":"ann","auction":100}"#,
            r#"{"id":2,"name":"bob","auction":null}"#,
        ]
    );
}

#[test]
fn interval_joins_meet_rows_within_the_bounds_and_forget_older_ones() {
    let mut job = job(&format!(
        "{TWO}
         INSERT INTO joined
         SELECT P.id, P.name, A.id
         FROM persons P JOIN auctions A ON P.id = A.seller
         AND A.ts BETWEEN P.ts - INTERVAL '2' SECOND AND P.ts + INTERVAL '5' SECOND;"
    ));
    push_to(&mut job, "persons", &[person(1, "ann", 10)], 0);
    push_to(
        &mut job,
        "auctions",
        &[auction(100, 1, 9), auction(101, 1, 16), auction(102, 1, 14)],
        0,
    );
    assert_eq!(
        output(&mut job),
        [
            r#"{"id":1,"name":"ann","auction":100}"#,
            r#"{"id":1,"name":"ann","auction":102}"#,
        ]
    );
    // Both watermarks pass 30 s: ann (10 s) can meet no auction after 15 s any more.
    push_to(&mut job, "persons", &[person(2, "bob", 30)], 1);
    push_to(&mut job, "auctions", &[auction(103, 2, 31)], 1);
    assert_eq!(output(&mut job), [r#"{"id":2,"name":"bob","auction":103}"#]);
    let snapshot: serde_json::Value =
        serde_json::from_slice(&job.snapshot().expect("snapshot")).expect("json");
    let kept = snapshot["operators"][0]["parts"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(kept, 2, "each side keeps only its recent batch: {snapshot}");
}

#[test]
fn regular_joins_keep_every_row() {
    let mut job = job(&format!(
        "{TWO}
         INSERT INTO joined
         SELECT P.id, P.name, A.id FROM auctions AS A, persons AS P
         WHERE A.seller = P.id AND P.name <> 'bob';"
    ));
    push_to(
        &mut job,
        "auctions",
        &[auction(100, 1, 1), auction(101, 2, 1)],
        0,
    );
    push_to(
        &mut job,
        "persons",
        &[person(1, "ann", 50), person(2, "bob", 50)],
        1,
    );
    push_to(&mut job, "auctions", &[auction(102, 1, 59)], 2);
    assert_eq!(
        output(&mut job),
        [
            r#"{"id":1,"name":"ann","auction":100}"#,
            r#"{"id":1,"name":"ann","auction":102}"#,
        ]
    );
}

#[test]
fn windows_of_windows_and_views_chain() {
    // Nexmark q5's shape: per-window counts, the window's max count, joined on the window.
    let mut job = job(&format!(
        "{BIDS}
         CREATE VIEW counts AS
           SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
           FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
           GROUP BY auction, window_start, window_end;
         INSERT INTO out
         SELECT C.auction, C.num, C.starttime, C.endtime FROM counts C
         JOIN (SELECT MAX(num) AS maxn, starttime, endtime FROM counts GROUP BY starttime, endtime) M
         ON C.starttime = M.starttime AND C.endtime = M.endtime AND C.num >= M.maxn;"
    ));
    push(
        &mut job,
        0,
        &[
            bid(1, 1, 1, 0),
            bid(2, 1, 2, 0),
            bid(2, 1, 3, 0),
            bid(3, 1, 4, 0),
        ],
        0,
    );
    job.finish(0, 1).expect("ends");
    assert_eq!(
        output(&mut job),
        [r#"{"a":2,"b":2,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#]
    );
}

#[test]
fn snapshots_carry_open_windows_and_watermarks_into_a_new_job() {
    let code = format!(
        "{BIDS}
         INSERT INTO out
         SELECT auction, SUM(price), window_start, window_end
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY auction, window_start, window_end;"
    );
    let mut first = job(&code);
    push(&mut first, 0, &[bid(1, 5, 1, 0), bid(1, 6, 2, 0)], 0);
    let snapshot = first.snapshot().expect("snapshot");
    // The first job goes on after its snapshot and gives the same answer as the second.
    push(&mut first, 0, &[bid(1, 7, 3, 0)], 1);
    first.finish(0, 2).expect("ends");
    let mut second = job(&code);
    let report = second.restore(&snapshot, 1).expect("restores");
    assert!(report.unmatched.is_empty());
    push(&mut second, 0, &[bid(1, 7, 3, 0)], 1);
    second.finish(0, 2).expect("ends");
    let expected = [r#"{"a":1,"b":18,"c":"2026-01-01 00:00:00","d":"2026-01-01 00:00:10"}"#];
    assert_eq!(output(&mut first), expected);
    assert_eq!(output(&mut second), expected);
    // A job with other operators cannot place the state.
    let mut other = job(&format!(
        "{BIDS}
         INSERT INTO out SELECT auction, price, ts AS c, ts AS d FROM bids;"
    ));
    let report = other.restore(&snapshot, 1).expect("restores");
    assert_eq!(report.unmatched.len(), 1);
}

#[test]
fn computed_and_metadata_columns_and_properties() {
    let code = "CREATE TABLE src (
        v BIGINT,
        doubled AS v * ${app.factor},
        arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
        shard STRING METADATA FROM 'shard-id' VIRTUAL
    ) WITH ('connector' = 'kinesis', 'stream' = 's', 'format' = 'json');
    CREATE TABLE dst (v BIGINT, d BIGINT, arrival TIMESTAMP(3), shard STRING)
      WITH ('connector' = 'kinesis', 'stream' = 'd', 'format' = 'csv');
    INSERT INTO dst SELECT v, doubled, CAST(arrival AS TIMESTAMP(3)), shard FROM src WHERE v > 1;";
    let mut properties = BTreeMap::new();
    properties.insert(
        "app".to_string(),
        BTreeMap::from([("factor".to_string(), "3".to_string())]),
    );
    let mut job = FlinkJob::compile(code, &properties).expect("compiles");
    push(
        &mut job,
        0,
        &[r#"{"v":1}"#.to_string(), r#"{"v":2}"#.to_string()],
        1_767_225_600_250,
    );
    assert_eq!(
        output(&mut job),
        ["2,6,2026-01-01 00:00:00.250,shardId-000000000000"]
    );
    let missing = FlinkJob::compile(code, &BTreeMap::new())
        .err()
        .map(|e| e.to_string());
    assert!(missing.is_some_and(|m| m.contains("${app.factor}")));
}

#[test]
fn datagen_rows_come_at_their_rate_and_a_bounded_source_ends() {
    let mut job = job(
        "CREATE TABLE g (id BIGINT, v INT) WITH ('connector' = 'datagen', 'rows-per-second' = '100',
           'number-of-rows' = '150', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
           'fields.id.end' = '1000', 'fields.v.min' = '1', 'fields.v.max' = '5');
         CREATE TABLE o (id BIGINT, v INT) WITH ('connector' = 'kinesis', 'stream' = 'o', 'format' = 'json');
         CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO o SELECT id, v FROM g WHERE id <= 2;
         INSERT INTO b SELECT id FROM g;",
    );
    job.advance(0).expect("advances");
    assert!(!job.finished());
    job.advance(5_000).expect("advances");
    assert!(job.finished());
    assert_eq!(job.metrics().records_in, 150);
    assert_eq!(job.metrics().records_out, 152);
    let rows = output(&mut job);
    assert_eq!(rows.len(), 2);
    assert!(rows[0].starts_with(r#"{"id":1,"v":"#), "{rows:?}");
}

#[test]
fn statement_sets_write_several_sinks() {
    let mut job = job(&format!(
        "{BIDS}
         CREATE TABLE cheap (auction BIGINT) WITH ('connector' = 'kinesis', 'stream' = 'c', 'format' = 'json');
         EXECUTE STATEMENT SET BEGIN
           INSERT INTO cheap SELECT auction FROM bids WHERE price < 5;
           INSERT INTO out SELECT auction, price, ts AS c, ts AS d FROM bids WHERE price >= 5;
         END;"
    ));
    assert_eq!(job.sinks().len(), 2);
    push(&mut job, 0, &[bid(1, 1, 1, 0), bid(2, 9, 1, 0)], 0);
    let outputs = job.take_outputs();
    assert_eq!(outputs[0].len(), 1);
    assert_eq!(outputs[1].len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&outputs[0][0].data),
        r#"{"auction":1}"#
    );
}

#[test]
fn what_cannot_run_is_refused_with_flinks_reasons() {
    let refuse = |code: &str| -> String {
        match FlinkJob::compile(code, &BTreeMap::new()) {
            Ok(_) => panic!("compiled: {code}"),
            Err(e) => e.to_string(),
        }
    };
    let e = refuse(&format!(
        "{BIDS}\nINSERT INTO out SELECT auction, COUNT(*), MAX(ts) AS c, MIN(ts) AS d FROM bids GROUP BY auction;"
    ));
    assert!(e.contains("updating result"), "{e}");
    let e = refuse(&format!("{BIDS}\nINSERT INTO nowhere SELECT * FROM bids;"));
    assert!(e.contains("Object 'nowhere' not found"), "{e}");
    let e = refuse(&format!(
        "{BIDS}\nINSERT INTO out SELECT auction FROM bids;"
    ));
    assert!(e.contains("Different number of columns"), "{e}");
    let e = refuse(&format!(
        "{BIDS}\nINSERT INTO out SELECT COUNT(*), 1, window_start, window_end FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(auction), INTERVAL '1' SECOND)) GROUP BY window_start, window_end;"
    ));
    assert!(e.contains("time attribute"), "{e}");
    let e = refuse(&format!(
        "{BIDS}\nINSERT INTO out SELECT COUNT(*), 1, window_start, window_end FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '3' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end;"
    ));
    assert!(e.contains("integral multiple of slide"), "{e}");
    let e = refuse("CREATE TABLE t (a INT) WITH ('connector' = 'kafka');\nINSERT INTO t SELECT 1;");
    assert!(e.contains("line 1") && e.contains("'kafka'"), "{e}");
    let e = refuse(BIDS);
    assert!(e.contains("No operators"), "{e}");
    let e = refuse(&format!(
        "{BIDS}\nCREATE TABLE bh (a BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO bh SELECT a FROM bh;"
    ));
    assert!(e.contains("can only be used as a sink"), "{e}");
}

/// Nexmark's queries as Flink's benchmark writes them, over the generator's events: each
/// compiles, runs, and q0 passes every bid; q4 (an updating aggregate) is refused with why.
#[test]
fn nexmark_queries_run_as_written() {
    use freshet_nexmark::{Event, Generator, GeneratorConfig, sql};
    let events: Vec<Event> = Generator::new(GeneratorConfig::default(), 0, 20_000).collect();
    let bids = events.iter().filter(|e| e.event_type() == 2).count() as u64;
    let records: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            e.write_json(&mut out);
            out
        })
        .collect();
    for query in sql::QUERIES {
        let mut code =
            sql::nexmark_ddl("'connector' = 'kinesis', 'stream' = 'n', 'format' = 'json'");
        code.push_str(";\n");
        for view in sql::NEXMARK_VIEWS {
            code.push_str(view);
            code.push_str(";\n");
        }
        code.push_str(&query.sink_ddl("'connector' = 'blackhole'"));
        code.push_str(";\n");
        code.push_str(&query.insert());
        let compiled = FlinkJob::compile(&code, &BTreeMap::new());
        if query.name == "q4" {
            let e = compiled.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("updating result"), "q4: {e}");
            continue;
        }
        let mut job = compiled.unwrap_or_else(|e| panic!("{}: {e}", query.name));
        for chunk in records.chunks(1_000) {
            let batch: Vec<SourceRecord<'_>> = chunk
                .iter()
                .map(|data| SourceRecord {
                    data,
                    arrival_ms: 0,
                    partition_key: "",
                    sequence_number: "",
                })
                .collect();
            job.push(0, "shardId-000000000000", &batch, 0)
                .expect("pushes");
        }
        job.finish(0, 1).expect("ends");
        let metrics = job.metrics();
        assert_eq!(metrics.parse_failures, 0, "{}", query.name);
        assert_eq!(metrics.failed_batches, 0, "{}", query.name);
        match query.name {
            "q0" | "q1" => assert_eq!(metrics.records_out, bids, "{}", query.name),
            "q2" => assert!(metrics.records_out > 0 && metrics.records_out < bids / 50),
            _ => assert!(metrics.records_out > 0, "{} wrote nothing", query.name),
        }
    }
}

#[test]
fn over_windows_run_in_time_order_once_the_watermark_passes() {
    let mut job = job(&format!(
        "{BIDS}
         INSERT INTO out
         SELECT auction, SUM(price) OVER w, ts AS c,
                CAST(COUNT(*) OVER (PARTITION BY auction ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS TIMESTAMP(3)) AS d
         FROM bids
         WINDOW w AS (PARTITION BY auction ORDER BY ts RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW);"
    ));
    // Out of order; two rows at 3 s are peers in the RANGE window.
    push(
        &mut job,
        0,
        &[
            bid(1, 10, 3, 0),
            bid(1, 1, 1, 0),
            bid(1, 100, 3, 0),
            bid(1, 1000, 6, 0),
        ],
        0,
    );
    // The watermark (5 s) releases the rows up to 5 s, in time order.
    let sums: Vec<(i64, String)> = output(&mut job)
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r).expect("json");
            (
                v["b"].as_i64().unwrap_or(-1),
                v["c"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        sums,
        [
            (1, "2026-01-01 00:00:01".to_string()),
            (111, "2026-01-01 00:00:03".to_string()),
            (111, "2026-01-01 00:00:03".to_string()),
        ]
    );
    job.finish(0, 1).expect("ends");
    // 6 s: the window [4 s, 6 s] holds only itself.
    let last: serde_json::Value = serde_json::from_str(&output(&mut job)[0]).expect("json");
    assert_eq!(last["b"], 1000);
    let e = FlinkJob::compile(
        &format!("{BIDS}\nINSERT INTO out SELECT auction, SUM(price) OVER (PARTITION BY auction ORDER BY price), ts, ts AS d FROM bids;"),
        &BTreeMap::new(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("time attribute"), "{e}");
}
