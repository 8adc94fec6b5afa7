"""Analytics applications whose streaming source is a Firehose delivery stream
(`KinesisFirehoseInput`), driven only through boto3: records put with PutRecordBatch reach the
application's SQL (and its Kinesis output stream) as well as the delivery stream's S3
destination, and an application resumes where it stopped, also across a SIGKILL, with nothing
skipped while the delivery goes on. (That the delivery does not trim what a stopped
application still needs is checked in freshet-firehose's `reader` tests: the firehose log's
128 MiB segments are not configurable, so no end-to-end test reaches a trim.)"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from analytics_helpers import ApplicationDriver
from firehose_helpers import local_objects, wait_until

ROLE = "arn:aws:iam::000000000000:role/kda"
ACCOUNT = "000000000000"

SCHEMA = {
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


def tick(ticker, sector="TECH", change=0.0, price=1.0, **extra):
    return json.dumps({"TICKER_SYMBOL": ticker, "SECTOR": sector, "CHANGE": change, "PRICE": price, **extra}).encode()


def records_of(blob: bytes) -> list[dict]:
    """The JSON records S3 objects hold back to back (Firehose adds no separator)."""
    decoder, out, text, i = json.JSONDecoder(), [], blob.decode(), 0
    while i < len(text):
        record, i = decoder.raw_decode(text, i)
        out.append(record)
    return out


class Pipeline(ApplicationDriver):
    """A DirectPut delivery stream (delivering at once to the embedded S3 store), a Kinesis
    output stream, and an application reading the one and writing the other."""

    def __init__(self, server, name_factory):
        self.server = server
        self.connect()
        # Delivery stream names are at most 64 characters.
        self.delivery = f"kda-ds-{uuid.uuid4().hex}"
        self.bucket = f"kda-{uuid.uuid4().hex[:12]}"
        self.delivery_arn = self.firehose.create_delivery_stream(
            DeliveryStreamName=self.delivery,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": f"arn:aws:s3:::{self.bucket}",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            },
        )["DeliveryStreamARN"]
        self.output = name_factory("out")
        self.kinesis.create_stream(StreamName=self.output, ShardCount=1)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=self.output, WaiterConfig={"Delay": 0.05})
        self.output_arn = self.kinesis.describe_stream_summary(StreamName=self.output)["StreamDescriptionSummary"]["StreamARN"]
        self.app = name_factory("app")

    def connect(self):
        self.kinesis = self.server.client()
        self.firehose = self.server.client(service="firehose")
        self.kda = self.server.client(service="kinesisanalytics")

    def input_config(self, arn=None):
        return {
            "NamePrefix": "SOURCE_SQL_STREAM",
            "KinesisFirehoseInput": {"ResourceARN": arn or self.delivery_arn, "RoleARN": ROLE},
            "InputParallelism": {"Count": 1},
            "InputSchema": SCHEMA,
        }

    def create(self, code=FILTER):
        self.kda.create_application(
            ApplicationName=self.app,
            ApplicationCode=code,
            Inputs=[self.input_config()],
            Outputs=[{
                "Name": "DESTINATION_SQL_STREAM",
                "KinesisStreamsOutput": {"ResourceARN": self.output_arn, "RoleARN": ROLE},
                "DestinationSchema": {"RecordFormatType": "JSON"},
            }],
        )

    def put(self, records):
        for i in range(0, len(records), 500):
            out = self.firehose.put_record_batch(
                DeliveryStreamName=self.delivery, Records=[{"Data": r} for r in records[i : i + 500]])
            assert out["FailedPutCount"] == 0

    def rows(self):
        """Every row the application wrote to its output stream so far."""
        shard = self.kinesis.list_shards(StreamName=self.output)["Shards"][0]["ShardId"]
        it = self.kinesis.get_shard_iterator(StreamName=self.output, ShardId=shard,
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        rows = []
        while it:
            got = self.kinesis.get_records(ShardIterator=it, Limit=10000)
            rows.extend(json.loads(r["Data"]) for r in got["Records"])
            if not got["Records"] or got.get("MillisBehindLatest", 0) == 0:
                break
            it = got["NextShardIterator"]
        return rows

    def tickers(self):
        return sorted(r["TICKER_SYMBOL"] for r in self.rows())

    def wait_rows(self, count, timeout=30):
        return wait_until(lambda: (rows := self.rows()) and len(rows) >= count and rows, timeout=timeout,
                          what=f"{count} output rows")

    def delivered(self) -> list[dict]:
        """Every record the delivery stream wrote to S3 so far."""
        return [r for blob in local_objects(self.server.data_dir, self.bucket).values() for r in records_of(blob)]


@pytest.fixture
def pipeline(server, name_factory):
    made = []

    def make():
        made.append(Pipeline(server, name_factory))
        return made[-1]

    yield make
    for p in made:
        try:
            p.firehose.delete_delivery_stream(DeliveryStreamName=p.delivery)
        except ClientError:
            pass  # the test deleted it


def test_put_record_batch_reaches_the_application_and_the_destination(pipeline):
    """The getting-started filter over a delivery stream: exact rows out of the application,
    and every record still delivered to S3."""
    p = pipeline()
    p.create()
    d = p.detail()["InputDescriptions"][0]
    assert d["KinesisFirehoseInputDescription"] == {"ResourceARN": p.delivery_arn, "RoleARN": ROLE}
    assert d["InAppStreamNames"] == ["SOURCE_SQL_STREAM_001"]
    p.start()
    sent = [tick("AMZN", "TECHNOLOGY", 1.5, 100.0), tick("XOM", "ENERGY", -0.5, 80.0),
            tick("MSFT", "TECHNOLOGY", 0.25, 300.0)]
    p.put(sent)
    p.wait_rows(2)
    time.sleep(0.3)
    assert sorted(p.rows(), key=lambda r: r["TICKER_SYMBOL"]) == [
        {"TICKER_SYMBOL": "AMZN", "SECTOR": "TECHNOLOGY", "CHANGE": 1.5, "PRICE": 100.0},
        {"TICKER_SYMBOL": "MSFT", "SECTOR": "TECHNOLOGY", "CHANGE": 0.25, "PRICE": 300.0},
    ]
    want = sorted((json.loads(r) for r in sent), key=lambda r: r["TICKER_SYMBOL"])
    wait_until(lambda: sorted(p.delivered(), key=lambda r: r["TICKER_SYMBOL"]) == want,
               what="the records delivered to S3")
    p.stop()


def test_stop_and_start_from_the_last_stopped_point_skips_nothing(pipeline):
    """Records put while the application is stopped are delivered to S3 at once and still reach
    the application after a start from LAST_STOPPED_POINT: no gap, and (a stop checkpoints) no
    duplicate."""
    p = pipeline()
    p.create()
    p.start()
    p.put([tick(f"A{i:03}") for i in range(50)])
    p.wait_rows(50)
    p.stop()
    p.put([tick(f"B{i:03}") for i in range(50)])
    wait_until(lambda: len(p.delivered()) == 100, what="100 records delivered while the application is stopped")
    p.start("LAST_STOPPED_POINT")
    p.wait_rows(100)
    time.sleep(0.3)
    assert p.tickers() == sorted([f"A{i:03}" for i in range(50)] + [f"B{i:03}" for i in range(50)])
    p.stop()


def test_a_stop_before_any_record_resumes_where_the_application_started(pipeline):
    """LAST_STOPPED_POINT after a run that read nothing: the records put while the application
    was stopped are still read (the start position is checkpointed, not only read positions)."""
    p = pipeline()
    p.create()
    p.start()
    p.stop()
    p.put([tick("IDLE")])
    p.start("LAST_STOPPED_POINT")
    assert [r["TICKER_SYMBOL"] for r in p.wait_rows(1)] == ["IDLE"]
    p.stop()


def test_now_skips_and_trim_horizon_reads_what_was_put_before_the_start(pipeline):
    p = pipeline()
    p.put([tick("OLD")])
    p.create()
    p.start("TRIM_HORIZON")
    assert [r["TICKER_SYMBOL"] for r in p.wait_rows(1)] == ["OLD"]
    p.stop()
    p.put([tick("GAP")])
    p.start("NOW")
    p.put([tick("NEW")])
    wait_until(lambda: "NEW" in p.tickers(), what="the record put after the start")
    assert p.tickers() == ["NEW", "OLD"]
    p.stop()


def test_sigkill_mid_load_loses_no_acknowledged_input(server_factory, name_factory):
    """Kill the server while records flow through the delivery stream; after a restart the
    application resumes from its checkpoint and every acknowledged record reaches its output
    (at least once)."""
    srv = server_factory()
    p = Pipeline(srv, name_factory)
    p.create()
    p.start()
    acked = []
    stop = threading.Event()

    def produce():
        client = srv.client(service="firehose")
        i = 0
        while not stop.is_set():
            batch = [tick(f"S{i + j:05}") for j in range(20)]
            try:
                out = client.put_record_batch(DeliveryStreamName=p.delivery, Records=[{"Data": r} for r in batch])
            except Exception:
                return
            acked.extend(json.loads(r)["TICKER_SYMBOL"] for r, e in zip(batch, out["RequestResponses"]) if "RecordId" in e)
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
    p.connect()
    p.wait_status("RUNNING")
    wanted = set(acked)
    wait_until(lambda: wanted <= set(p.tickers()), timeout=60, what="every acknowledged record in the output")
    wait_until(lambda: wanted <= {r["TICKER_SYMBOL"] for r in p.delivered()}, timeout=60,
               what="every acknowledged record delivered to S3")


def test_a_delivery_stream_that_does_not_exist_is_refused(pipeline):
    """As for a missing Kinesis stream: InvalidArgumentException at CreateApplication and
    AddApplicationInput, and at StartApplication once the delivery stream was deleted."""
    p = pipeline()
    missing = f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/no-such-delivery-stream"
    with pytest.raises(ClientError) as e:
        p.kda.create_application(ApplicationName=p.app, ApplicationCode=FILTER, Inputs=[p.input_config(missing)])
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidArgumentException"
    assert err["Message"] == f"Delivery stream no-such-delivery-stream under account {ACCOUNT} not found."
    with pytest.raises(ClientError):
        p.kda.describe_application(ApplicationName=p.app)

    p.kda.create_application(ApplicationName=p.app, ApplicationCode=FILTER)
    with pytest.raises(ClientError) as e:
        p.kda.add_application_input(ApplicationName=p.app, CurrentApplicationVersionId=1, Input=p.input_config(missing))
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"

    p.kda.add_application_input(ApplicationName=p.app, CurrentApplicationVersionId=1, Input=p.input_config())
    p.firehose.delete_delivery_stream(DeliveryStreamName=p.delivery)
    input_id = p.detail()["InputDescriptions"][0]["InputId"]
    with pytest.raises(ClientError) as e:
        p.kda.start_application(
            ApplicationName=p.app,
            InputConfigurations=[{"Id": input_id, "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}],
        )
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidArgumentException"
    assert err["Message"] == f"Delivery stream {p.delivery} under account {ACCOUNT} not found."
    assert p.detail()["ApplicationStatus"] == "READY"


def test_discover_input_schema_samples_a_delivery_stream(pipeline):
    p = pipeline()
    p.put([tick("AMZN", price=10.5), tick("MSFT", price=2.0)])
    out = p.kda.discover_input_schema(ResourceARN=p.delivery_arn, RoleARN=ROLE,
                                      InputStartingPositionConfiguration={"InputStartingPosition": "TRIM_HORIZON"})
    assert len(out["RawInputRecords"]) == 2
    assert sorted(c["Name"] for c in out["InputSchema"]["RecordColumns"]) == ["CHANGE", "PRICE", "SECTOR", "TICKER_SYMBOL"]


def test_a_kinesis_stream_as_source_input_stopped_before_any_read_skips_nothing(pipeline, name_factory):
    """As for DirectPut, through a KinesisStreamAsSource delivery stream: its source stream's
    shards are placed at NOW when the application starts, so a start from LAST_STOPPED_POINT
    reads what was put into the source stream while the application was stopped."""
    p = pipeline()
    source = name_factory("src")
    p.kinesis.create_stream(StreamName=source, ShardCount=2)
    p.kinesis.get_waiter("stream_exists").wait(StreamName=source, WaiterConfig={"Delay": 0.05})
    source_arn = p.kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"]["StreamARN"]
    p.firehose.delete_delivery_stream(DeliveryStreamName=p.delivery)
    p.delivery = f"kda-ds-{uuid.uuid4().hex}"
    p.delivery_arn = p.firehose.create_delivery_stream(
        DeliveryStreamName=p.delivery,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": source_arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{p.bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        },
    )["DeliveryStreamARN"]
    p.create()
    p.start("NOW")
    p.stop()
    records = [tick(f"K{i:03}") for i in range(20)]
    out = p.kinesis.put_records(StreamName=source, Records=[{"Data": r, "PartitionKey": f"k{i}"} for i, r in enumerate(records)])
    assert out["FailedRecordCount"] == 0
    p.start("LAST_STOPPED_POINT")
    p.wait_rows(20)
    time.sleep(0.3)
    assert p.tickers() == [f"K{i:03}" for i in range(20)]
    p.stop()
