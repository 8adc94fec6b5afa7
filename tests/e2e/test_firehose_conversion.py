"""Firehose record format conversion end to end: a Glue table created through Freshet's Glue
API is the schema; JSON records put through boto3 arrive in S3 as Parquet and ORC files that
pyarrow reads back; records that do not fit go to `format-conversion-failed`; SIGKILL during a
converted delivery loses no acknowledged record."""

from __future__ import annotations

import base64
import io
import json
import random

import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, local_objects, put_between_kills, wait_until


def make_table(glue, database, table, columns):
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AlreadyExistsException"
    glue.create_table(DatabaseName=database, TableInput={
        "Name": table,
        "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns]}})


def conversion(database, table, serializer, deserializer=None):
    return {
        "Enabled": True,
        "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": database, "TableName": table},
        "InputFormatConfiguration": {"Deserializer": deserializer or {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": serializer},
    }


def s3_config(bucket, **extra):
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1}, **extra}


COLUMNS = [("id", "bigint"), ("name", "string"), ("price", "double"), ("at", "timestamp"),
           ("tags", "array<string>")]


@pytest.fixture
def clients(server):
    return server.client(service="firehose"), server.client(service="glue")


def active(fh, name):
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def test_json_records_arrive_as_parquet_that_pyarrow_reads(server, clients):
    fh, glue = clients
    name = f"pq-{random.randrange(1 << 30):x}"
    make_table(glue, "shop", "orders", COLUMNS)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        name, Prefix="orders/", ErrorOutputPrefix="bad/!{firehose:error-output-type}/",
        DataFormatConversionConfiguration=conversion("shop", "orders", {"ParquetSerDe": {"Compression": "SNAPPY"}})))
    active(fh, name)
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert dest["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] == "orders"
    good = [{"ID": i, "Name": f"item{i}", "price": i * 1.5, "at": 1_770_000_000 + i, "tags": ["t", str(i)]}
            for i in range(50)]
    bad = [b'{"id": "forty-two"}', b"not json"]
    records = [json.dumps(g).encode() for g in good[:25]] + bad + [json.dumps(g).encode() for g in good[25:]]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])

    def delivered():
        objs = local_objects(server.data_dir, name)
        data = [v for k, v in objs.items() if k.startswith("orders/")]
        errors = [v for k, v in objs.items() if k.startswith("bad/format-conversion-failed/")]
        return (data, errors) if data and errors else None

    data, errors = wait_until(delivered, what="a Parquet object and the failed records")
    table = pq.read_table(io.BytesIO(b"".join(data)))
    assert table.column_names == [c for c, _ in COLUMNS]
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == list(range(50))
    assert rows[3]["name"] == "item3" and rows[3]["price"] == 4.5 and rows[3]["tags"] == ["t", "3"]
    assert rows[3]["at"].timestamp() == 1_770_000_003
    assert pq.ParquetFile(io.BytesIO(data[0])).metadata.row_group(0).column(0).compression == "SNAPPY"
    lines = [json.loads(line) for body in errors for line in body.decode().splitlines()]
    assert sorted(base64.b64decode(line["rawData"]) for line in lines) == sorted(bad)
    assert {line["errorCode"] for line in lines} == {"DataFormatConversion.MalformedData"}


