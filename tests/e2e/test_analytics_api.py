"""Kinesis Data Analytics control plane end to end: the KinesisAnalytics_20150814 API (v1) and
the SQL view of KinesisAnalytics_20180523 (v2) through boto3: applications, versions, inputs,
outputs, reference data, logging options, tags, paging, schema discovery, restarts. Running the
SQL is not tested here (test_analytics_run.py does)."""

from __future__ import annotations

import json
import random
import time

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import ACCOUNT, REGION, assert_error, create_stream, stream_arn

ROLE = f"arn:aws:iam::{ACCOUNT}:role/kda"
CODE = (
    'CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(4), price DOUBLE);\n'
    'CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST" '
    'SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001";'
)
SCHEMA = {
    "RecordFormat": {
        "RecordFormatType": "JSON",
        "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}},
    },
    "RecordEncoding": "UTF-8",
    "RecordColumns": [
        {"Name": "ticker", "Mapping": "$.ticker", "SqlType": "VARCHAR(4)"},
        {"Name": "price", "Mapping": "$.price", "SqlType": "DOUBLE"},
    ],
}


def app_arn(name):
    return f"arn:aws:kinesisanalytics:{REGION}:{ACCOUNT}:application/{name}"


@pytest.fixture
def ka(server):
    return server.client(service="kinesisanalytics")


@pytest.fixture
def ka2(server):
    return server.client(service="kinesisanalyticsv2")


@pytest.fixture
def kinesis(server):
    return server.client()


@pytest.fixture
def names(request):
    def make(prefix="app"):
        name = f"{prefix}-{request.node.name[:24]}-{random.randrange(1 << 30):x}"
        return "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)[:128]

    return make


@pytest.fixture
def source(kinesis, names):
    name = names("src")
    create_stream(kinesis, name, 1)
    return name


def kinesis_input(stream, prefix="SOURCE_SQL_STREAM"):
    return {
        "NamePrefix": prefix,
        "KinesisStreamsInput": {"ResourceARN": stream_arn(stream), "RoleARN": ROLE},
        "InputSchema": SCHEMA,
    }


def kinesis_output(stream, name="DEST"):
    return {
        "Name": name,
        "KinesisStreamsOutput": {"ResourceARN": stream_arn(stream), "RoleARN": ROLE},
        "DestinationSchema": {"RecordFormatType": "JSON"},
    }


def describe(ka, name):
    return ka.describe_application(ApplicationName=name)["ApplicationDetail"]


