"""Analytics applications running end to end: records put into a Kinesis stream go through the
application's SQL and come out of its output streams, driven only through boto3 and the AWS
CLI (`kinesisanalytics` and `kinesisanalyticsv2`). Queries on processing-time windows are
checked with invariants that hold however the windows split (every input row counted once);
stateless queries with exact rows."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from analytics_helpers import ApplicationDriver
from firehose_helpers import wait_until

ROLE = "arn:aws:iam::000000000000:role/kda"

TICKER_SCHEMA = {
    "RecordColumns": [
        {"Name": "TICKER_SYMBOL", "SqlType": "VARCHAR(4)", "Mapping": "$.TICKER_SYMBOL"},
        {"Name": "SECTOR", "SqlType": "VARCHAR(16)", "Mapping": "$.SECTOR"},
        {"Name": "CHANGE", "SqlType": "REAL", "Mapping": "$.CHANGE"},
        {"Name": "PRICE", "SqlType": "REAL", "Mapping": "$.PRICE"},
    ],
    "RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
    "RecordEncoding": "UTF-8",
}

FILTER = """
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), sector VARCHAR(12), change DOUBLE, price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, sector, change, price
    FROM   "SOURCE_SQL_STREAM_001"
    WHERE  sector SIMILAR TO '%TECH%';
"""

TUMBLING = """
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), ticker_count INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, COUNT(*) AS ticker_count
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ticker_symbol, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);
"""


def tick(ticker, sector, change, price):
    return json.dumps({"TICKER_SYMBOL": ticker, "SECTOR": sector, "CHANGE": change, "PRICE": price}).encode()


class Pipeline(ApplicationDriver):
    """An input stream, output streams and the clients to drive one application."""

    def __init__(self, server, name_factory, outputs=("out",)):
        self.kinesis = server.client()
        self.kda = server.client(service="kinesisanalytics")
        self.kda2 = server.client(service="kinesisanalyticsv2")
        self.input = name_factory("in")
        self.kinesis.create_stream(StreamName=self.input, ShardCount=2)
        self.outputs = {}
        for out in outputs:
            name = name_factory(out)
            self.kinesis.create_stream(StreamName=name, ShardCount=1)
            self.outputs[out] = name
        for name in [self.input, *self.outputs.values()]:
            self.kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.05})
        self.app = name_factory("app")
        self.read_positions = {}

    def arn(self, stream):
        return self.kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]

    def input_config(self, schema=TICKER_SCHEMA, parallelism=1, v2=False):
        # v2 takes the application's ServiceExecutionRole instead of a role per input/output.
        role = {} if v2 else {"RoleARN": ROLE}
        return {
            "NamePrefix": "SOURCE_SQL_STREAM",
            "KinesisStreamsInput": {"ResourceARN": self.arn(self.input), **role},
            "InputParallelism": {"Count": parallelism},
            "InputSchema": schema,
        }

    def output_config(self, in_app, out="out", fmt="JSON", v2=False):
        role = {} if v2 else {"RoleARN": ROLE}
        return {
            "Name": in_app,
            "KinesisStreamsOutput": {"ResourceARN": self.arn(self.outputs[out]), **role},
            "DestinationSchema": {"RecordFormatType": fmt},
        }

    def create(self, code, outputs=None, **extra):
        self.kda.create_application(
            ApplicationName=self.app,
            ApplicationCode=code,
            Inputs=[self.input_config(**extra)],
            Outputs=outputs if outputs is not None else [self.output_config("DESTINATION_SQL_STREAM")],
        )

    def put(self, records):
        for i in range(0, len(records), 500):
            chunk = records[i : i + 500]
            out = self.kinesis.put_records(
                StreamName=self.input, Records=[{"Data": r, "PartitionKey": f"k{i + j}"} for j, r in enumerate(chunk)]
            )
            assert out["FailedRecordCount"] == 0

    def read(self, out="out"):
        """Every record of an output stream so far, in shard order."""
        stream = self.outputs[out]
        records = []
        for shard in self.kinesis.list_shards(StreamName=stream)["Shards"]:
            it = self.kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while it:
                got = self.kinesis.get_records(ShardIterator=it, Limit=10000)
                records.extend(r["Data"] for r in got["Records"])
                if not got["Records"] or got.get("MillisBehindLatest", 0) == 0:
                    break
                it = got["NextShardIterator"]
        return records

    def rows(self, out="out"):
        return [json.loads(r) for r in self.read(out)]

    def wait_rows(self, count, out="out", timeout=30):
        return wait_until(lambda: (rows := self.rows(out)) and len(rows) >= count and rows, timeout=timeout,
                          what=f"{count} output rows in {out}")


@pytest.fixture
def pipeline(server, name_factory):
    return lambda **kw: Pipeline(server, name_factory, **kw)


def test_the_getting_started_filter_writes_exactly_the_matching_rows(pipeline, server):
    """The AWS getting-started application (stock ticker filter): exact rows out, counted in
    the application's CloudWatch metrics."""
    p = pipeline()
    p.create(FILTER)
    p.start()
    p.put([tick("AMZN", "TECHNOLOGY", 1.5, 100.0), tick("XOM", "ENERGY", -0.5, 80.0), tick("MSFT", "TECHNOLOGY", 0.25, 300.0)])
    rows = p.wait_rows(2)
    time.sleep(0.3)
    rows = p.rows()
    assert sorted(rows, key=lambda r: r["TICKER_SYMBOL"]) == [
        {"TICKER_SYMBOL": "AMZN", "SECTOR": "TECHNOLOGY", "CHANGE": 1.5, "PRICE": 100.0},
        {"TICKER_SYMBOL": "MSFT", "SECTOR": "TECHNOLOGY", "CHANGE": 0.25, "PRICE": 300.0},
    ]
    metrics = urllib.request.urlopen(server.endpoint + "/metrics").read().decode()
    app = f'Application="{p.app}"'
    assert f'kinesisanalytics_Records_total{{{app},Flow="Input"}} 3\n' in metrics, metrics
    assert f'kinesisanalytics_Records_total{{{app},Flow="Output"}} 2\n' in metrics, metrics
    p.stop()


