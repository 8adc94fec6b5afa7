"""Flink SQL applications (kinesisanalyticsv2, FLINK-* runtimes) running end to end: records put
into Freshet streams go through the application's Flink SQL and come out of its sink streams,
driven only through boto3. Event-time windows give exact rows (the records carry their times);
a snapshot taken by StopApplication carries an open window and the read positions into the
next run."""

from __future__ import annotations

import json
import time

import pytest

from firehose_helpers import MotoS3, wait_until

ROLE = "arn:aws:iam::000000000000:role/flink"


class FlinkApp:
    """Streams by name, one Flink SQL application over them, and reading their records."""

    def __init__(self, server, name_factory, streams):
        self.kinesis = server.client()
        self.ka2 = server.client(service="kinesisanalyticsv2")
        self.streams = {s: name_factory(s) for s in streams}
        for name in self.streams.values():
            self.kinesis.create_stream(StreamName=name, ShardCount=1)
        for name in self.streams.values():
            self.kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.05})
        self.name = name_factory("flink")
        self.iterators = {}

    def create(self, sql, **configuration):
        for key, name in self.streams.items():
            sql = sql.replace("{" + key + "}", name)
        self.ka2.create_application(
            ApplicationName=self.name,
            RuntimeEnvironment="FLINK-1_20",
            ServiceExecutionRole=ROLE,
            ApplicationConfiguration={
                "ApplicationCodeConfiguration": {
                    "CodeContentType": "PLAINTEXT",
                    "CodeContent": {"TextContent": sql},
                },
                **configuration,
            },
        )

    def delete(self):
        """Stops (forced) and deletes the application, before its streams go."""
        try:
            if self.status() != "READY":
                self.ka2.stop_application(ApplicationName=self.name, Force=True)
                wait_until(lambda: self.status() == "READY", timeout=30)
            created = self.ka2.describe_application(ApplicationName=self.name)["ApplicationDetail"]["CreateTimestamp"]
            self.ka2.delete_application(ApplicationName=self.name, CreateTimestamp=created)
        except self.ka2.exceptions.ResourceNotFoundException:
            pass

    def status(self):
        return self.ka2.describe_application(ApplicationName=self.name)["ApplicationDetail"]["ApplicationStatus"]

    def start(self, **run):
        self.ka2.start_application(ApplicationName=self.name, **run)
        wait_until(lambda: self.status() == "RUNNING", timeout=30)

    def stop(self):
        self.ka2.stop_application(ApplicationName=self.name)
        wait_until(lambda: self.status() == "READY", timeout=30)

    def put(self, stream, rows):
        self.kinesis.put_records(
            StreamName=self.streams[stream],
            Records=[{"Data": json.dumps(r).encode(), "PartitionKey": str(i)} for i, r in enumerate(rows)],
        )

    def read(self, stream):
        """Every record of `stream` not read before, as parsed JSON."""
        if stream not in self.iterators:
            shard = self.kinesis.list_shards(StreamName=self.streams[stream])["Shards"][0]["ShardId"]
            self.iterators[stream] = self.kinesis.get_shard_iterator(
                StreamName=self.streams[stream], ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        out = self.kinesis.get_records(ShardIterator=self.iterators[stream])
        self.iterators[stream] = out["NextShardIterator"]
        return [json.loads(r["Data"]) for r in out["Records"]]

    def read_until(self, stream, count, timeout=20):
        rows = []
        deadline = time.monotonic() + timeout
        while len(rows) < count and time.monotonic() < deadline:
            rows += self.read(stream)
            if len(rows) < count:
                time.sleep(0.05)
        return rows


@pytest.fixture
def flink(server, name_factory):
    """Makes FlinkApp pipelines; their applications are deleted after the test."""
    made = []

    def make(streams):
        app = FlinkApp(server, name_factory, streams)
        made.append(app)
        return app

    yield make
    for app in made:
        app.delete()


def at(second, ms=0):
    return f"2026-01-01 00:{second // 60:02}:{second % 60:02}.{ms:03}"


SOURCE = """
CREATE TABLE bids (
    auction BIGINT,
    price BIGINT,
    ts TIMESTAMP(3),
    arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'kinesis', 'stream.arn' = 'arn:aws:kinesis:us-east-1:000000000000:stream/{in}',
        'aws.region' = 'us-east-1', 'source.init.position' = 'TRIM_HORIZON', 'format' = 'json');
CREATE TABLE windows (
    kind STRING, auction BIGINT, n BIGINT, total BIGINT, wstart TIMESTAMP(3), wend TIMESTAMP(3)
) PARTITIONED BY (auction)
  WITH ('connector' = 'kinesis', 'stream' = '{out}', 'aws.region' = 'us-east-1', 'format' = 'json');
"""

WINDOWS = SOURCE + """
EXECUTE STATEMENT SET BEGIN
INSERT INTO windows
SELECT 'tumble', auction, COUNT(*), SUM(price), window_start, window_end
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
INSERT INTO windows
SELECT 'hop', auction, COUNT(*), SUM(price), window_start, window_end
FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
INSERT INTO windows
SELECT 'session', auction, COUNT(*), SUM(price), window_start, window_end
FROM TABLE(SESSION(TABLE bids PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '3' SECOND))
GROUP BY auction, window_start, window_end;
END;
"""


def key(row):
    return (row["kind"], row["wstart"], row["auction"])


def test_event_time_windows_from_a_stream_to_a_stream(flink):
    app = flink(["in", "out"])
    app.create(WINDOWS)
    app.start()
    # Out of order within the watermark's second; auction 2's rows at 2 s and 9 s are two sessions.
    app.put("in", [
        {"auction": 1, "price": 10, "ts": at(1)},
        {"auction": 2, "price": 5, "ts": at(2)},
        {"auction": 1, "price": 20, "ts": at(6)},
        {"auction": 1, "price": 30, "ts": at(4, 500)},
        {"auction": 2, "price": 7, "ts": at(9)},
    ])
    # Moves the watermark to 29 s: every window and session above ends before it.
    app.put("in", [{"auction": 9, "price": 0, "ts": at(30)}])
    expected = [
        ("tumble", 1, 3, 60, at(0), at(10)),
        ("tumble", 2, 2, 12, at(0), at(10)),
        ("hop", 1, 2, 40, "2025-12-31 23:59:55", at(5)),
        ("hop", 1, 3, 60, at(0), at(10)),
        ("hop", 1, 1, 20, at(5), at(15)),
        ("hop", 2, 1, 5, "2025-12-31 23:59:55", at(5)),
        ("hop", 2, 2, 12, at(0), at(10)),
        ("hop", 2, 1, 7, at(5), at(15)),
        # 1 s and 4.5 s are 3.5 s apart: two sessions.
        ("session", 1, 1, 10, at(1), at(4)),
        ("session", 1, 2, 50, at(4, 500), at(9)),
        ("session", 2, 1, 5, at(2), at(5)),
        ("session", 2, 1, 7, at(9), at(12)),
    ]
    rows = app.read_until("out", len(expected))
    time.sleep(0.3)
    rows += app.read("out")
    got = sorted(
        (r["kind"], r["auction"], r["n"], r["total"], r["wstart"], r["wend"]) for r in rows
    )
    # Flink's JSON writes a timestamp without fraction when it has none.
    want = sorted((k, a, n, t, s.removesuffix(".000"), e.removesuffix(".000")) for k, a, n, t, s, e in expected)
    assert got == want
    detail = app.ka2.describe_application(ApplicationName=app.name)["ApplicationDetail"]
    assert detail["RuntimeEnvironment"] == "FLINK-1_20"


JOIN = """
CREATE TABLE persons (id BIGINT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kinesis', 'stream' = '{persons}', 'source.init.position' = 'TRIM_HORIZON', 'format' = 'json');
CREATE TABLE auctions (id BIGINT, seller BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kinesis', 'stream' = '{auctions}', 'source.init.position' = 'TRIM_HORIZON', 'format' = 'json');
CREATE TABLE joined (kind STRING, person BIGINT, name STRING, auction BIGINT)
  WITH ('connector' = 'kinesis', 'stream' = '{out}', 'format' = 'json');
EXECUTE STATEMENT SET BEGIN
INSERT INTO joined
SELECT 'interval', P.id, P.name, A.id FROM persons P JOIN auctions A
ON P.id = A.seller AND A.ts BETWEEN P.ts AND P.ts + INTERVAL '5' SECOND;
INSERT INTO joined
SELECT 'window', P.id, P.name, A.id
FROM (SELECT * FROM TABLE(TUMBLE(TABLE persons, DESCRIPTOR(ts), INTERVAL '10' SECOND))) P
LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE auctions, DESCRIPTOR(ts), INTERVAL '10' SECOND))) A
ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end;
END;
"""


def test_interval_and_window_joins_of_two_streams(flink):
    app = flink(["persons", "auctions", "out"])
    app.create(JOIN)
    app.start()
    app.put("persons", [{"id": 1, "name": "ann", "ts": at(1)}, {"id": 2, "name": "bob", "ts": at(2)}])
    # Auction 100 is 3 s after ann (both joins), 101 is 9 s after (window join only).
    app.put("auctions", [{"id": 100, "seller": 1, "ts": at(4)}, {"id": 101, "seller": 1, "ts": at(9, 500)}])
    # Both watermarks past 10 s: the window [0, 10) joins.
    app.put("persons", [{"id": 3, "name": "cy", "ts": at(20)}])
    app.put("auctions", [{"id": 102, "seller": 7, "ts": at(20)}])
    expected = sorted([
        ("interval", 1, "ann", 100),
        ("window", 1, "ann", 100),
        ("window", 1, "ann", 101),
        ("window", 2, "bob", None),
    ])
    rows = app.read_until("out", len(expected))
    time.sleep(0.3)
    rows += app.read("out")
    assert sorted((r["kind"], r["person"], r["name"], r["auction"]) for r in rows) == expected


def test_a_stop_snapshot_carries_open_windows_and_positions_into_the_next_run(flink):
    app = flink(["in", "out"])
    app.create(
        SOURCE + """
INSERT INTO windows
SELECT 'tumble', auction, COUNT(*), SUM(price), window_start, window_end
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;""",
        ApplicationSnapshotConfiguration={"SnapshotsEnabled": True},
    )
    app.start()
    app.put("in", [{"auction": 1, "price": p, "ts": at(p)} for p in (1, 2, 3)])
    # The window [0, 10) is open at the stop (its snapshot holds the rows read by then, and the
    # positions after them: the rest is read after the restore either way).
    app.stop()
    snapshots = app.ka2.list_application_snapshots(ApplicationName=app.name)["SnapshotSummaries"]
    assert len(snapshots) == 1
    # Put while stopped: read after the restore, from the snapshot's positions.
    app.put("in", [{"auction": 1, "price": p, "ts": at(p)} for p in (4, 5)])
    app.start(RunConfiguration={"ApplicationRestoreConfiguration": {
        "ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"}})
    app.put("in", [{"auction": 1, "price": 6, "ts": at(6)}, {"auction": 9, "price": 0, "ts": at(30)}])
    rows = app.read_until("out", 1)
    time.sleep(0.5)
    rows += app.read("out")
    # One row for the window, with every record once: none lost across the stop, none twice.
    assert [(r["auction"], r["n"], r["total"]) for r in rows] == [(1, 6, 21)]

    # Without the snapshot (SKIP): the window starts empty and the table's TRIM_HORIZON rereads.
    app.stop()
    app.start(RunConfiguration={"ApplicationRestoreConfiguration": {
        "ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}})
    rows = app.read_until("out", 1)
    assert [(r["auction"], r["n"], r["total"]) for r in rows] == [(1, 6, 21)]


LOOKUP = """
CREATE TABLE orders (id BIGINT, product STRING, qty INT, proc_time AS PROCTIME())
  WITH ('connector' = 'kinesis', 'stream' = '{orders}', 'source.init.position' = 'TRIM_HORIZON', 'format' = 'json');
CREATE TABLE products (product STRING, name STRING, price DOUBLE)
  WITH ('connector' = 'filesystem', 'path' = 's3://dims/products/', 'format' = 'csv');
CREATE TABLE enriched (id BIGINT, name STRING, amount DOUBLE)
  WITH ('connector' = 'kinesis', 'stream' = '{out}', 'format' = 'json');
INSERT INTO enriched
SELECT o.id, p.name, o.qty * p.price
FROM orders AS o
LEFT JOIN products FOR SYSTEM_TIME AS OF o.proc_time AS p ON o.product = p.product;
"""


def test_a_lookup_join_enriches_a_stream_with_a_csv_table_from_s3(server_factory, name_factory, tmp_path):
    """The table is every object under the path in the S3 server Freshet delivers to (here
    moto_server), in key order, hidden ones (`_SUCCESS`) left out; it is read when the run
    starts, and each order meets it as it comes."""
    moto = MotoS3(tmp_path)
    app = None
    try:
        moto.s3.create_bucket(Bucket="dims")
        moto.s3.put_object(Bucket="dims", Key="products/part-0.csv", Body=b"p1,apple,0.5\np2,pear,2.25\n")
        moto.s3.put_object(Bucket="dims", Key="products/part-1.csv", Body=b"p4,plum,1\n")
        moto.s3.put_object(Bucket="dims", Key="products/_SUCCESS", Body=b"p9,hidden,9\n")
        srv = server_factory(env={"FRESHET_FIREHOSE__S3__ENDPOINT": moto.endpoint,
                                  "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
                                  "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing"})
        app = FlinkApp(srv, name_factory, ["orders", "out"])
        # Freshet reads its S3 store only, never its host's files: refused when the code is given.
        with pytest.raises(app.ka2.exceptions.CodeValidationException, match="s3://bucket/key"):
            app.create(LOOKUP.replace("s3://dims/products/", "file:///etc/"))
        app.create(LOOKUP)
        app.start()
        app.put("orders", [
            {"id": 1, "product": "p2", "qty": 2},
            {"id": 2, "product": "p3", "qty": 1},
            {"id": 3, "product": "p4", "qty": 3},
            {"id": 4, "product": "p9", "qty": 1},
        ])
        rows = app.read_until("out", 4)
        time.sleep(0.3)
        rows += app.read("out")
        assert sorted(rows, key=lambda r: r["id"]) == [
            {"id": 1, "name": "pear", "amount": 4.5},
            {"id": 2, "name": None, "amount": None},
            {"id": 3, "name": "plum", "amount": 3.0},
            {"id": 4, "name": None, "amount": None},
        ]
    finally:
        if app is not None:
            app.delete()
        moto.close()