def test_orc_output_and_a_missing_table(server, clients):
    fh, glue = clients
    name = f"orc-{random.randrange(1 << 30):x}"
    make_table(glue, "shop", "flat", [("id", "int"), ("name", "string"), ("at", "timestamp")])
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        name, Prefix="flat/", ErrorOutputPrefix="bad/!{firehose:error-output-type}/",
        DataFormatConversionConfiguration=conversion(
            "shop", "flat", {"OrcSerDe": {"Compression": "ZLIB"}},
            {"HiveJsonSerDe": {"TimestampFormats": ["yyyy-MM-dd'T'HH:mm:ss"]}})))
    active(fh, name)
    fh.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": json.dumps({"id": i, "name": f"n{i}", "at": f"2026-02-0{1 + i % 5}T00:00:00"}).encode()}
        for i in range(10)])
    body = wait_until(lambda: b"".join(v for k, v in local_objects(server.data_dir, name).items()
                                       if k.startswith("flat/")) or None, what="an ORC object")
    table = orc.ORCFile(io.BytesIO(body)).read()
    assert table.column("id").to_pylist() == list(range(10))
    assert table.column("name").to_pylist()[9] == "n9"

    # A table that does not exist: every record goes to the error output, none is lost.
    missing = f"nt-{random.randrange(1 << 30):x}"
    fh.create_delivery_stream(DeliveryStreamName=missing, ExtendedS3DestinationConfiguration=s3_config(
        missing, Prefix="x/", ErrorOutputPrefix="bad/!{firehose:error-output-type}/",
        DataFormatConversionConfiguration=conversion("shop", "nope", {"ParquetSerDe": {}})))
    active(fh, missing)
    fh.put_record(DeliveryStreamName=missing, Record={"Data": b'{"id": 1}'})
    lines = wait_until(lambda: [json.loads(line) for v in local_objects(server.data_dir, missing).values()
                                for line in v.decode().splitlines()] or None, what="error output")
    assert [line["errorCode"] for line in lines] == ["DataFormatConversion.EntityNotFound"]
    assert base64.b64decode(lines[0]["rawData"]) == b'{"id": 1}'


def test_bad_conversion_configurations_get_aws_errors(clients):
    fh, _ = clients
    name = f"badconv-{random.randrange(1 << 30):x}"
    ok = conversion("shop", "orders", {"ParquetSerDe": {}})
    cases = [
        (s3_config("b", CompressionFormat="GZIP", DataFormatConversionConfiguration=ok), "UNCOMPRESSED"),
        (s3_config("b", DataFormatConversionConfiguration={**ok, "SchemaConfiguration": {"RoleARN": ROLE}}),
         "SchemaConfiguration"),
        (s3_config("b", DataFormatConversionConfiguration={
            **ok, "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}, "OrcSerDe": {}}}}),
         "exactly one of ParquetSerDe and OrcSerDe"),
        (s3_config("b", DataFormatConversionConfiguration={
            **ok, "InputFormatConfiguration": {"Deserializer": {}}}),
         "exactly one of OpenXJsonSerDe and HiveJsonSerDe"),
    ]
    for config, words in cases:
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=config)
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgumentException", 400)
        assert words in err["Error"]["Message"], err["Error"]["Message"]
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]


def test_sigkill_during_converted_delivery_loses_nothing_acknowledged(server_factory):
    srv = server_factory()
    fh, glue = srv.client(service="firehose"), srv.client(service="glue")
    make_table(glue, "crashdb", "events", [("n", "bigint"), ("pad", "string")])
    fh.create_delivery_stream(DeliveryStreamName="crash", ExtendedS3DestinationConfiguration=s3_config(
        "crash", Prefix="pq/", ErrorOutputPrefix="bad/!{firehose:error-output-type}/",
        DataFormatConversionConfiguration=conversion("crashdb", "events", {"ParquetSerDe": {}})))
    active(fh, "crash")
    acked = [json.loads(r)["n"] for r in put_between_kills(
        srv, "crash", 5, 5, (0.5, 1.5), lambda _, n: json.dumps({"n": n, "pad": "x" * 50}).encode())]
    assert len(acked) > 500

    def everything():
        seen: set[int] = set()
        for key, body in local_objects(srv.data_dir, "crash").items():
            assert key.startswith("pq/"), f"no record may fail conversion: {key}"
            seen.update(pq.read_table(io.BytesIO(body)).column("n").to_pylist())
        return not (set(acked) - seen)

    wait_until(everything, timeout=60, what="every acknowledged record in the Parquet files after 5 SIGKILLs")