def wait_status(ka, name, status, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        detail = describe(ka, name)
        if detail["ApplicationStatus"] == status:
            return detail
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {status}: {describe(ka, name)['ApplicationStatus']}")


# --------------------------------------------------------------------------- v1: create and describe


def test_create_describe_list_delete(ka, source, names):
    name = names()
    out = ka.create_application(
        ApplicationName=name,
        ApplicationDescription="demo",
        Inputs=[kinesis_input(source)],
        Outputs=[kinesis_output(source)],
        CloudWatchLoggingOptions=[{"LogStreamARN": "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s", "RoleARN": ROLE}],
        ApplicationCode=CODE,
        Tags=[{"Key": "team", "Value": "data"}],
    )
    assert out["ApplicationSummary"] == {
        "ApplicationName": name,
        "ApplicationARN": app_arn(name),
        "ApplicationStatus": "READY",
    }
    d = describe(ka, name)
    assert d["ApplicationVersionId"] == 1
    assert d["ApplicationDescription"] == "demo"
    assert d["ApplicationCode"] == CODE
    [i] = d["InputDescriptions"]
    assert i["InputId"] == "1.1"
    assert i["InAppStreamNames"] == ["SOURCE_SQL_STREAM_001"]
    assert i["InputParallelism"] == {"Count": 1}
    assert i["KinesisStreamsInputDescription"] == {"ResourceARN": stream_arn(source), "RoleARN": ROLE}
    assert i["InputSchema"] == SCHEMA
    assert d["OutputDescriptions"][0]["OutputId"] == "1.1"
    assert d["CloudWatchLoggingOptionDescriptions"][0]["CloudWatchLoggingOptionId"] == "1.1"
    assert d["ReferenceDataSourceDescriptions"] == []
    names_listed = [a["ApplicationName"] for a in ka.list_applications(Limit=50)["ApplicationSummaries"]]
    assert name in names_listed

    with pytest.raises(ClientError) as e:
        ka.delete_application(ApplicationName=name, CreateTimestamp=d["CreateTimestamp"].timestamp() + 5)
    assert_error(e, "InvalidArgumentException")
    ka.delete_application(ApplicationName=name, CreateTimestamp=d["CreateTimestamp"])
    with pytest.raises(ClientError) as e:
        describe(ka, name)
    assert_error(e, "ResourceNotFoundException", f"Application {name} is not found under account {ACCOUNT}.")


def test_create_refuses_bad_configurations(ka, source, names):
    name = names()
    ka.create_application(ApplicationName=name)
    with pytest.raises(ClientError) as e:
        ka.create_application(ApplicationName=name)
    assert_error(e, "ResourceInUseException", f"Application {name} already exists under account {ACCOUNT}.")

    cases = [
        (dict(ApplicationCode="CREATE OR REPLACE STREM x;"), "CodeValidationException"),
        (dict(Inputs=[kinesis_input(source), kinesis_input(source, "OTHER")]), "InvalidArgumentException"),
        (dict(Inputs=[kinesis_input("no-such-stream")]), "InvalidArgumentException"),
        (dict(Outputs=[kinesis_output(source, f"O{i}") for i in range(4)]), "InvalidArgumentException"),
        (dict(Inputs=[dict(kinesis_input(source), InputParallelism={"Count": 65})]), None),
        (dict(Inputs=[dict(kinesis_input(source), InputProcessingConfiguration={
            "InputLambdaProcessor": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:f", "RoleARN": ROLE}})]),
         "InvalidArgumentException"),
        (dict(Outputs=[{"Name": "DEST", "LambdaOutput": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:f", "RoleARN": ROLE},
                        "DestinationSchema": {"RecordFormatType": "JSON"}}]), "InvalidArgumentException"),
        (dict(Inputs=[dict(kinesis_input(source), InputSchema=dict(SCHEMA, RecordColumns=[{"Name": "a", "SqlType": "NOPE"}]))]),
         "InvalidArgumentException"),
        (dict(Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]), "TooManyTagsException"),
    ]
    for kwargs, code in cases:
        bad = names("bad")
        with pytest.raises(ClientError) as e:
            ka.create_application(ApplicationName=bad, **kwargs)
        err = e.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, kwargs
        if code:
            assert err["Error"]["Code"] == code, (kwargs, err["Error"])
        # Nothing half-created.
        with pytest.raises(ClientError):
            describe(ka, bad)


def test_code_validation_names_line_and_column(ka, names):
    with pytest.raises(ClientError) as e:
        ka.create_application(ApplicationName=names(), ApplicationCode="CREATE OR REPLACE STREAM \"S\" (a INTEGER);\nSELEC x;")
    msg = assert_error(e, "CodeValidationException")
    assert "line 2" in msg, msg


def test_model_constraints_are_validation_errors(server, names):
    ka = server.client(service="kinesisanalytics", validate=False)
    with pytest.raises(ClientError) as e:
        ka.create_application(ApplicationName="bad name!")
    assert_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        ka.create_application(ApplicationName=names(), ApplicationCode="x" * 102401)
    assert_error(e, "ValidationException")


# --------------------------------------------------------------------------- v1: changes and versions


def test_changes_bump_the_version_and_stale_versions_are_refused(ka, source, names, kinesis):
    name = names()
    ka.create_application(ApplicationName=name, Inputs=[kinesis_input(source)])
    ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1, Output=kinesis_output(source))
    d = describe(ka, name)
    assert d["ApplicationVersionId"] == 2
    assert d["OutputDescriptions"][0]["OutputId"] == "2.1"

    with pytest.raises(ClientError) as e:
        ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1, Output=kinesis_output(source, "X"))
    assert_error(e, "ConcurrentModificationException")

    # A refused change leaves the version and the configuration as they were.
    with pytest.raises(ClientError) as e:
        ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=2, Output=kinesis_output("gone", "X"))
    assert_error(e, "InvalidArgumentException")
    assert describe(ka, name)["ApplicationVersionId"] == 2
    assert len(describe(ka, name)["OutputDescriptions"]) == 1

    ka.update_application(ApplicationName=name, CurrentApplicationVersionId=2, ApplicationUpdate={
        "ApplicationCodeUpdate": CODE,
        "InputUpdates": [{"InputId": "1.1", "NamePrefixUpdate": "IN", "InputParallelismUpdate": {"CountUpdate": 2}}],
        "OutputUpdates": [{"OutputId": "2.1", "DestinationSchemaUpdate": {"RecordFormatType": "CSV"}}],
    })
    d = describe(ka, name)
    assert d["ApplicationVersionId"] == 3
    assert d["ApplicationCode"] == CODE
    assert d["InputDescriptions"][0]["InAppStreamNames"] == ["IN_001", "IN_002"]
    assert d["OutputDescriptions"][0]["DestinationSchema"] == {"RecordFormatType": "CSV"}

    with pytest.raises(ClientError) as e:
        ka.update_application(ApplicationName=name, CurrentApplicationVersionId=3,
                              ApplicationUpdate={"ApplicationCodeUpdate": "SELEKT;"})
    assert_error(e, "CodeValidationException")
    with pytest.raises(ClientError) as e:
        ka.update_application(ApplicationName=name, CurrentApplicationVersionId=3,
                              ApplicationUpdate={"OutputUpdates": [{"OutputId": "9.9", "NameUpdate": "X"}]})
    assert_error(e, "ResourceNotFoundException")
    assert describe(ka, name)["ApplicationVersionId"] == 3

    ka.delete_application_output(ApplicationName=name, CurrentApplicationVersionId=3, OutputId="2.1")
    with pytest.raises(ClientError) as e:
        ka.delete_application_output(ApplicationName=name, CurrentApplicationVersionId=4, OutputId="2.1")
    assert_error(e, "ResourceNotFoundException")
    assert describe(ka, name)["OutputDescriptions"] == []


def test_input_reference_and_logging_options(ka, source, names):
    name = names()
    ka.create_application(ApplicationName=name)
    ka.add_application_input(ApplicationName=name, CurrentApplicationVersionId=1, Input=kinesis_input(source))
    assert describe(ka, name)["InputDescriptions"][0]["InputId"] == "2.1"
    with pytest.raises(ClientError) as e:
        ka.add_application_input(ApplicationName=name, CurrentApplicationVersionId=2, Input=kinesis_input(source, "B"))
    assert_error(e, "InvalidArgumentException")

    ref = {
        "TableName": "REF",
        "S3ReferenceDataSource": {"BucketARN": "arn:aws:s3:::refs", "FileKey": "t.csv", "ReferenceRoleARN": ROLE},
        "ReferenceSchema": {
            "RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {
                "CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}},
            "RecordColumns": [{"Name": "k", "SqlType": "VARCHAR(8)"}, {"Name": "v", "SqlType": "INTEGER"}],
        },
    }
    ka.add_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=2, ReferenceDataSource=ref)
    d = describe(ka, name)
    [r] = d["ReferenceDataSourceDescriptions"]
    assert r["ReferenceId"] == "3.1" and r["TableName"] == "REF"
    assert r["S3ReferenceDataSourceDescription"]["FileKey"] == "t.csv"
    with pytest.raises(ClientError) as e:
        ka.add_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=3,
                                                 ReferenceDataSource=dict(ref, TableName="OTHER"))
    assert_error(e, "InvalidArgumentException")
    ka.delete_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=3, ReferenceId="3.1")

    lambda_proc = {"InputLambdaProcessor": {"ResourceARN": "arn:aws:lambda:us-east-1:1:function:f", "RoleARN": ROLE}}
    with pytest.raises(ClientError) as e:
        ka.add_application_input_processing_configuration(ApplicationName=name, CurrentApplicationVersionId=4,
                                                          InputId="2.1", InputProcessingConfiguration=lambda_proc)
    assert_error(e, "InvalidArgumentException", lambda m: "not supported by Freshet" in m)
    with pytest.raises(ClientError) as e:
        ka.add_application_input_processing_configuration(ApplicationName=name, CurrentApplicationVersionId=4,
                                                          InputId="7.7", InputProcessingConfiguration=lambda_proc)
    assert_error(e, "ResourceNotFoundException")
    with pytest.raises(ClientError) as e:
        ka.delete_application_input_processing_configuration(ApplicationName=name, CurrentApplicationVersionId=4, InputId="2.1")
    assert_error(e, "ResourceNotFoundException")

    log = "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"
    ka.add_application_cloud_watch_logging_option(ApplicationName=name, CurrentApplicationVersionId=4,
                                                  CloudWatchLoggingOption={"LogStreamARN": log, "RoleARN": ROLE})
    d = describe(ka, name)
    assert d["ApplicationVersionId"] == 5
    [c] = d["CloudWatchLoggingOptionDescriptions"]
    assert c == {"CloudWatchLoggingOptionId": "5.1", "LogStreamARN": log, "RoleARN": ROLE}
    ka.delete_application_cloud_watch_logging_option(ApplicationName=name, CurrentApplicationVersionId=5,
                                                     CloudWatchLoggingOptionId="5.1")
    assert describe(ka, name)["CloudWatchLoggingOptionDescriptions"] == []
    with pytest.raises(ClientError) as e:
        ka.add_application_output(ApplicationName="missing-app", CurrentApplicationVersionId=1, Output=kinesis_output(source))
    assert_error(e, "ResourceNotFoundException")


