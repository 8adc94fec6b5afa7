"""The Glue Data Catalog (databases and tables, the schema source of Firehose's record format
conversion) through boto3 and the AWS CLI: the served operations' happy paths, table versions,
paging, Glue's errors with their messages and statuses, refused calls that leave nothing behind,
and a catalog that survives a restart."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import ACCOUNT, AWS_CLI, assert_error, assert_raw_error, aws_cli

ENABLED_LINE = "failpoints enabled"


def unique(prefix="e2e") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def table_input(name, columns=(("id", "bigint"), ("name", "string")), **extra):
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "Location": "s3://bucket/events/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                          "Parameters": {"serialization.format": "1"}},
        },
        **extra,
    }


def columns_of(table):
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


@pytest.fixture
def glue(server):
    return server.client(service="glue")


@pytest.fixture
def glue_nv(server):
    return server.client(service="glue", validate=False)


@pytest.fixture
def db(glue):
    name = unique("db")
    glue.create_database(DatabaseInput={"Name": name})
    yield name
    try:
        glue.delete_database(Name=name)
    except ClientError:
        pass


# --------------------------------------------------------------------------- databases


def test_database_lifecycle(glue):
    name = unique("Sales")
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    assert glue.create_database(DatabaseInput={
        "Name": name, "Description": "orders and returns", "LocationUri": "s3://lake/sales/",
        "Parameters": {"owner": "data-eng"}})["ResponseMetadata"]["HTTPStatusCode"] == 200

    # Glue keeps names in lowercase, and finds them whatever their case.
    got = glue.get_database(Name=name.upper())["Database"]
    assert got["Name"] == name.lower()
    assert got["Description"] == "orders and returns"
    assert got["LocationUri"] == "s3://lake/sales/"
    assert got["Parameters"] == {"owner": "data-eng"}
    assert got["CatalogId"] == ACCOUNT
    assert before <= got["CreateTime"] <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    assert got["CreateTableDefaultPermissions"] == [
        {"Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}, "Permissions": ["ALL"]}]

    glue.update_database(Name=name, DatabaseInput={"Name": name, "Description": "v2"})
    updated = glue.get_database(Name=name)["Database"]
    assert updated["Description"] == "v2"
    assert "LocationUri" not in updated  # an update replaces the definition
    assert updated["CreateTime"] == got["CreateTime"]

    names = [d["Name"] for p in glue.get_paginator("get_databases").paginate() for d in p["DatabaseList"]]
    assert name.lower() in names

    glue.delete_database(Name=name)
    with pytest.raises(ClientError) as e:
        glue.get_database(Name=name)
    assert_error(e, "EntityNotFoundException", f"Database {name.lower()} not found.")


def test_delete_database_deletes_its_tables(glue):
    name = unique("db")
    glue.create_database(DatabaseInput={"Name": name})
    glue.create_table(DatabaseName=name, TableInput=table_input("t"))
    glue.delete_database(Name=name)
    glue.create_database(DatabaseInput={"Name": name})
    assert glue.get_tables(DatabaseName=name)["TableList"] == []
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=name, Name="t")
    assert_error(e, "EntityNotFoundException", "Table t not found.")
    glue.delete_database(Name=name)


def test_get_databases_pages_in_name_order(server_factory):
    srv = server_factory()
    glue = srv.client(service="glue")
    for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
        glue.create_database(DatabaseInput={"Name": name})
    first = glue.get_databases(MaxResults=2)
    assert [d["Name"] for d in first["DatabaseList"]] == ["alpha", "bravo"]
    second = glue.get_databases(MaxResults=2, NextToken=first["NextToken"])
    assert [d["Name"] for d in second["DatabaseList"]] == ["charlie", "delta"]
    third = glue.get_databases(MaxResults=2, NextToken=second["NextToken"])
    assert [d["Name"] for d in third["DatabaseList"]] == ["echo"]
    assert "NextToken" not in third
    pages = list(glue.get_paginator("get_databases").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["DatabaseList"]) for p in pages] == [3, 2]
    assert glue.get_databases(ResourceShareType="FOREIGN")["DatabaseList"] == []


# --------------------------------------------------------------------------- tables


def test_table_lifecycle(glue, db):
    glue.create_table(DatabaseName=db.upper(), TableInput=table_input(
        "Events", columns=[("id", "bigint"), ("tags", "array<string>"),
                           ("payload", "struct<a:int,b:string>"), ("price", "decimal(10,2)"),
                           ("ts", "timestamp")],
        PartitionKeys=[{"Name": "dt", "Type": "string"}], Description="raw events", Owner="etl",
        Retention=7))
    t = glue.get_table(DatabaseName=db, Name="EVENTS")["Table"]
    assert t["Name"] == "events"
    assert t["DatabaseName"] == db
    assert t["VersionId"] == "0"
    assert t["CatalogId"] == ACCOUNT
    assert t["IsRegisteredWithLakeFormation"] is False
    assert t["CreateTime"] == t["UpdateTime"]
    assert (t["Description"], t["Owner"], t["Retention"], t["TableType"]) == (
        "raw events", "etl", 7, "EXTERNAL_TABLE")
    assert columns_of(t) == [("id", "bigint"), ("tags", "array<string>"),
                             ("payload", "struct<a:int,b:string>"), ("price", "decimal(10,2)"),
                             ("ts", "timestamp")]
    assert t["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    sd = t["StorageDescriptor"]
    assert sd["Location"] == "s3://bucket/events/"
    assert sd["SerdeInfo"]["Parameters"] == {"serialization.format": "1"}
    assert t["Parameters"] == {"classification": "parquet"}

    glue.delete_table(DatabaseName=db, Name="Events")
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=db, Name="events")
    assert_error(e, "EntityNotFoundException", "Table events not found.")


def test_update_table_makes_versions_and_keeps_the_old_ones(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("t", columns=[("a", "int")]))
    created = glue.get_table(DatabaseName=db, Name="t")["Table"]
    glue.update_table(DatabaseName=db, TableInput=table_input("t", columns=[("a", "int"), ("b", "string")]))
    glue.update_table(DatabaseName=db, VersionId="1",
                      TableInput=table_input("t", columns=[("a", "int"), ("b", "string"), ("c", "double")]))

    t = glue.get_table(DatabaseName=db, Name="t")["Table"]
    assert t["VersionId"] == "2"
    assert t["CreateTime"] == created["CreateTime"]
    assert t["UpdateTime"] >= created["UpdateTime"]
    assert columns_of(t) == [("a", "int"), ("b", "string"), ("c", "double")]

    versions = glue.get_table_versions(DatabaseName=db, TableName="t")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["2", "1", "0"]
    assert [len(v["Table"]["StorageDescriptor"]["Columns"]) for v in versions] == [3, 2, 1]

    v1 = glue.get_table_version(DatabaseName=db, TableName="t", VersionId="1")["TableVersion"]
    assert v1["VersionId"] == "1" and columns_of(v1["Table"]) == [("a", "int"), ("b", "string")]
    latest = glue.get_table_version(DatabaseName=db, TableName="t")["TableVersion"]
    assert latest["VersionId"] == "2"

    pages = list(glue.get_paginator("get_table_versions").paginate(
        DatabaseName=db, TableName="t", PaginationConfig={"PageSize": 2}))
    assert [[v["VersionId"] for v in p["TableVersions"]] for p in pages] == [["2", "1"], ["0"]]

    # SkipArchive: the replaced version is not kept.
    glue.update_table(DatabaseName=db, SkipArchive=True, TableInput=table_input("t"))
    versions = glue.get_table_versions(DatabaseName=db, TableName="t")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "1", "0"]


def test_get_tables_pages_and_filters(glue, db):
    for name in ["sales_2024", "sales_2025", "orders", "sales_old", "returns"]:
        glue.create_table(DatabaseName=db, TableInput=table_input(name))
    listed = glue.get_tables(DatabaseName=db)["TableList"]
    assert [t["Name"] for t in listed] == ["orders", "returns", "sales_2024", "sales_2025", "sales_old"]
    assert all(t["DatabaseName"] == db and t["VersionId"] == "0" for t in listed)

    first = glue.get_tables(DatabaseName=db, MaxResults=2)
    assert [t["Name"] for t in first["TableList"]] == ["orders", "returns"]
    rest = glue.get_tables(DatabaseName=db, MaxResults=2, NextToken=first["NextToken"])
    assert [t["Name"] for t in rest["TableList"]] == ["sales_2024", "sales_2025"]
    pages = list(glue.get_paginator("get_tables").paginate(
        DatabaseName=db, PaginationConfig={"PageSize": 2}))
    assert [len(p["TableList"]) for p in pages] == [2, 2, 1]

    assert [t["Name"] for t in glue.get_tables(DatabaseName=db, Expression="sales_20*")["TableList"]] == [
        "sales_2024", "sales_2025"]
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db, Expression="orders|returns")["TableList"]] == [
        "orders", "returns"]


# --------------------------------------------------------------------------- errors


def test_every_error_with_its_message_and_status(server, glue, glue_nv, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("t"))
    cases = [
        (lambda: glue.get_database(Name="no_such_db"),
         "EntityNotFoundException", "Database no_such_db not found."),
        (lambda: glue.delete_database(Name="no_such_db"),
         "EntityNotFoundException", "Database no_such_db not found."),
        (lambda: glue.update_database(Name="no_such_db", DatabaseInput={"Name": "no_such_db"}),
         "EntityNotFoundException", "Database no_such_db not found."),
        (lambda: glue.create_table(DatabaseName="no_such_db", TableInput=table_input("t")),
         "EntityNotFoundException", "Database no_such_db not found."),
        (lambda: glue.get_tables(DatabaseName="no_such_db"),
         "EntityNotFoundException", "Database no_such_db not found."),
        (lambda: glue.get_table(DatabaseName=db, Name="nope"),
         "EntityNotFoundException", "Table nope not found."),
        (lambda: glue.delete_table(DatabaseName=db, Name="nope"),
         "EntityNotFoundException", "Table nope not found."),
        (lambda: glue.update_table(DatabaseName=db, TableInput=table_input("nope")),
         "EntityNotFoundException", "Table nope not found."),
        (lambda: glue.get_table_versions(DatabaseName=db, TableName="nope"),
         "EntityNotFoundException", "Table nope not found."),
        (lambda: glue.get_table_version(DatabaseName=db, TableName="t", VersionId="9"),
         "EntityNotFoundException", "Version not found."),
        (lambda: glue.create_database(DatabaseInput={"Name": db.upper()}),
         "AlreadyExistsException", "Database already exists."),
        (lambda: glue.create_table(DatabaseName=db, TableInput=table_input("T")),
         "AlreadyExistsException", "Table already exists."),
        (lambda: glue.update_table(DatabaseName=db, Name="t", TableInput=table_input("u")),
         "InvalidInputException", "Table cannot be renamed"),
        (lambda: glue.update_database(Name=db, DatabaseInput={"Name": "other"}),
         "InvalidInputException", "Database cannot be renamed"),
        (lambda: glue.get_table_version(DatabaseName=db, TableName="t", VersionId="latest"),
         "InvalidInputException", "Invalid VersionId: latest. It must be a number."),
        (lambda: glue.get_tables(DatabaseName=db, NextToken="not-a-token"),
         "InvalidInputException", "Invalid NextToken."),
        (lambda: glue.update_table(DatabaseName=db, VersionId="5", TableInput=table_input("t")),
         "ConcurrentModificationException", "Update table failed due to concurrent modifications."),
        (lambda: glue_nv.create_database(DatabaseInput={"Name": ""}),
         "ValidationException",
         "1 validation error detected: Value '' at 'databaseInput.name' failed to satisfy constraint: "
         "Member must have length greater than or equal to 1"),
        (lambda: glue.list_crawlers(), "UnknownOperationException", None),
        (lambda: glue.create_partition(DatabaseName=db, TableName="t", PartitionInput={"Values": ["1"]}),
         "UnknownOperationException", None),
    ]
    for call, code, message in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, code, message, status=400)

    # The envelope as the wire carries it.
    raw = server.raw("AWSGlue.GetDatabase", {"Name": "no_such_db"})
    assert_raw_error(raw, "EntityNotFoundException", "Database no_such_db not found.", status=400)
    raw = server.raw("AWSGlue.ListCrawlers", {})
    assert_raw_error(raw, "UnknownOperationException", None, status=400)


def test_refused_calls_leave_nothing_behind(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("t", columns=[("a", "int")],
                                                              Description="first"))
    glue.update_table(DatabaseName=db, TableInput=table_input("t", columns=[("a", "int"), ("b", "int")],
                                                              Description="second"))
    before = glue.get_table(DatabaseName=db, Name="t")["Table"]

    with pytest.raises(ClientError):
        glue.create_table(DatabaseName=db, TableInput=table_input("t", columns=[("z", "string")]))
    with pytest.raises(ClientError):
        glue.update_table(DatabaseName=db, VersionId="0", TableInput=table_input("t", Description="stale"))
    with pytest.raises(ClientError):
        glue.update_table(DatabaseName=db, Name="t", TableInput=table_input("renamed"))
    assert glue.get_table(DatabaseName=db, Name="t")["Table"] == before
    assert [v["VersionId"] for v in glue.get_table_versions(DatabaseName=db, TableName="t")["TableVersions"]] == [
        "1", "0"]
    with pytest.raises(ClientError):
        glue.get_table(DatabaseName=db, Name="renamed")

    missing = unique("db")
    with pytest.raises(ClientError):
        glue.create_table(DatabaseName=missing, TableInput=table_input("t"))
    with pytest.raises(ClientError):
        glue.get_database(Name=missing)

    glue.update_database(Name=db, DatabaseInput={"Name": db, "Description": "kept"})
    with pytest.raises(ClientError):
        glue.create_database(DatabaseInput={"Name": db, "Description": "overwritten?"})
    with pytest.raises(ClientError):
        glue.update_database(Name=db, DatabaseInput={"Name": "renamed_db", "Description": "x"})
    assert glue.get_database(Name=db)["Database"]["Description"] == "kept"


def test_a_failed_catalog_write_is_not_answered_as_done(server_factory):
    # A first start without failures writes the data dir's settings, as test_failpoints.py does.
    srv = server_factory()
    if ENABLED_LINE not in srv.log_path.read_text(errors="replace"):
        srv.kill()
        pytest.skip("the freshet binary was built without the `failpoints` feature")
    glue = srv.client(service="glue")
    glue.create_database(DatabaseInput={"Name": "kept"})
    srv.stop()
    srv.env["FAILPOINTS"] = "catalog::commit=return"
    srv.start()
    glue = srv.client(service="glue")
    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Name": "lost"})
    assert_error(e, "InternalServiceException", "Internal service failure.", status=500)
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName="kept", TableInput=table_input("t"))
    assert_error(e, "InternalServiceException", status=500)
    with pytest.raises(ClientError) as e:
        glue.get_database(Name="lost")
    assert_error(e, "EntityNotFoundException", "Database lost not found.")
    assert glue.get_tables(DatabaseName="kept")["TableList"] == []

    srv.stop()
    del srv.env["FAILPOINTS"]
    srv.start()
    glue = srv.client(service="glue")
    assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["kept"]
    assert glue.get_tables(DatabaseName="kept")["TableList"] == []


# --------------------------------------------------------------------------- durability


def test_the_catalog_survives_a_restart(server_factory):
    srv = server_factory()
    glue = srv.client(service="glue")
    glue.create_database(DatabaseInput={"Name": "lake", "Description": "d"})
    glue.create_database(DatabaseInput={"Name": "dropped"})
    glue.create_table(DatabaseName="lake", TableInput=table_input("events", columns=[("a", "int")]))
    glue.update_table(DatabaseName="lake", TableInput=table_input("events", columns=[("a", "int"), ("b", "string")]))
    glue.create_table(DatabaseName="lake", TableInput=table_input("gone"))
    glue.delete_table(DatabaseName="lake", Name="gone")
    glue.delete_database(Name="dropped")
    database = glue.get_database(Name="lake")["Database"]
    table = glue.get_table(DatabaseName="lake", Name="events")["Table"]
    versions = glue.get_table_versions(DatabaseName="lake", TableName="events")["TableVersions"]

    assert srv.stop() == 0
    srv.start()
    glue = srv.client(service="glue")
    assert glue.get_database(Name="lake")["Database"] == database
    assert glue.get_table(DatabaseName="lake", Name="events")["Table"] == table
    assert glue.get_table_versions(DatabaseName="lake", TableName="events")["TableVersions"] == versions
    assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["lake"]
    assert [t["Name"] for t in glue.get_tables(DatabaseName="lake")["TableList"]] == ["events"]

    # Acknowledged means durable: a SIGKILL right after a change loses nothing.
    glue.update_table(DatabaseName="lake", TableInput=table_input("events", columns=[("c", "double")]))
    srv.kill()
    srv.start()
    glue = srv.client(service="glue")
    t = glue.get_table(DatabaseName="lake", Name="events")["Table"]
    assert t["VersionId"] == "2" and columns_of(t) == [("c", "double")]


# --------------------------------------------------------------------------- AWS CLI


@pytest.fixture
def aws_glue(server, tmp_path):
    if AWS_CLI is None:
        pytest.skip("AWS CLI not installed")
    return aws_cli(server.endpoint, tmp_path, "glue")


def test_cli_databases_and_tables(aws_glue):
    db = unique("cli")
    assert aws_glue("create-database", "--database-input",
                    json.dumps({"Name": db, "Description": "from the cli"})) is None
    assert aws_glue("get-database", "--name", db)["Database"]["Description"] == "from the cli"
    assert db in [d["Name"] for d in aws_glue("get-databases")["DatabaseList"]]

    aws_glue("create-table", "--database-name", db, "--table-input",
             json.dumps(table_input("clicks", columns=[("user", "string"), ("n", "int")])))
    t = aws_glue("get-table", "--database-name", db, "--name", "clicks")["Table"]
    assert t["VersionId"] == "0" and columns_of(t) == [("user", "string"), ("n", "int")]
    # CLI v1 prints the wire's epoch seconds, v2 ISO 8601.
    created = t["CreateTime"]
    assert created > 1.6e9 if isinstance(created, (int, float)) else created[:2] == "20", created

    aws_glue("update-table", "--database-name", db, "--table-input",
             json.dumps(table_input("clicks", columns=[("user", "string")])))
    versions = aws_glue("get-table-versions", "--database-name", db, "--table-name", "clicks")
    assert [v["VersionId"] for v in versions["TableVersions"]] == ["1", "0"]
    assert [t["Name"] for t in aws_glue("get-tables", "--database-name", db)["TableList"]] == ["clicks"]

    proc = aws_glue("get-table", "--database-name", db, "--name", "nope", expect_ok=False)
    assert proc.returncode != 0
    assert ("An error occurred (EntityNotFoundException) when calling the GetTable operation: "
            "Table nope not found.") in proc.stderr
    proc = aws_glue("create-database", "--database-input", json.dumps({"Name": db}), expect_ok=False)
    assert ("An error occurred (AlreadyExistsException) when calling the CreateDatabase operation: "
            "Database already exists.") in proc.stderr

    aws_glue("delete-table", "--database-name", db, "--name", "clicks")
    aws_glue("delete-database", "--name", db)
    proc = aws_glue("get-database", "--name", db, expect_ok=False)
    assert f"Database {db} not found." in proc.stderr