def test_tumbling_counts_per_ticker_add_up_to_the_input(pipeline):
    """Tumbling 1 s windows on ROWTIME: however the windows split the input, each key's counts
    sum to the rows put for it, and each window emits each key once."""
    p = pipeline()
    p.create(TUMBLING)
    p.start()
    sent = {"AMZN": 0, "MSFT": 0, "XOM": 0}
    for round_ in range(6):
        batch = []
        for i in range(30):
            ticker = list(sent)[(round_ + i) % 3]
            sent[ticker] += 1
            batch.append(tick(ticker, "T", 0.0, 1.0))
        p.put(batch)
        time.sleep(0.25)

    def totals():
        got = {}
        for row in p.rows():
            got[row["TICKER_SYMBOL"]] = got.get(row["TICKER_SYMBOL"], 0) + row["TICKER_COUNT"]
        return got == sent and got

    wait_until(totals, timeout=30, what="window counts adding up to the input")
    p.stop()


def test_records_that_do_not_parse_go_to_error_stream(pipeline):
    """error_stream as an output: the record's hex, the error's name, and the app keeps going."""
    p = pipeline(outputs=("out", "errors"))
    p.create(FILTER, outputs=[p.output_config("DESTINATION_SQL_STREAM"), p.output_config("error_stream", "errors")])
    p.start()
    bad = b'{"TICKER_SYMBOL":"BAD","SECTOR":"TECH","CHANGE":"lots","PRICE":1}'
    p.put([bad, tick("GOOD", "TECH", 1.0, 2.0)])
    errors = p.wait_rows(1, out="errors")
    assert errors[0]["ERROR_LEVEL"] == "ERROR"
    assert errors[0]["ERROR_NAME"] == "Coercion_Error"
    assert bytes.fromhex(errors[0]["DATA_ROW"]) == bad
    assert set(errors[0]) == {"ERROR_TIME", "ERROR_LEVEL", "ERROR_NAME", "MESSAGE", "DATA_ROWTIME", "DATA_ROW", "PUMP_NAME"}
    assert [r["TICKER_SYMBOL"] for r in p.wait_rows(1)] == ["GOOD"]
    p.stop()


