"""The Iceberg REST catalog end to end, where AWS Glue serves it (`/iceberg`): pyiceberg's
RestCatalog creates namespaces and tables, appends pyarrow tables whose files land in a real
S3-compatible server (moto_server, also Freshet's S3 endpoint, where the catalog writes the
metadata files), and reads the rows back; boto3's Glue client sees Glue's Iceberg tables; errors
come in the REST specification's error model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pyarrow as pa
import pytest

pytest.importorskip("pyiceberg")

from pyiceberg.catalog.rest import RestCatalog  # noqa: E402
from pyiceberg.io.pyarrow import PyArrowFileIO  # noqa: E402
from pyiceberg.exceptions import (  # noqa: E402
    CommitFailedException,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)

from firehose_helpers import MotoS3  # noqa: E402
from freshet_e2e import ACCOUNT  # noqa: E402

BUCKET = "lake"
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string()),
                    pa.field("price", pa.float64())])


class MotoFileIO(PyArrowFileIO):
    """pyarrow's file IO, with small files put in one PutObject (`allow_delayed_open`): Arrow's
    S3 client reads moto_server's answer to CompleteMultipartUpload as a failure, so a
    multipart upload never completes against it. The catalog under test is not involved."""

    def _initialize_s3_fs(self, netloc):
        rebuild, (options,) = super()._initialize_s3_fs(netloc).__reduce__()
        return rebuild({**options, "allow_delayed_open": True})


def rows(ids):
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids], "price": [i * 1.5 for i in ids]},
                    schema=SCHEMA)


@pytest.fixture
def lake(server_factory, tmp_path):
    """A server whose S3 endpoint is moto_server, and pyiceberg's catalog on it."""
    moto = MotoS3(tmp_path)
    try:
        moto.s3.create_bucket(Bucket=BUCKET)
        srv = server_factory(env={"FRESHET_FIREHOSE__S3__ENDPOINT": moto.endpoint,
                                  "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
                                  "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing"})
        catalog = RestCatalog("freshet", uri=f"{srv.endpoint}/iceberg", warehouse=ACCOUNT, **{
            "s3.endpoint": moto.endpoint, "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing", "s3.region": "us-east-1",
            "py-io-impl": f"{__name__}.MotoFileIO"})
        yield srv, moto, catalog
    finally:
        moto.close()


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_pyiceberg_appends_and_reads_back_tables_kept_in_glue(lake):
    srv, moto, catalog = lake
    catalog.create_namespace("sales", {"location": f"s3://{BUCKET}/wh/sales", "owner": "e2e"})
    assert ("sales",) in catalog.list_namespaces()
    assert catalog.load_namespace_properties("sales") == {
        "location": f"s3://{BUCKET}/wh/sales", "owner": "e2e"}

    table = catalog.create_table("sales.orders", schema=SCHEMA)
    table.append(rows([1, 2]))
    table.append(rows([3]))
    read = catalog.load_table("sales.orders").scan().to_arrow().sort_by("id")
    assert read.to_pylist() == rows([1, 2, 3]).to_pylist()
    assert catalog.list_tables("sales") == [("sales", "orders")]
    assert catalog.table_exists("sales.orders") and not catalog.table_exists("sales.nope")

    # Glue clients see an Iceberg table in Glue's form, its columns in Hive types.
    glue = srv.client(service="glue")
    got = glue.get_table(DatabaseName="sales", Name="orders")["Table"]
    assert got["TableType"] == "EXTERNAL_TABLE"
    assert got["Parameters"]["table_type"] == "ICEBERG"
    assert got["Parameters"]["metadata_location"] == table.metadata_location
    assert table.metadata_location.startswith(f"s3://{BUCKET}/wh/sales/orders/metadata/00002-")
    assert got["Parameters"]["previous_metadata_location"].startswith(
        f"s3://{BUCKET}/wh/sales/orders/metadata/00001-")
    assert got["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/wh/sales/orders"
    assert [(c["Name"], c["Type"]) for c in got["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"), ("name", "string"), ("price", "double")]
    # The catalog wrote each metadata file to the S3 server, where pyiceberg wrote the data.
    keys = moto.objects(BUCKET).keys()
    assert len([k for k in keys if k.endswith(".metadata.json")]) == 3
    assert any(k.endswith(".parquet") for k in keys)

    # A writer that read the table before another's append retries on CommitFailed (pyiceberg's
    # default) and lands its rows on top.
    first, second = catalog.load_table("sales.orders"), catalog.load_table("sales.orders")
    first.append(rows([4]))
    second.append(rows([5]))
    read = catalog.load_table("sales.orders").scan().to_arrow().sort_by("id")
    assert read.column("id").to_pylist() == [1, 2, 3, 4, 5]

    catalog.drop_table("sales.orders")
    with pytest.raises(NoSuchTableError):
        catalog.load_table("sales.orders")
    catalog.drop_namespace("sales")
    assert ("sales",) not in catalog.list_namespaces()


def test_catalog_errors_are_the_rest_error_model(lake):
    srv, _, catalog = lake
    catalog.create_namespace("ops", {"location": f"s3://{BUCKET}/wh/ops"})
    with pytest.raises(NoSuchTableError):
        catalog.load_table("ops.missing")
    with pytest.raises(NoSuchNamespaceError):
        catalog.load_namespace_properties("nope")
    # Without retries, the writer that lost the race sees the failed requirement.
    catalog.create_table("ops.contested", schema=SCHEMA,
                         properties={"commit.retry.num-retries": "0"})
    with pytest.raises(TableAlreadyExistsError):
        catalog.create_table("ops.contested", schema=SCHEMA)
    first, second = catalog.load_table("ops.contested"), catalog.load_table("ops.contested")
    first.append(rows([1]))
    with pytest.raises(CommitFailedException):
        second.append(rows([2]))
    assert catalog.load_table("ops.contested").scan().to_arrow().column("id").to_pylist() == [1]
    with pytest.raises(NamespaceNotEmptyError):
        catalog.drop_namespace("ops")

    base = f"{srv.endpoint}/iceberg/v1"
    status, body = post(f"{base}/catalogs/{ACCOUNT}/namespaces", b'{"namespace": ["x"')
    assert status == 400
    assert body["error"]["type"] == "BadRequestException" and body["error"]["code"] == 400
    status, body = post(f"{base}/catalogs/{ACCOUNT}/namespaces",
                        json.dumps({"namespace": ["a", "b"]}).encode())
    assert (status, body["error"]["type"]) == (400, "BadRequestException")
    status, body = post(f"{base}/catalogs/111111111111/namespaces",
                        json.dumps({"namespace": ["x"]}).encode())
    assert (status, body["error"]["type"]) == (404, "NoSuchNamespaceException")
    with urllib.request.urlopen(f"{base}/config?warehouse={ACCOUNT}", timeout=10) as response:
        assert json.loads(response.read())["overrides"] == {"prefix": f"catalogs/{ACCOUNT}"}
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{base}/config?warehouse=s3://elsewhere", timeout=10)
    assert e.value.code == 400
