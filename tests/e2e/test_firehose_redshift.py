"""Firehose delivery to Redshift, run against a real PostgreSQL (Redshift speaks PostgreSQL's
protocol; PostgreSQL gets the load as `COPY ... FROM STDIN`): the intermediate S3 object, the
manifest naming it, rows in the table, a failing COPY leaving its manifest under `errors/`,
the write-only password and AWS's rules for the intermediate bucket. The Redshift statement
itself is checked against golden files in the crate's unit tests."""

from __future__ import annotations

import gzip
import json

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, Postgres, local_objects, wait_until


@pytest.fixture(scope="module")
def pg():
    cluster = Postgres(None)
    yield cluster
    cluster.close()


def redshift(pg, table, bucket, columns=None, options=None, **extra):
    copy = {"DataTableName": table}
    if columns:
        copy["DataTableColumns"] = columns
    if options:
        copy["CopyOptions"] = options
    s3 = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "loads/",
          "CompressionFormat": "GZIP", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
    return {"RoleARN": ROLE, "ClusterJDBCURL": pg.jdbc, "CopyCommand": copy, "Username": pg.USER,
            "Password": pg.PASSWORD, "S3Configuration": s3, **extra}


def active(fh, name):
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def test_json_records_are_copied_into_the_table(server, pg):
    pg.sql("CREATE TABLE events (id int, name text, at timestamp)")
    fh = server.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="rs", RedshiftDestinationConfiguration=redshift(
        pg, "events", "rs-loads", columns="id,name,at", options="JSON 'auto' GZIP TIMEFORMAT 'auto'"))
    active(fh, "rs")
    dest = fh.describe_delivery_stream(DeliveryStreamName="rs")[
        "DeliveryStreamDescription"]["Destinations"][0]["RedshiftDestinationDescription"]
    assert "Password" not in dest and dest["Username"] == pg.USER
    assert dest["RetryOptions"] == {"DurationInSeconds": 3600}
    assert dest["S3DestinationDescription"]["CompressionFormat"] == "GZIP"
    records = [{"id": i, "Name": f"row, \"{i}\"", "at": "2026-02-03 04:05:06"} for i in range(50)]
    fh.put_record_batch(DeliveryStreamName="rs", Records=[{"Data": json.dumps(r).encode()} for r in records])
    wait_until(lambda: pg.sql("SELECT count(*) FROM events") == "50", what="50 rows in PostgreSQL")
    assert pg.sql("SELECT name FROM events WHERE id = 7") == 'row, "7"'
    objs = local_objects(server.data_dir, "rs-loads")
    data = [k for k in objs if not k.startswith("loads/manifests/")]
    manifests = [k for k in objs if k.startswith("loads/manifests/")]
    assert len(data) == 1 and len(manifests) == 1, sorted(objs)
    entries = json.loads(objs[manifests[0]])["entries"]
    assert entries == [{"url": f"s3://rs-loads/{data[0]}", "mandatory": True}]
    assert gzip.decompress(objs[data[0]]) == b"".join(json.dumps(r).encode() for r in records)


def test_a_failing_copy_leaves_its_manifest_under_errors(server, pg):
    fh = server.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="rs-missing", RedshiftDestinationConfiguration=redshift(
        pg, "no_such_table", "rs-missing", options="delimiter ','", RetryOptions={"DurationInSeconds": 0}))
    active(fh, "rs-missing")
    fh.put_record(DeliveryStreamName="rs-missing", Record={"Data": b"1,a\n"})
    objs = wait_until(lambda: (o := local_objects(server.data_dir, "rs-missing")) and
                      any(k.startswith("loads/errors/") for k in o) and o, what="a manifest under errors/")
    [error] = [k for k in objs if k.startswith("loads/errors/")]
    [manifest] = [k for k in objs if k.startswith("loads/manifests/")]
    assert objs[error] == objs[manifest]


def test_bad_redshift_configurations_get_aws_errors(server, pg):
    fh = server.client(service="firehose")
    base = redshift(pg, "events", "b")
    cases = [
        ({**base, "ClusterJDBCURL": "jdbc:mysql://h/db"}, "ClusterJDBCURL"),
        ({**base, "S3Configuration": {**base["S3Configuration"], "ErrorOutputPrefix": "e/"}}, "ErrorOutputPrefix"),
        ({**base, "S3Configuration": {**base["S3Configuration"], "Prefix": "p/!{timestamp:yyyy}/"}}, "expressions"),
        ({**base, "S3Configuration": {**base["S3Configuration"], "CompressionFormat": "Snappy"}}, "UNCOMPRESSED or GZIP"),
        ({**base, "CopyCommand": {"DataTableName": "events", "CopyOptions": "JSON 's3://b/paths.json'"}}, "JSONPaths"),
    ]
    for config, words in cases:
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName="rs-bad", RedshiftDestinationConfiguration=config)
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgumentException", 400), err
        assert words in err["Error"]["Message"], err["Error"]["Message"]
    assert "rs-bad" not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