def test_stop_and_start_from_the_last_stopped_point_skips_nothing(pipeline):
    """Records put while the application is stopped are processed after a start from
    LAST_STOPPED_POINT: no gap (and, for this stateless query, no duplicate either)."""
    p = pipeline()
    p.create(FILTER)
    p.start()
    p.put([tick(f"A{i:03}", "TECH", 0.0, float(i)) for i in range(50)])
    p.wait_rows(50)
    p.stop()
    p.put([tick(f"B{i:03}", "TECH", 0.0, float(i)) for i in range(50)])
    p.start("LAST_STOPPED_POINT")
    p.wait_rows(100)
    time.sleep(0.3)
    tickers = sorted(r["TICKER_SYMBOL"] for r in p.rows())
    assert tickers == sorted([f"A{i:03}" for i in range(50)] + [f"B{i:03}" for i in range(50)])
    p.stop()


def test_a_start_from_now_skips_what_was_put_before(pipeline):
    p = pipeline()
    p.create(FILTER)
    p.start()
    p.put([tick("OLD", "TECH", 0.0, 1.0)])
    p.wait_rows(1)
    p.stop()
    p.put([tick("GAP", "TECH", 0.0, 1.0)])
    p.start("NOW")
    p.put([tick("NEW", "TECH", 0.0, 1.0)])
    wait_until(lambda: "NEW" in [r["TICKER_SYMBOL"] for r in p.rows()], what="the new record")
    assert "GAP" not in [r["TICKER_SYMBOL"] for r in p.rows()]
    p.stop()


def test_trim_horizon_reads_what_was_there_before_the_start(pipeline):
    p = pipeline()
    p.put([tick(f"T{i}", "TECH", 0.0, 1.0) for i in range(5)])
    p.create(FILTER)
    p.start("TRIM_HORIZON")
    assert len(p.wait_rows(5)) == 5
    p.stop()


def test_csv_in_and_csv_out_with_input_parallelism(pipeline):
    p = pipeline()
    schema = {
        "RecordColumns": [{"Name": "K", "SqlType": "VARCHAR(8)"}, {"Name": "V", "SqlType": "INTEGER"}],
        "RecordFormat": {
            "RecordFormatType": "CSV",
            "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}},
        },
        "RecordEncoding": "UTF-8",
    }
    code = """
CREATE OR REPLACE STREAM "OUT" (k VARCHAR(8), doubled INTEGER);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "OUT" SELECT STREAM "K", "V" * 2 FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "OUT" SELECT STREAM "K", "V" * 2 FROM "SOURCE_SQL_STREAM_002";
"""
    p.create(code, outputs=[p.output_config("OUT", fmt="CSV")], schema=schema, parallelism=2)
    p.start()
    p.put([f"k{i},{i}\n".encode() for i in range(20)])
    wait_until(lambda: len(p.read()) >= 20, what="20 CSV rows")
    assert sorted(p.read()) == sorted(f"k{i},{2 * i}\n".encode() for i in range(20))
    p.stop()


def test_a_sliding_window_averages_per_ticker(pipeline):
    p = pipeline()
    code = """
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), price DOUBLE, avg_price DOUBLE, n INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, price, AVG(price) OVER W1, COUNT(*) OVER W1
    FROM "SOURCE_SQL_STREAM_001"
    WINDOW W1 AS (PARTITION BY ticker_symbol RANGE INTERVAL '1' MINUTE PRECEDING);
"""
    p.create(code)
    p.start()
    p.put([tick("A", "T", 0.0, 10.0)])
    p.wait_rows(1)
    p.put([tick("A", "T", 0.0, 20.0)])
    rows = p.wait_rows(2)
    assert rows[1] == {"TICKER_SYMBOL": "A", "PRICE": 20.0, "AVG_PRICE": 15.0, "N": 2}
    p.stop()