def test_tags(ka, names):
    name = names()
    ka.create_application(ApplicationName=name, Tags=[{"Key": "a", "Value": "1"}])
    arn = app_arn(name)
    ka.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}])
    assert ka.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    ka.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert ka.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        ka.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert_error(e, "TooManyTagsException")
    with pytest.raises(ClientError) as e:
        ka.tag_resource(ResourceARN=arn, Tags=[{"Key": "aws:x", "Value": "v"}])
    assert_error(e, "InvalidArgumentException")
    assert len(ka.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 1
    with pytest.raises(ClientError) as e:
        ka.list_tags_for_resource(ResourceARN=app_arn("nope"))
    assert_error(e, "ResourceNotFoundException")
    # Tags are no configuration: the version stays.
    assert describe(ka, name)["ApplicationVersionId"] == 1


def test_list_pages(server_factory):
    srv = server_factory()
    ka = srv.client(service="kinesisanalytics")
    for i in range(5):
        ka.create_application(ApplicationName=f"app{i}")
    page = ka.list_applications(Limit=2)
    assert [a["ApplicationName"] for a in page["ApplicationSummaries"]] == ["app0", "app1"]
    assert page["HasMoreApplications"] is True
    page = ka.list_applications(Limit=2, ExclusiveStartApplicationName="app3")
    assert [a["ApplicationName"] for a in page["ApplicationSummaries"]] == ["app4"]
    assert page["HasMoreApplications"] is False
    ka2 = srv.client(service="kinesisanalyticsv2")
    page = ka2.list_applications(Limit=3)
    assert len(page["ApplicationSummaries"]) == 3 and page["NextToken"] == "app2"
    page = ka2.list_applications(Limit=3, NextToken=page["NextToken"])
    assert [a["ApplicationName"] for a in page["ApplicationSummaries"]] == ["app3", "app4"]
    assert "NextToken" not in page


def test_start_and_stop_guard_their_status(ka, source, names):
    name = names()
    ka.create_application(ApplicationName=name)
    with pytest.raises(ClientError) as e:
        ka.start_application(ApplicationName=name, InputConfigurations=[])
    assert_error(e, "InvalidApplicationConfigurationException")
    with pytest.raises(ClientError) as e:
        ka.stop_application(ApplicationName=name)
    assert_error(e, "ResourceInUseException")
    ka.add_application_input(ApplicationName=name, CurrentApplicationVersionId=1, Input=kinesis_input(source))
    with pytest.raises(ClientError) as e:
        ka.start_application(ApplicationName=name, InputConfigurations=[
            {"Id": "9.9", "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}])
    assert_error(e, "InvalidArgumentException")
    assert describe(ka, name)["ApplicationStatus"] == "READY"


# --------------------------------------------------------------------------- discovery


def test_discover_json_from_a_stream(ka, kinesis, source):
    for i in range(5):
        kinesis.put_record(StreamName=source, PartitionKey="k",
                           Data=json.dumps({"ticker": "AMZN", "price": 10.5 + i, "n": i, "at": "2024-01-02 03:04:05"}))
    out = ka.discover_input_schema(ResourceARN=stream_arn(source), RoleARN=ROLE,
                                   InputStartingPositionConfiguration={"InputStartingPosition": "TRIM_HORIZON"})
    s = out["InputSchema"]
    assert s["RecordFormat"] == {"RecordFormatType": "JSON",
                                 "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}}
    assert s["RecordEncoding"] == "UTF-8"
    # Columns come in key order (AWS keeps the document's order; see the report).
    assert sorted((c["Name"], c["Mapping"], c["SqlType"]) for c in s["RecordColumns"]) == [
        ("at", "$.at", "TIMESTAMP"), ("n", "$.n", "INTEGER"), ("price", "$.price", "REAL"),
        ("ticker", "$.ticker", "VARCHAR(4)")]
    assert len(out["RawInputRecords"]) == 5
    columns = [c["Name"] for c in s["RecordColumns"]]
    assert out["ParsedInputRecords"][0][columns.index("ticker")] == "AMZN"
    assert out["ProcessedInputRecords"] == out["RawInputRecords"]


def test_discover_csv_and_nothing(ka, ka2, kinesis, source, names):
    for i in range(3):
        kinesis.put_record(StreamName=source, PartitionKey="k", Data=f"x{i},{i},true")
    out = ka2.discover_input_schema(ResourceARN=stream_arn(source), ServiceExecutionRole=ROLE,
                                    InputStartingPositionConfiguration={"InputStartingPosition": "TRIM_HORIZON"})
    s = out["InputSchema"]
    assert s["RecordFormat"]["RecordFormatType"] == "CSV"
    assert s["RecordFormat"]["MappingParameters"]["CSVMappingParameters"] == {
        "RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}
    assert [(c["Name"], c["SqlType"]) for c in s["RecordColumns"]] == [
        ("COL1", "VARCHAR(2)"), ("COL2", "INTEGER"), ("COL3", "BOOLEAN")]

    empty = names("empty")
    create_stream(kinesis, empty, 1)
    with pytest.raises(ClientError) as e:
        ka.discover_input_schema(ResourceARN=stream_arn(empty), RoleARN=ROLE)
    assert_error(e, "UnableToDetectSchemaException")
    body = e.value.response
    assert body.get("RawInputRecords", []) == []
    with pytest.raises(ClientError) as e:
        ka.discover_input_schema(ResourceARN=stream_arn("nope"), RoleARN=ROLE)
    assert_error(e, "InvalidArgumentException")


def test_discover_from_an_s3_object(server, ka):
    root = server.data_dir / "s3" / "refs"
    root.mkdir(parents=True, exist_ok=True)
    (root / "prices.csv").write_text("AMZN|10.5\nMSFT|2\n")
    out = ka.discover_input_schema(S3Configuration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::refs",
                                                    "FileKey": "prices.csv"})
    s = out["InputSchema"]
    assert s["RecordFormat"]["MappingParameters"]["CSVMappingParameters"]["RecordColumnDelimiter"] == "|"
    assert [c["SqlType"] for c in s["RecordColumns"]] == ["VARCHAR(4)", "REAL"]
    with pytest.raises(ClientError) as e:
        ka.discover_input_schema(S3Configuration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::refs",
                                                  "FileKey": "missing.csv"})
    assert_error(e, "ResourceNotFoundException")


# --------------------------------------------------------------------------- v2


def test_v2_and_v1_views_of_one_application(ka, ka2, source, names):
    name = names()
    detail = ka2.create_application(
        ApplicationName=name, RuntimeEnvironment="SQL-1_0", ServiceExecutionRole=ROLE,
        ApplicationConfiguration={
            "SqlApplicationConfiguration": {"Inputs": [{
                "NamePrefix": "SOURCE_SQL_STREAM",
                "KinesisStreamsInput": {"ResourceARN": stream_arn(source)},
                "InputSchema": SCHEMA}]},
            "ApplicationCodeConfiguration": {"CodeContent": {"TextContent": CODE}, "CodeContentType": "PLAINTEXT"},
        },
    )["ApplicationDetail"]
    assert detail["ApplicationARN"] == app_arn(name)
    assert detail["RuntimeEnvironment"] == "SQL-1_0"
    assert detail["ApplicationMode"] == "STREAMING"
    assert detail["ServiceExecutionRole"] == ROLE
    cfg = detail["ApplicationConfigurationDescription"]
    assert cfg["ApplicationCodeConfigurationDescription"]["CodeContentDescription"]["TextContent"] == CODE
    assert cfg["SqlApplicationConfigurationDescription"]["InputDescriptions"][0]["InputId"] == "1.1"

    v1 = describe(ka, name)
    assert v1["ApplicationCode"] == CODE and v1["InputDescriptions"][0]["InputId"] == "1.1"

    out = ka2.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1,
                                     Output={"Name": "DEST", "KinesisStreamsOutput": {"ResourceARN": stream_arn(source)},
                                             "DestinationSchema": {"RecordFormatType": "JSON"}})
    assert out["ApplicationVersionId"] == 2 and out["OutputDescriptions"][0]["OutputId"] == "2.1"
    out = ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=2, ApplicationConfigurationUpdate={
        "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": CODE + "\n"}}})
    assert out["ApplicationDetail"]["ApplicationVersionId"] == 3
    assert describe(ka, name)["ApplicationCode"] == CODE + "\n"

    versions = ka2.list_application_versions(ApplicationName=name)["ApplicationVersionSummaries"]
    assert [v["ApplicationVersionId"] for v in versions] == [3, 2, 1]
    v1_detail = ka2.describe_application_version(ApplicationName=name, ApplicationVersionId=1)["ApplicationVersionDetail"]
    assert v1_detail["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"]["OutputDescriptions"] == []
    with pytest.raises(ClientError) as e:
        ka2.describe_application_version(ApplicationName=name, ApplicationVersionId=99)
    assert_error(e, "ResourceNotFoundException")

    ops = ka2.list_application_operations(ApplicationName=name)["ApplicationOperationInfoList"]
    assert [o["Operation"] for o in ops] == ["UpdateApplication", "AddApplicationOutput"]
    assert all(o["OperationStatus"] == "SUCCESSFUL" for o in ops)
    op = ka2.describe_application_operation(ApplicationName=name, OperationId=ops[0]["OperationId"])
    assert op["ApplicationOperationInfoDetails"]["ApplicationVersionChangeDetails"] == {
        "ApplicationVersionUpdatedFrom": 2, "ApplicationVersionUpdatedTo": 3}

    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=1, ApplicationConfigurationUpdate={
            "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": CODE}}})
    assert_error(e, "ConcurrentModificationException")

    created = ka2.describe_application(ApplicationName=name)["ApplicationDetail"]["CreateTimestamp"]
    ka2.delete_application(ApplicationName=name, CreateTimestamp=created)
    with pytest.raises(ClientError) as e:
        describe(ka, name)
    assert_error(e, "ResourceNotFoundException")


