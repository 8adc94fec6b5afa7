"""Firehose's Apache Iceberg destination end to end: tables made with pyiceberg through
Freshet's Iceberg REST catalog (`/iceberg`), JSON records put with boto3, snapshots committed by
Firehose, and the tables read back with pyiceberg from a real S3-compatible server (moto_server):
appends, routing by a MetadataExtraction query, updates and deletes by unique keys, records that
do not fit in the table's error output, and AWS's errors for bad configurations."""

from __future__ import annotations

import base64
import json
import random

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, MotoS3, put_between_kills, wait_until
from freshet_e2e import ACCOUNT

pyiceberg = pytest.importorskip("pyiceberg")
from pyiceberg.catalog.rest import RestCatalog  # noqa: E402
from pyiceberg.schema import Schema  # noqa: E402
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType  # noqa: E402


CATALOG_ARN = f"arn:aws:glue:us-east-1:{ACCOUNT}:catalog"
BUCKET = "lake"


@pytest.fixture
def lake(tmp_path, server_factory):
    moto = MotoS3(tmp_path)
    moto.s3.create_bucket(Bucket=BUCKET)
    srv = server_factory(env={"FRESHET_FIREHOSE__S3__ENDPOINT": moto.endpoint,
                              "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
                              "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing"})
    yield srv, rest_catalog(srv, moto), moto
    moto.close()


def rest_catalog(srv, moto):
    """pyiceberg's client of the server's Iceberg REST catalog (its port changes on restart)."""
    return RestCatalog("freshet", **{
        "uri": f"{srv.endpoint}/iceberg", "warehouse": ACCOUNT,
        "s3.endpoint": moto.endpoint, "s3.access-key-id": "testing",
        "s3.secret-access-key": "testing", "s3.region": "us-east-1"})


def make_table(catalog, namespace, table, *fields):
    try:
        catalog.create_namespace(namespace, {"location": f"s3://{BUCKET}/wh/{namespace}"})
    except Exception as e:  # the namespace is shared by a test's tables
        assert "exists" in str(e).lower(), e
    return catalog.create_table(f"{namespace}.{table}", Schema(*fields))


EVENTS = (NestedField(1, "id", LongType(), required=True), NestedField(2, "name", StringType()),
          NestedField(3, "price", DoubleType()), NestedField(4, "at", TimestamptzType()))


def iceberg_config(tables, **extra):
    return {"RoleARN": ROLE, "CatalogConfiguration": {"CatalogARN": CATALOG_ARN},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{BUCKET}",
                                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/"},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "DestinationTableConfigurationList": tables, **extra}


def active(fh, name):
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def rows(catalog, ident, column="id"):
    table = catalog.load_table(ident)
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r[column])


def wait_rows(catalog, ident, n, column="id"):
    found = []

    def enough():
        found[:] = rows(catalog, ident, column)
        return len(found) >= n
    wait_until(enough, timeout=30, what=f"{n} rows in {ident}")
    return found


def error_lines(moto, prefix):
    lines = []
    for key, body in moto.objects(BUCKET).items():
        if key.startswith(prefix):
            lines += [json.loads(line) for line in body.decode().splitlines() if line]
    return lines