def test_reference_data_from_the_embedded_s3_store_enriches_rows(server, pipeline):
    """The AWS reference-data example: a LEFT JOIN with a CSV table read from S3 (here the
    embedded S3 store under the data directory)."""
    p = pipeline()
    bucket_dir = server.data_dir / "s3" / "refdata"
    bucket_dir.mkdir(parents=True, exist_ok=True)
    (bucket_dir / "companies.csv").write_bytes(b"AMZN,Amazon\nMSFT,Microsoft\n")
    code = """
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), "Company" varchar(20), price DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
   SELECT STREAM ticker_symbol, "c"."Company", price
   FROM "SOURCE_SQL_STREAM_001" LEFT JOIN "CompanyName" as "c"
   ON "SOURCE_SQL_STREAM_001".ticker_symbol = "c"."Ticker";
"""
    p.create(code)
    version = p.detail()["ApplicationVersionId"]
    p.kda.add_application_reference_data_source(
        ApplicationName=p.app,
        CurrentApplicationVersionId=version,
        ReferenceDataSource={
            "TableName": "CompanyName",
            "S3ReferenceDataSource": {"BucketARN": "arn:aws:s3:::refdata", "FileKey": "companies.csv", "ReferenceRoleARN": ROLE},
            "ReferenceSchema": {
                "RecordColumns": [{"Name": "Ticker", "SqlType": "VARCHAR(4)"}, {"Name": "Company", "SqlType": "VARCHAR(20)"}],
                "RecordFormat": {
                    "RecordFormatType": "CSV",
                    "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}},
                },
                "RecordEncoding": "UTF-8",
            },
        },
    )
    p.start()
    p.put([tick("MSFT", "TECH", 0.0, 2.0)])
    p.put([tick("XOM", "OIL", 0.0, 3.0)])
    rows = p.wait_rows(2)
    assert sorted(rows, key=lambda r: r["TICKER_SYMBOL"]) == [
        {"TICKER_SYMBOL": "MSFT", "Company": "Microsoft", "PRICE": 2.0},
        {"TICKER_SYMBOL": "XOM", "Company": None, "PRICE": 3.0},
    ]
    p.stop()