def test_v2_refuses_what_sql_applications_do_not_have(ka2, names):
    with pytest.raises(ClientError) as e:
        ka2.create_application(ApplicationName=names(), RuntimeEnvironment="ZEPPELIN-FLINK-3_0", ServiceExecutionRole=ROLE)
    assert_error(e, "UnsupportedOperationException", lambda m: "Studio" in m)
    with pytest.raises(ClientError) as e:
        ka2.create_application(ApplicationName=names(), RuntimeEnvironment="SQL-1_0", ServiceExecutionRole=ROLE,
                               ApplicationMode="INTERACTIVE")
    assert_error(e, "UnsupportedOperationException")
    name = names()
    ka2.create_application(ApplicationName=name, RuntimeEnvironment="SQL-1_0", ServiceExecutionRole=ROLE)
    with pytest.raises(ClientError) as e:
        ka2.create_application_snapshot(ApplicationName=name, SnapshotName="s")
    assert_error(e, "UnsupportedOperationException")
    with pytest.raises(ClientError) as e:
        ka2.list_application_snapshots(ApplicationName=name)
    assert_error(e, "UnsupportedOperationException")
    with pytest.raises(ClientError) as e:
        ka2.rollback_application(ApplicationName=name, CurrentApplicationVersionId=1)
    assert_error(e, "UnsupportedOperationException")
    with pytest.raises(ClientError) as e:
        ka2.add_application_vpc_configuration(ApplicationName=name, CurrentApplicationVersionId=1,
                                              VpcConfiguration={"SubnetIds": ["s"], "SecurityGroupIds": ["g"]})
    assert_error(e, "InvalidArgumentException")
    with pytest.raises(ClientError) as e:
        ka2.create_application_presigned_url(ApplicationName=name, UrlType="FLINK_DASHBOARD_URL")
    assert_error(e, "InvalidArgumentException")