def test_records_are_appended_as_snapshots_that_pyiceberg_reads(lake):
    srv, catalog, moto = lake
    fh = srv.client(service="firehose")
    make_table(catalog, "shop", "orders", *EVENTS)
    name = f"ice-{random.randrange(1 << 30):x}"
    fh.create_delivery_stream(DeliveryStreamName=name, IcebergDestinationConfiguration=iceberg_config(
        [{"DestinationDatabaseName": "shop", "DestinationTableName": "orders",
          "S3ErrorOutputPrefix": "orders-errors/!{firehose:error-output-type}/"}]))
    active(fh, name)
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    dest = desc["Destinations"][0]["IcebergDestinationDescription"]
    assert dest["CatalogConfiguration"]["CatalogARN"] == CATALOG_ARN
    assert dest["DestinationTableConfigurationList"][0]["DestinationTableName"] == "orders"
    assert dest["AppendOnly"] is False and dest["RetryOptions"] == {"DurationInSeconds": 300}

    first = [{"id": i, "name": f"item{i}", "price": i * 1.5, "at": "2026-12-07T10:00:00Z"} for i in range(20)]
    fh.put_record_batch(DeliveryStreamName=name,
                        Records=[{"Data": json.dumps(r).encode()} for r in first])
    got = wait_rows(catalog, "shop.orders", 20)
    assert [(r["id"], r["name"], r["price"]) for r in got] == [(i, f"item{i}", i * 1.5) for i in range(20)]
    assert got[0]["at"].isoformat() == "2026-12-07T10:00:00+00:00"
    # A record without the required id, and one that is not JSON, go to the table's error output.
    second = [{"id": 100 + i, "name": "later"} for i in range(5)]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": json.dumps(r).encode()} for r in second]
                        + [{"Data": b'{"name": "no id"}'}, {"Data": b"not json"}])
    got = wait_rows(catalog, "shop.orders", 25)
    assert len(got) == 25 and [r["id"] for r in got[20:]] == list(range(100, 105))
    table = catalog.load_table("shop.orders")
    assert len(table.metadata.snapshots) == 2
    assert table.current_snapshot().summary["added-records"] == "5"

    wait_until(lambda: len(error_lines(moto, "orders-errors/iceberg-failed/")) == 2, timeout=30,
               what="two error lines")
    errors = error_lines(moto, "orders-errors/iceberg-failed/")
    assert {e["errorCode"] for e in errors} == {"Iceberg.InvalidRecord"}
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == sorted([b'{"name": "no id"}', b"not json"])
    # The Glue table points at the metadata the last commit wrote.
    glue = srv.client(service="glue")
    params = glue.get_table(DatabaseName="shop", Name="orders")["Table"]["Parameters"]
    assert params["metadata_location"] == table.metadata_location


def test_a_query_routes_records_to_tables_with_updates_and_deletes_by_unique_key(lake):
    srv, catalog, moto = lake
    fh = srv.client(service="firehose")
    users = (NestedField(1, "id", LongType(), required=True), NestedField(2, "name", StringType()),
             NestedField(3, "kind", StringType()))
    make_table(catalog, "app", "users", *users)
    make_table(catalog, "app", "admins", *users)
    name = f"route-{random.randrange(1 << 30):x}"
    query = "{destinationDatabaseName: \"app\", destinationTableName: .kind, operation: .op}"
    fh.create_delivery_stream(DeliveryStreamName=name, IcebergDestinationConfiguration=iceberg_config(
        [{"DestinationDatabaseName": "app", "DestinationTableName": "users", "UniqueKeys": ["id"]},
         {"DestinationDatabaseName": "app", "DestinationTableName": "admins", "UniqueKeys": ["id"]}],
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    active(fh, name)

    def put(*records):
        fh.put_record_batch(DeliveryStreamName=name,
                            Records=[{"Data": json.dumps(r).encode()} for r in records])

    put(*[{"id": i, "name": f"u{i}", "kind": "users", "op": "insert"} for i in range(6)],
        {"id": 1, "name": "root", "kind": "admins", "op": "insert"})
    wait_rows(catalog, "app.users", 6)
    assert [r["name"] for r in wait_rows(catalog, "app.admins", 1)] == ["root"]
    # Updates replace earlier rows of their key; deletes remove them; within one buffer the
    # last operation on a key wins.
    put({"id": 2, "name": "two", "kind": "users", "op": "update"},
        {"id": 3, "kind": "users", "op": "delete"},
        {"id": 4, "name": "four-a", "kind": "users", "op": "update"},
        {"id": 4, "name": "four-b", "kind": "users", "op": "update"},
        {"id": 9, "name": "nine", "kind": "users", "op": "update"})
    expected = [(0, "u0"), (1, "u1"), (2, "two"), (4, "four-b"), (5, "u5"), (9, "nine")]

    def applied():
        return [(r["id"], r["name"]) for r in rows(catalog, "app.users")] == expected
    wait_until(applied, timeout=30, what="updates and deletes applied")
    snapshot = catalog.load_table("app.users").current_snapshot()
    assert snapshot.summary.operation.value == "overwrite"
    assert snapshot.summary["added-position-deletes"] == "3"  # rows 2, 3 and 4 of the first file
    # An unknown operation goes to the error output with AWS-style code.
    put({"id": 7, "kind": "users", "op": "upsert"})
    wait_until(lambda: error_lines(moto, "errors/iceberg-failed/"), timeout=30, what="error line")
    [line] = error_lines(moto, "errors/iceberg-failed/")
    assert line["errorCode"] == "Iceberg.InvalidOperation"
    assert json.loads(base64.b64decode(line["rawData"]))["op"] == "upsert"


def test_a_missing_table_sends_its_records_to_the_error_output(lake):
    srv, catalog, moto = lake
    fh = srv.client(service="firehose")
    catalog.create_namespace("empty", {"location": f"s3://{BUCKET}/wh/empty"})
    name = f"missing-{random.randrange(1 << 30):x}"
    fh.create_delivery_stream(DeliveryStreamName=name, IcebergDestinationConfiguration=iceberg_config(
        [{"DestinationDatabaseName": "empty", "DestinationTableName": "nope"}]))
    active(fh, name)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b'{"id": 1}'})
    wait_until(lambda: error_lines(moto, "errors/iceberg-failed/"), timeout=30, what="error line")
    [line] = error_lines(moto, "errors/iceberg-failed/")
    assert line["errorCode"] == "Iceberg.TableNotFound"
    assert base64.b64decode(line["rawData"]) == b'{"id": 1}'