def test_code_that_does_not_compile_against_the_inputs_fails_to_start(pipeline):
    """Syntax is checked at CreateApplication; names are resolved at start: an unknown column
    leaves the application READY."""
    p = pipeline()
    p.create(FILTER.replace("sector SIMILAR", "no_such_column SIMILAR"))
    input_id = p.detail()["InputDescriptions"][0]["InputId"]
    try:
        p.kda.start_application(
            ApplicationName=p.app,
            InputConfigurations=[{"Id": input_id, "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}],
        )
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("InvalidApplicationConfigurationException", "InvalidArgumentException")
    p.wait_status("READY")


def test_v2_sql_application_runs(server, name_factory):
    """kinesisanalyticsv2 with RuntimeEnvironment SQL-1_0: the same engine."""
    p = Pipeline(server, name_factory)
    p.kda2.create_application(
        ApplicationName=p.app,
        RuntimeEnvironment="SQL-1_0",
        ServiceExecutionRole=ROLE,
        ApplicationConfiguration={
            "ApplicationCodeConfiguration": {"CodeContent": {"TextContent": FILTER}, "CodeContentType": "PLAINTEXT"},
            "SqlApplicationConfiguration": {
                "Inputs": [p.input_config(v2=True)],
                "Outputs": [p.output_config("DESTINATION_SQL_STREAM", v2=True)],
            },
        },
    )
    detail = p.kda2.describe_application(ApplicationName=p.app)["ApplicationDetail"]
    input_id = detail["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"]["InputDescriptions"][0]["InputId"]
    p.kda2.start_application(
        ApplicationName=p.app,
        RunConfiguration={"SqlRunConfigurations": [{"InputId": input_id, "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}]},
    )
    p.wait_status("RUNNING")
    p.put([tick("AMZN", "TECH", 1.0, 2.0)])
    assert p.wait_rows(1)[0]["TICKER_SYMBOL"] == "AMZN"
    p.kda2.stop_application(ApplicationName=p.app)
    p.wait_status("READY")


def test_sigkill_mid_load_loses_no_acknowledged_input(server_factory, name_factory):
    """Kill the server (SIGKILL) while records flow; after a restart the application runs again
    from its last checkpoint, and every acknowledged input record reaches the output (at least
    once, as KDA promises)."""
    srv = server_factory()
    p = Pipeline(srv, name_factory)
    p.create(FILTER)
    p.start()
    acked = []
    stop = threading.Event()

    def produce():
        client = srv.client()
        i = 0
        while not stop.is_set():
            batch = [tick(f"S{i + j:05}", "TECH", 0.0, 1.0) for j in range(20)]
            try:
                out = client.put_records(StreamName=p.input, Records=[{"Data": r, "PartitionKey": str(i)} for r in batch])
            except Exception:
                return
            acked.extend(json.loads(r)["TICKER_SYMBOL"] for r, e in zip(batch, out["Records"]) if "SequenceNumber" in e)
            i += 20
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.5)
    srv.kill()
    stop.set()
    producer.join()
    assert acked, "some puts were acknowledged before the kill"
    srv.start()
    p.kinesis = srv.client()
    p.kda = srv.client(service="kinesisanalytics")
    p.wait_status("RUNNING")
    wanted = set(acked)

    def delivered():
        got = {r["TICKER_SYMBOL"] for r in p.rows()}
        return wanted <= got

    wait_until(delivered, timeout=60, what="every acknowledged record in the output")


def test_the_aws_cli_lists_and_describes_applications(server, pipeline):
    p = pipeline()
    p.create(FILTER)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, "kinesisanalytics", "describe-application", "--application-name", p.app],
        capture_output=True, env=env, check=True, timeout=60,
    )
    detail = json.loads(out.stdout)["ApplicationDetail"]
    assert detail["ApplicationName"] == p.app
    assert detail["ApplicationStatus"] == "READY"


def counts_add_up(p, sent, count_column):
    def totals():
        got = {}
        for row in p.rows():
            got[row["TICKER_SYMBOL"]] = got.get(row["TICKER_SYMBOL"], 0) + row[count_column]
        return got == sent and got

    wait_until(totals, timeout=30, what="window counts adding up to the input")


def put_rounds(p, sent, rounds=6):
    for round_ in range(rounds):
        batch = []
        for i in range(30):
            ticker = list(sent)[(round_ + i) % len(sent)]
            sent[ticker] += 1
            batch.append(tick(ticker, "T", 0.0, 1.0))
        p.put(batch)
        time.sleep(0.25)


def test_stagger_windows_count_each_row_once_per_key(pipeline):
    """The AWS stagger-window example's shape: a window per key opens with its first row and
    closes a second later; however they split, the counts per key add up to the input."""
    p = pipeline()
    p.create("""
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), ticker_count INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, COUNT(*) AS ticker_count
    FROM "SOURCE_SQL_STREAM_001"
    WINDOWED BY STAGGER (PARTITION BY ticker_symbol RANGE INTERVAL '1' SECOND);
""")
    p.start()
    sent = {"AMZN": 0, "MSFT": 0, "XOM": 0}
    put_rounds(p, sent)
    counts_add_up(p, sent, "TICKER_COUNT")
    p.stop()


def test_top_k_items_tumbling_ranks_each_windows_values(pipeline):
    """TOP_K_ITEMS_TUMBLING over a CURSOR, through boto3: with K above the number of values,
    every row is counted once in some window (the ranking is checked by the engine's tests)."""
    p = pipeline()
    p.create("""
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("TICKER_SYMBOL" VARCHAR(4), "MOST_FREQUENT_VALUES" BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM * FROM TABLE (TOP_K_ITEMS_TUMBLING(
        CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'TICKER_SYMBOL', 10, 1));
""")
    p.start()
    sent = {"AMZN": 0, "MSFT": 0, "XOM": 0}
    for _ in range(3):
        batch = [tick("AMZN", "T", 0.0, 1.0)] * 6 + [tick("MSFT", "T", 0.0, 1.0)] * 3 + [tick("XOM", "T", 0.0, 1.0)]
        sent["AMZN"] += 6
        sent["MSFT"] += 3
        sent["XOM"] += 1
        p.put(batch)
        time.sleep(0.4)
    counts_add_up(p, sent, "MOST_FREQUENT_VALUES")
    p.stop()


def test_random_cut_forest_scores_an_outlier_above_the_normal_rows(pipeline):
    """The AWS anomaly-detection example: RANDOM_CUT_FOREST over every numeric column of the
    cursor; the first subSampleSize rows score 0 while the forest learns, and a price far off
    the normal range then scores above every normal row."""
    p = pipeline()
    p.create("""
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), price DOUBLE, anomaly_score DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM "TICKER_SYMBOL", "PRICE", ANOMALY_SCORE
    FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 50, 64, 100000, 1));
""")
    p.start()
    normal = [tick("N", "T", 0.0, 100.0 + (i * 7) % 11) for i in range(300)]
    p.put(normal)
    p.wait_rows(300)
    p.put([tick("X", "T", 0.0, 900.0)])
    rows = p.wait_rows(301)
    assert [r["ANOMALY_SCORE"] for r in rows[:64]] == [0.0] * 64
    outlier = rows[300]
    assert outlier["TICKER_SYMBOL"] == "X" and outlier["PRICE"] == 900.0
    learned = [r["ANOMALY_SCORE"] for r in rows[64:300]]
    assert outlier["ANOMALY_SCORE"] > 2 * max(learned[-100:]), (outlier, max(learned[-100:]))
    p.stop()


def test_a_stream_joins_another_within_a_window_and_union_all_merges(pipeline):
    """Two in-application streams split from the input, joined over a one-minute window on the
    trades side (the AWS orders/trades example's shape), next to a UNION ALL of both."""
    p = pipeline(outputs=("out", "all"))
    p.create("""
CREATE OR REPLACE STREAM "ORDERS" (ticker VARCHAR(4), amount DOUBLE);
CREATE OR REPLACE STREAM "TRADES" (ticker VARCHAR(4), price DOUBLE);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "ORDERS"
    SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'ORDER';
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "TRADES"
    SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE sector = 'TRADE';
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), order_amount DOUBLE, trade_price DOUBLE);
CREATE OR REPLACE PUMP "P3" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM o.ticker, o.amount, t.price
    FROM "ORDERS" AS o JOIN "TRADES" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS t
    ON o.ticker = t.ticker;
CREATE OR REPLACE STREAM "ALL_ROWS" (ticker VARCHAR(4), kind VARCHAR(8));
CREATE OR REPLACE PUMP "P4" AS INSERT INTO "ALL_ROWS"
    SELECT STREAM ticker, 'ORDER' FROM "ORDERS" UNION ALL SELECT STREAM ticker, 'TRADE' FROM "TRADES";
""", outputs=[p.output_config("DESTINATION_SQL_STREAM"), p.output_config("ALL_ROWS", "all")])
    p.start()
    p.put([tick("AMZN", "TRADE", 0.0, 10.0), tick("MSFT", "TRADE", 0.0, 20.0)])
    p.wait_rows(2, out="all")
    p.put([tick("AMZN", "ORDER", 0.0, 5.0), tick("IBM", "ORDER", 0.0, 7.0)])
    rows = p.wait_rows(1)
    assert rows == [{"TICKER": "AMZN", "ORDER_AMOUNT": 5.0, "TRADE_PRICE": 10.0}]
    merged = p.wait_rows(4, out="all")
    assert sorted((r["TICKER"], r["KIND"]) for r in merged) == [
        ("AMZN", "ORDER"), ("AMZN", "TRADE"), ("IBM", "ORDER"), ("MSFT", "TRADE"),
    ]
    time.sleep(0.3)
    assert len(p.rows()) == 1
    p.stop()


def test_a_stop_before_any_read_resumes_where_the_now_start_was(pipeline):
    """An application started at NOW that read nothing before it was stopped has still read up
    to its start: a start from LAST_STOPPED_POINT processes every record put while it was
    stopped (its shards' NOW positions are checkpointed when it starts, not at its first read)."""
    p = pipeline()
    p.create(FILTER)
    p.start("NOW")
    p.stop()
    p.put([tick(f"S{i:03}", "TECH", 0.0, float(i)) for i in range(20)])
    p.start("LAST_STOPPED_POINT")
    p.wait_rows(20)
    time.sleep(0.3)
    assert sorted(r["TICKER_SYMBOL"] for r in p.rows()) == [f"S{i:03}" for i in range(20)]
    p.stop()