# --------------------------------------------------------------------------- restarts


def test_applications_survive_a_restart(server_factory):
    srv = server_factory()
    kinesis = srv.client()
    create_stream(kinesis, "src", 1)
    ka = srv.client(service="kinesisanalytics")
    ka.create_application(ApplicationName="kept", Inputs=[kinesis_input("src")], ApplicationCode=CODE,
                          Tags=[{"Key": "a", "Value": "b"}])
    ka.add_application_output(ApplicationName="kept", CurrentApplicationVersionId=1, Output=kinesis_output("src"))
    before = describe(ka, "kept")
    srv.restart()
    ka = srv.client(service="kinesisanalytics")
    after = describe(ka, "kept")
    assert after == before
    assert ka.list_tags_for_resource(ResourceARN=app_arn("kept"))["Tags"] == [{"Key": "a", "Value": "b"}]
    ka2 = srv.client(service="kinesisanalyticsv2")
    assert [v["ApplicationVersionId"] for v in
            ka2.list_application_versions(ApplicationName="kept")["ApplicationVersionSummaries"]] == [2, 1]
    ka.delete_application(ApplicationName="kept", CreateTimestamp=after["CreateTimestamp"])
    srv.restart()
    assert srv.client(service="kinesisanalytics").list_applications()["ApplicationSummaries"] == []