def test_bad_iceberg_configurations_get_aws_errors(lake):
    srv, _, _ = lake
    fh = srv.client(service="firehose")
    table = [{"DestinationDatabaseName": "db", "DestinationTableName": "t"}]
    cases = [
        (iceberg_config(table, SchemaEvolutionConfiguration={"Enabled": True}), "SchemaEvolutionConfiguration"),
        (iceberg_config(table, TableCreationConfiguration={"Enabled": True}), "TableCreationConfiguration"),
        (iceberg_config(table * 2), "more than once"),
        (iceberg_config([{**table[0], "UniqueKeys": ["id"]}], AppendOnly=True), "AppendOnly"),
        ({**iceberg_config(table), "CatalogConfiguration": {}}, "CatalogARN"),
    ]
    for i, (config, words) in enumerate(cases):
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName=f"bad-{i}", IcebergDestinationConfiguration=config)
        assert e.value.response["Error"]["Code"] == "InvalidArgumentException", config
        assert words in e.value.response["Error"]["Message"]
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_sigkill_during_iceberg_delivery_loses_nothing_acknowledged(lake):
    srv, catalog, moto = lake
    fh = srv.client(service="firehose")
    make_table(catalog, "crash", "events", NestedField(1, "n", LongType(), required=True),
               NestedField(2, "pad", StringType()))
    fh.create_delivery_stream(DeliveryStreamName="crash", IcebergDestinationConfiguration=iceberg_config(
        [{"DestinationDatabaseName": "crash", "DestinationTableName": "events"}]))
    active(fh, "crash")
    acked = [json.loads(r)["n"] for r in put_between_kills(
        srv, "crash", 5, 19, (0.5, 1.5), lambda _, n: json.dumps({"n": n, "pad": "x" * 50}).encode())]
    assert len(acked) > 500

    catalog = rest_catalog(srv, moto)

    def everything():
        table = catalog.load_table("crash.events")
        seen = set(table.scan(selected_fields=("n",)).to_arrow().column("n").to_pylist())
        return not (set(acked) - seen)

    wait_until(everything, timeout=60, what="every acknowledged record in the table after 5 SIGKILLs")
    # No record failed on the way: a kill during a delivery leaves at most unreferenced files.
    assert error_lines(moto, "errors/") == []


def test_a_remote_rest_catalog_is_committed_to_over_http(lake, server_factory):
    """A second server whose `[firehose.iceberg] catalog_url` is the first's `/iceberg`: its
    Firehose commits through the REST API over HTTP (the client path any REST catalog gets)."""
    owner, catalog, moto = lake
    make_table(catalog, "remote", "events", NestedField(1, "n", LongType(), required=True))
    delivering = server_factory(env={"FRESHET_FIREHOSE__S3__ENDPOINT": moto.endpoint,
                                     "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
                                     "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing",
                                     "FRESHET_FIREHOSE__ICEBERG__CATALOG_URL": f"{owner.endpoint}/iceberg",
                                     # Quoted: the environment's values are read as TOML.
                                     "FRESHET_FIREHOSE__ICEBERG__WAREHOUSE": f'"{ACCOUNT}"'})
    fh = delivering.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="remote", IcebergDestinationConfiguration=iceberg_config(
        [{"DestinationDatabaseName": "remote", "DestinationTableName": "events"}]))
    active(fh, "remote")
    fh.put_record_batch(DeliveryStreamName="remote",
                        Records=[{"Data": json.dumps({"n": n}).encode()} for n in range(10)])
    assert [r["n"] for r in wait_rows(catalog, "remote.events", 10, column="n")] == list(range(10))
    # The table is the owner's: the delivering server's own catalog does not have it.
    assert delivering.client(service="glue").get_databases()["DatabaseList"] == []

