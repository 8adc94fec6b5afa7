"""Managed Service for Apache Flink's control plane end to end: FLINK-* applications through the
KinesisAnalytics_20180523 API with boto3 — creation for every Flink runtime, the configuration
AWS describes (defaults included), updates and versions, StartApplication's restore
configuration, stops with and without snapshots, snapshots, rollbacks, the maintenance window, and
the exact errors for what Freshet refuses (Studio, VPCs, presigned URLs, JAR code). The tests
in the last section need the Flink runner (the embedded engine running the application's Flink SQL)."""

from __future__ import annotations

import io
import random
import time
import zipfile

import botocore.session
import pytest
from botocore.exceptions import ClientError

from firehose_helpers import wait_until
from freshet_e2e import ACCOUNT, REGION, assert_error

ROLE = f"arn:aws:iam::{ACCOUNT}:role/flink"
SQL = (
    "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');\n"
    "CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');\n"
    "INSERT INTO b SELECT id FROM g;"
)
# The same job writing a filtered stream (no state of its own either).
OTHER_SQL = (
    "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');\n"
    "CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');\n"
    "INSERT INTO b SELECT id FROM g WHERE id > 5;"
)
# A job with operator state: counts per 10-second processing-time window.
WINDOW_SQL = (
    "CREATE TABLE g (id BIGINT, ts AS PROCTIME()) WITH ('connector' = 'datagen', 'rows-per-second' = '10');\n"
    "CREATE TABLE c (w TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');\n"
    "INSERT INTO c SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE g, DESCRIPTOR(ts), "
    "INTERVAL '10' SECOND)) GROUP BY window_start, window_end;"
)
FLINK_RUNTIMES = [
    r for r in botocore.session.get_session().get_service_model("kinesisanalyticsv2")
    .shape_for("RuntimeEnvironment").enum if r.startswith("FLINK-")
]


def app_arn(name):
    return f"arn:aws:kinesisanalytics:{REGION}:{ACCOUNT}:application/{name}"


def text_code(sql=SQL):
    return {"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": sql}}


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def ka2(server):
    return server.client(service="kinesisanalyticsv2")


@pytest.fixture
def ka2_nv(server):
    """botocore's own validation off, so bad input reaches the server."""
    return server.client(service="kinesisanalyticsv2", validate=False)


@pytest.fixture
def apps(request, ka2):
    """Unique application names; the applications are deleted after the test (the shared server
    allows 50)."""
    made = []

    def make(prefix="flink"):
        name = f"{prefix}-{request.node.name[:40]}-{random.randrange(1 << 30):x}"
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)[:128]
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            d = ka2.describe_application(ApplicationName=name)["ApplicationDetail"]
            if d["ApplicationStatus"] not in ("READY", "RUNNING"):
                try:
                    ka2.stop_application(ApplicationName=name, Force=True)
                except ClientError:
                    pass
                deadline = time.time() + 10
                while time.time() < deadline and ka2.describe_application(
                        ApplicationName=name)["ApplicationDetail"]["ApplicationStatus"] != "READY":
                    time.sleep(0.05)
            ka2.delete_application(ApplicationName=name, CreateTimestamp=d["CreateTimestamp"])
        except ClientError:
            pass


def create(ka2, name, runtime="FLINK-1_20", code=None, **configuration):
    cfg = {"ApplicationCodeConfiguration": code or text_code()}
    cfg.update(configuration)
    return ka2.create_application(ApplicationName=name, RuntimeEnvironment=runtime,
                                  ServiceExecutionRole=ROLE, ApplicationConfiguration=cfg)["ApplicationDetail"]


def describe(ka2, name):
    return ka2.describe_application(ApplicationName=name)["ApplicationDetail"]


def wait_status(ka2, name, status, timeout=30):
    wait_until(lambda: describe(ka2, name)["ApplicationStatus"] == status, timeout=timeout,
               what=f"{name} {status}")
    return describe(ka2, name)


def snapshot_names(ka2, name):
    return [s["SnapshotName"] for s in ka2.list_application_snapshots(ApplicationName=name)["SnapshotSummaries"]]


def operations(ka2, name):
    return ka2.list_application_operations(ApplicationName=name)["ApplicationOperationInfoList"]


# --------------------------------------------------------------------------- create and describe


@pytest.mark.parametrize("runtime", FLINK_RUNTIMES)
def test_every_flink_runtime_creates_an_application_described_with_aws_defaults(ka2, apps, runtime):
    name = apps()
    d = create(ka2, name, runtime=runtime)
    assert d["ApplicationARN"] == app_arn(name)
    assert d["RuntimeEnvironment"] == runtime
    assert d["ApplicationStatus"] == "READY"
    assert d["ApplicationVersionId"] == 1
    assert d["ApplicationMode"] == "STREAMING"
    assert d["ServiceExecutionRole"] == ROLE
    assert d["ConditionalToken"]
    cfg = d["ApplicationConfigurationDescription"]
    assert cfg["ApplicationCodeConfigurationDescription"] == {
        "CodeContentType": "PLAINTEXT",
        "CodeContentDescription": {"TextContent": SQL, "CodeSize": len(SQL)},
    }
    flink = cfg["FlinkApplicationConfigurationDescription"]
    assert flink["CheckpointConfigurationDescription"] == {
        "ConfigurationType": "DEFAULT", "CheckpointingEnabled": True,
        "CheckpointInterval": 60000, "MinPauseBetweenCheckpoints": 5000}
    assert flink["MonitoringConfigurationDescription"] == {
        "ConfigurationType": "DEFAULT", "MetricsLevel": "APPLICATION", "LogLevel": "INFO"}
    assert flink["ParallelismConfigurationDescription"] == {
        "ConfigurationType": "DEFAULT", "Parallelism": 1, "ParallelismPerKPU": 1,
        "CurrentParallelism": 1, "AutoScalingEnabled": True}
    assert cfg["RunConfigurationDescription"] == {
        "ApplicationRestoreConfigurationDescription": {"ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"},
        "FlinkRunConfigurationDescription": {"AllowNonRestoredState": False}}
    assert cfg["ApplicationSnapshotConfigurationDescription"] == {"SnapshotsEnabled": False}
    assert cfg["ApplicationSystemRollbackConfigurationDescription"] == {"RollbackEnabled": False}
    assert "SqlApplicationConfigurationDescription" not in cfg
    assert describe(ka2, name) == d
    listed = {a["ApplicationName"]: a for a in ka2.list_applications(Limit=50)["ApplicationSummaries"]}
    # The shared server may hold more than a page of applications: page through.
    token = ka2.list_applications(Limit=50).get("NextToken")
    while name not in listed and token:
        page = ka2.list_applications(Limit=50, NextToken=token)
        listed.update({a["ApplicationName"]: a for a in page["ApplicationSummaries"]})
        token = page.get("NextToken")
    assert listed[name] == {"ApplicationName": name, "ApplicationARN": app_arn(name),
                            "ApplicationStatus": "READY", "ApplicationVersionId": 1,
                            "RuntimeEnvironment": runtime, "ApplicationMode": "STREAMING"}


def test_custom_configuration_is_described_as_given(ka2, apps):
    name = apps()
    d = create(
        ka2, name,
        FlinkApplicationConfiguration={
            "CheckpointConfiguration": {"ConfigurationType": "CUSTOM", "CheckpointingEnabled": False,
                                        "CheckpointInterval": 1000, "MinPauseBetweenCheckpoints": 10},
            "MonitoringConfiguration": {"ConfigurationType": "CUSTOM", "MetricsLevel": "TASK", "LogLevel": "DEBUG"},
            "ParallelismConfiguration": {"ConfigurationType": "CUSTOM", "Parallelism": 4,
                                         "ParallelismPerKPU": 2, "AutoScalingEnabled": False},
        },
        EnvironmentProperties={"PropertyGroups": [
            {"PropertyGroupId": "app", "PropertyMap": {"rate": "10", "topic": "t"}}]},
        ApplicationSnapshotConfiguration={"SnapshotsEnabled": True},
        ApplicationSystemRollbackConfiguration={"RollbackEnabled": True},
        ApplicationEncryptionConfiguration={"KeyType": "CUSTOMER_MANAGED_KEY",
                                            "KeyId": "arn:aws:kms:us-east-1:000000000000:key/k"},
    )
    cfg = d["ApplicationConfigurationDescription"]
    flink = cfg["FlinkApplicationConfigurationDescription"]
    assert flink["CheckpointConfigurationDescription"] == {
        "ConfigurationType": "CUSTOM", "CheckpointingEnabled": False,
        "CheckpointInterval": 1000, "MinPauseBetweenCheckpoints": 10}
    assert flink["MonitoringConfigurationDescription"] == {
        "ConfigurationType": "CUSTOM", "MetricsLevel": "TASK", "LogLevel": "DEBUG"}
    assert flink["ParallelismConfigurationDescription"] == {
        "ConfigurationType": "CUSTOM", "Parallelism": 4, "ParallelismPerKPU": 2,
        "CurrentParallelism": 4, "AutoScalingEnabled": False}
    assert cfg["EnvironmentPropertyDescriptions"] == {"PropertyGroupDescriptions": [
        {"PropertyGroupId": "app", "PropertyMap": {"rate": "10", "topic": "t"}}]}
    assert cfg["ApplicationSnapshotConfigurationDescription"] == {"SnapshotsEnabled": True}
    assert cfg["ApplicationSystemRollbackConfigurationDescription"] == {"RollbackEnabled": True}
    assert cfg["ApplicationEncryptionConfigurationDescription"] == {
        "KeyType": "CUSTOMER_MANAGED_KEY", "KeyId": "arn:aws:kms:us-east-1:000000000000:key/k"}


def test_zip_code_inline_and_in_s3_is_described_as_aws_describes_it(server, ka2, apps):
    data = zip_bytes({"job.sql": SQL})
    name = apps()
    d = create(ka2, name, code={"CodeContentType": "ZIPFILE", "CodeContent": {"ZipFileContent": data}})
    content = d["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"]
    assert content["CodeContentType"] == "ZIPFILE"
    assert content["CodeContentDescription"]["CodeSize"] == len(data)
    assert len(content["CodeContentDescription"]["CodeMD5"]) == 32
    assert "TextContent" not in content["CodeContentDescription"]

    name = apps()
    location = {"BucketARN": "arn:aws:s3:::flink-code", "FileKey": "apps/job.zip", "ObjectVersion": "v1"}
    d = create(ka2, name, code={"CodeContentType": "ZIPFILE", "CodeContent": {"S3ContentLocation": location}})
    assert d["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"] == {
        "CodeContentType": "ZIPFILE",
        "CodeContentDescription": {"S3ApplicationCodeLocationDescription": location}}


def test_bad_configuration_is_refused_with_aws_errors(ka2, ka2_nv, apps):
    cases = [
        # The service's own checks.
        (dict(code={"CodeContentType": "PLAINTEXT", "CodeContent": {"ZipFileContent": b"x"}}),
         "InvalidArgumentException", "ZIPFILE"),
        (dict(code={"CodeContentType": "ZIPFILE", "CodeContent": {"TextContent": SQL}}),
         "InvalidArgumentException", "PLAINTEXT"),
        (dict(code={"CodeContentType": "ZIPFILE"}), "InvalidArgumentException", "ZipFileContent"),
        (dict(code={"CodeContentType": "ZIPFILE", "CodeContent": {
            "S3ContentLocation": {"BucketARN": "arn:aws:kinesis:::x", "FileKey": "k"}}}),
         "InvalidArgumentException", "BucketARN"),
        (dict(code=text_code("CREATE TABEL x (id BIGINT);")), "CodeValidationException", "line 1"),
        (dict(EnvironmentProperties={"PropertyGroups": [
            {"PropertyGroupId": "a", "PropertyMap": {"k": "v"}},
            {"PropertyGroupId": "a", "PropertyMap": {"k": "w"}}]}),
         "InvalidArgumentException", "Duplicate PropertyGroupId a"),
        (dict(ApplicationEncryptionConfiguration={"KeyType": "CUSTOMER_MANAGED_KEY"}),
         "InvalidArgumentException", "KeyId"),
        (dict(SqlApplicationConfiguration={"Inputs": []}), "InvalidArgumentException", "SQL-1_0"),
        (dict(VpcConfigurations=[{"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}]),
         "InvalidArgumentException", "VPC"),
        (dict(ZeppelinApplicationConfiguration={"MonitoringConfiguration": {"LogLevel": "INFO"}}),
         "InvalidArgumentException", "ZEPPELIN"),
    ]
    for kwargs, code, words in cases:
        name = apps()
        with pytest.raises(ClientError) as e:
            create(ka2, name, **kwargs)
        assert_error(e, code, lambda m: words in m)
        with pytest.raises(ClientError) as e:
            describe(ka2, name)
        assert_error(e, "ResourceNotFoundException")
    # The model's constraints: one ValidationException listing them.
    model_cases = [
        dict(FlinkApplicationConfiguration={"CheckpointConfiguration": {
            "ConfigurationType": "CUSTOM", "CheckpointInterval": 0}}),
        dict(FlinkApplicationConfiguration={"ParallelismConfiguration": {
            "ConfigurationType": "SOMETIMES"}}),
        dict(FlinkApplicationConfiguration={"ParallelismConfiguration": {
            "ConfigurationType": "CUSTOM", "Parallelism": 0}}),
        dict(EnvironmentProperties={"PropertyGroups": [
            {"PropertyGroupId": f"g{i}", "PropertyMap": {"k": "v"}} for i in range(51)]}),
        dict(EnvironmentProperties={"PropertyGroups": [{"PropertyGroupId": "bad id!", "PropertyMap": {"k": "v"}}]}),
        dict(EnvironmentProperties={"PropertyGroups": [{"PropertyGroupId": "g", "PropertyMap": {}}]}),
        dict(ApplicationSnapshotConfiguration={}),
        dict(code={"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": "x" * 102401}}),
    ]
    for kwargs in model_cases:
        with pytest.raises(ClientError) as e:
            create(ka2_nv, apps(), **kwargs)
        assert_error(e, "ValidationException", lambda m: "validation error" in m)


def test_studio_vpcs_and_presigned_urls_are_refused(ka2, apps):
    with pytest.raises(ClientError) as e:
        ka2.create_application(ApplicationName=apps(), RuntimeEnvironment="ZEPPELIN-FLINK-3_0",
                               ServiceExecutionRole=ROLE)
    assert_error(e, "UnsupportedOperationException", lambda m: "Studio" in m)
    with pytest.raises(ClientError) as e:
        ka2.create_application(ApplicationName=apps(), RuntimeEnvironment="FLINK-1_20",
                               ServiceExecutionRole=ROLE, ApplicationMode="INTERACTIVE")
    assert_error(e, "UnsupportedOperationException", lambda m: "INTERACTIVE" in m)
    name = apps()
    create(ka2, name)
    with pytest.raises(ClientError) as e:
        ka2.create_application_presigned_url(ApplicationName=name, UrlType="FLINK_DASHBOARD_URL")
    assert_error(e, "InvalidArgumentException", lambda m: "dashboard" in m)
    with pytest.raises(ClientError) as e:
        ka2.add_application_vpc_configuration(ApplicationName=name, CurrentApplicationVersionId=1,
                                              VpcConfiguration={"SubnetIds": ["s"], "SecurityGroupIds": ["g"]})
    assert_error(e, "InvalidArgumentException", lambda m: "VPC" in m)
    with pytest.raises(ClientError) as e:
        ka2.delete_application_vpc_configuration(ApplicationName=name, CurrentApplicationVersionId=1,
                                                 VpcConfigurationId="1.1")
    assert_error(e, "InvalidArgumentException", lambda m: "VPC" in m)
    with pytest.raises(ClientError) as e:
        ka2.create_application_presigned_url(ApplicationName="no-such-app", UrlType="FLINK_DASHBOARD_URL")
    assert_error(e, "ResourceNotFoundException")


def test_v1_and_sql_operations_refuse_flink_applications(server, ka2, apps):
    ka = server.client(service="kinesisanalytics")
    name = apps()
    create(ka2, name)
    with pytest.raises(ClientError) as e:
        ka.describe_application(ApplicationName=name)
    assert_error(e, "UnsupportedOperationException", lambda m: "kinesisanalyticsv2" in m)
    with pytest.raises(ClientError) as e:
        ka.start_application(ApplicationName=name, InputConfigurations=[])
    assert_error(e, "UnsupportedOperationException")
    assert name not in [a["ApplicationName"] for a in ka.list_applications(Limit=50)["ApplicationSummaries"]]
    with pytest.raises(ClientError) as e:
        ka2.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1, Output={
            "Name": "X", "KinesisStreamsOutput": {"ResourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"},
            "DestinationSchema": {"RecordFormatType": "JSON"}})
    assert_error(e, "InvalidArgumentException", lambda m: "FLINK-1_20" in m)
    with pytest.raises(ClientError) as e:
        ka2.start_application(ApplicationName=name, RunConfiguration={"SqlRunConfigurations": [
            {"InputId": "1.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}]})
    assert_error(e, "InvalidArgumentException", lambda m: "SqlRunConfigurations" in m)
    # CloudWatch logging options and tags are for every application.
    out = ka2.add_application_cloud_watch_logging_option(
        ApplicationName=name, CurrentApplicationVersionId=1,
        CloudWatchLoggingOption={"LogStreamARN": "arn:aws:logs:us-east-1:0:log-group:g:log-stream:s"})
    assert out["ApplicationVersionId"] == 2
    ka2.tag_resource(ResourceARN=app_arn(name), Tags=[{"Key": "team", "Value": "x"}])
    assert ka2.list_tags_for_resource(ResourceARN=app_arn(name))["Tags"] == [{"Key": "team", "Value": "x"}]


# --------------------------------------------------------------------------- updates and versions


def test_updates_make_versions_checked_by_version_or_conditional_token(server, ka2, ka2_nv, apps):
    name = apps()
    create(ka2, name)
    out = ka2.update_application(
        ApplicationName=name, CurrentApplicationVersionId=1,
        ApplicationConfigurationUpdate={
            "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": OTHER_SQL}},
            "FlinkApplicationConfigurationUpdate": {
                "CheckpointConfigurationUpdate": {"ConfigurationTypeUpdate": "CUSTOM", "CheckpointIntervalUpdate": 5000},
                "ParallelismConfigurationUpdate": {"ConfigurationTypeUpdate": "CUSTOM", "ParallelismUpdate": 2}},
            "EnvironmentPropertyUpdates": {"PropertyGroups": [{"PropertyGroupId": "g", "PropertyMap": {"k": "v"}}]},
            "ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": True},
        },
        RunConfigurationUpdate={"FlinkRunConfiguration": {"AllowNonRestoredState": True},
                                "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}},
    )
    d = out["ApplicationDetail"]
    assert out["OperationId"]
    assert d["ApplicationVersionId"] == 2 and d["ApplicationVersionUpdatedFrom"] == 1
    cfg = d["ApplicationConfigurationDescription"]
    assert cfg["ApplicationCodeConfigurationDescription"]["CodeContentDescription"]["TextContent"] == OTHER_SQL
    flink = cfg["FlinkApplicationConfigurationDescription"]
    assert flink["CheckpointConfigurationDescription"]["CheckpointInterval"] == 5000
    assert flink["ParallelismConfigurationDescription"]["Parallelism"] == 2
    assert cfg["EnvironmentPropertyDescriptions"]["PropertyGroupDescriptions"][0]["PropertyGroupId"] == "g"
    assert cfg["RunConfigurationDescription"] == {
        "ApplicationRestoreConfigurationDescription": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"},
        "FlinkRunConfigurationDescription": {"AllowNonRestoredState": True}}

    # The version check, and ConditionalToken in its place.
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=1, ApplicationConfigurationUpdate={
            "ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": False}})
    assert_error(e, "ConcurrentModificationException", lambda m: "version is 2" in m)
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, ConditionalToken="stale", ApplicationConfigurationUpdate={
            "ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": False}})
    assert_error(e, "ConcurrentModificationException")
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, ApplicationConfigurationUpdate={
            "ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": False}})
    assert_error(e, "InvalidArgumentException", lambda m: "ConditionalToken" in m)
    out = ka2.update_application(ApplicationName=name, ConditionalToken=d["ConditionalToken"],
                                 ApplicationConfigurationUpdate={"ApplicationCodeConfigurationUpdate": {
                                     "CodeContentTypeUpdate": "ZIPFILE",
                                     "CodeContentUpdate": {"ZipFileContentUpdate": zip_bytes({"a.sql": SQL})}}})
    assert out["ApplicationDetail"]["ApplicationVersionId"] == 3
    assert out["ApplicationDetail"]["ConditionalToken"] != d["ConditionalToken"]

    # An in-place upgrade goes forward only; SQL members are refused.
    out = ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=3, RuntimeEnvironmentUpdate="FLINK-2_2")
    assert out["ApplicationDetail"]["RuntimeEnvironment"] == "FLINK-2_2"
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=4, RuntimeEnvironmentUpdate="FLINK-1_15")
    assert_error(e, "InvalidArgumentException", lambda m: "FLINK-1_15" in m)
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=4, ApplicationConfigurationUpdate={
            "SqlApplicationConfigurationUpdate": {"InputUpdates": []}})
    assert_error(e, "InvalidArgumentException", lambda m: "SQL-1_0" in m)
    with pytest.raises(ClientError) as e:
        ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=4, ApplicationConfigurationUpdate={
            "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": "SELEKT"}}})
    assert_error(e, "InvalidArgumentException", lambda m: "PLAINTEXT" in m)
    with pytest.raises(ClientError) as e:
        ka2_nv.update_application(ApplicationName=name, CurrentApplicationVersionId=4, ApplicationConfigurationUpdate={
            "ApplicationSnapshotConfigurationUpdate": {}})
    assert_error(e, "ValidationException")

    versions = ka2.list_application_versions(ApplicationName=name)["ApplicationVersionSummaries"]
    assert [v["ApplicationVersionId"] for v in versions] == [4, 3, 2, 1]
    assert all(v["ApplicationStatus"] == "READY" for v in versions)
    v1 = ka2.describe_application_version(ApplicationName=name, ApplicationVersionId=1)["ApplicationVersionDetail"]
    assert v1["RuntimeEnvironment"] == "FLINK-1_20"
    assert v1["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"][
        "CodeContentDescription"]["TextContent"] == SQL
    v3 = ka2.describe_application_version(ApplicationName=name, ApplicationVersionId=3)["ApplicationVersionDetail"]
    assert v3["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"]["CodeContentType"] == "ZIPFILE"
    ops = operations(ka2, name)
    assert [o["Operation"] for o in ops] == ["UpdateApplication"] * 3
    assert all(o["OperationStatus"] == "SUCCESSFUL" for o in ops)
    op = ka2.describe_application_operation(ApplicationName=name, OperationId=ops[0]["OperationId"])
    assert op["ApplicationOperationInfoDetails"]["ApplicationVersionChangeDetails"] == {
        "ApplicationVersionUpdatedFrom": 3, "ApplicationVersionUpdatedTo": 4}


def test_maintenance_window(ka2, ka2_nv, apps):
    name = apps()
    create(ka2, name)
    out = ka2.update_application_maintenance_configuration(
        ApplicationName=name,
        ApplicationMaintenanceConfigurationUpdate={"ApplicationMaintenanceWindowStartTimeUpdate": "20:30"})
    assert out == {"ApplicationARN": app_arn(name), "ApplicationMaintenanceConfigurationDescription": {
        "ApplicationMaintenanceWindowStartTime": "20:30", "ApplicationMaintenanceWindowEndTime": "04:30"},
        "ResponseMetadata": out["ResponseMetadata"]}
    d = describe(ka2, name)
    assert d["ApplicationMaintenanceConfigurationDescription"]["ApplicationMaintenanceWindowStartTime"] == "20:30"
    assert d["ApplicationVersionId"] == 1
    with pytest.raises(ClientError) as e:
        ka2_nv.update_application_maintenance_configuration(
            ApplicationName=name,
            ApplicationMaintenanceConfigurationUpdate={"ApplicationMaintenanceWindowStartTimeUpdate": "25:00"})
    assert_error(e, "ValidationException")


# --------------------------------------------------------------------------- start, stop, snapshots: errors


def test_start_checks_code_and_restore_configuration(server, ka2, apps):
    jar = apps()
    create(ka2, jar, code={"CodeContentType": "ZIPFILE",
                           "CodeContent": {"ZipFileContent": zip_bytes({"com/x/Job.class": "\xca\xfe"})}})
    with pytest.raises(ClientError) as e:
        ka2.start_application(ApplicationName=jar)
    assert_error(e, "InvalidApplicationConfigurationException",
                 lambda m: ".sql" in m and "[analytics.flink] rest_url" in m)
    assert describe(ka2, jar)["ApplicationStatus"] == "READY"

    missing = apps()
    create(ka2, missing, code={"CodeContentType": "ZIPFILE", "CodeContent": {"S3ContentLocation": {
        "BucketARN": "arn:aws:s3:::flink-code", "FileKey": f"{missing}.zip"}}})
    with pytest.raises(ClientError) as e:
        ka2.start_application(ApplicationName=missing)
    assert_error(e, "InvalidApplicationConfigurationException", lambda m: "does not exist" in m)

    name = apps()
    create(ka2, name)
    with pytest.raises(ClientError) as e:
        ka2.start_application(ApplicationName=name, RunConfiguration={"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": "nope"}})
    assert_error(e, "ResourceNotFoundException", lambda m: "nope" in m)
    with pytest.raises(ClientError) as e:
        ka2.start_application(ApplicationName=name, RunConfiguration={"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT"}})
    assert_error(e, "InvalidArgumentException", lambda m: "SnapshotName" in m)
    assert describe(ka2, name)["ApplicationStatus"] == "READY"
    with pytest.raises(ClientError) as e:
        ka2.stop_application(ApplicationName=name)
    assert_error(e, "ResourceInUseException", lambda m: "READY" in m)
    with pytest.raises(ClientError) as e:
        ka2.stop_application(ApplicationName=name, Force=True)
    assert_error(e, "ResourceInUseException", lambda m: "READY" in m)


def test_snapshot_and_rollback_errors_of_a_stopped_application(ka2, ka2_nv, apps):
    name = apps()
    create(ka2, name, ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    assert ka2.list_application_snapshots(ApplicationName=name)["SnapshotSummaries"] == []
    with pytest.raises(ClientError) as e:
        ka2.create_application_snapshot(ApplicationName=name, SnapshotName="s")
    assert_error(e, "ResourceInUseException", lambda m: "READY" in m)
    with pytest.raises(ClientError) as e:
        ka2.describe_application_snapshot(ApplicationName=name, SnapshotName="s")
    assert_error(e, "ResourceNotFoundException", lambda m: "does not exist" in m)
    with pytest.raises(ClientError) as e:
        ka2.delete_application_snapshot(ApplicationName=name, SnapshotName="s",
                                        SnapshotCreationTimestamp=time.time())
    assert_error(e, "ResourceNotFoundException")
    with pytest.raises(ClientError) as e:
        ka2_nv.create_application_snapshot(ApplicationName=name, SnapshotName="bad name!")
    assert_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        ka2_nv.list_application_snapshots(ApplicationName=name, Limit=51)
    assert_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        ka2.rollback_application(ApplicationName=name, CurrentApplicationVersionId=1)
    assert_error(e, "ResourceInUseException", lambda m: "READY" in m)
    with pytest.raises(ClientError) as e:
        ka2.list_application_snapshots(ApplicationName="no-such-app")
    assert_error(e, "ResourceNotFoundException")


# --------------------------------------------------------------------------- running (needs the Flink runner)


def test_runs_stops_with_a_snapshot_and_resumes_from_it(ka2, apps):
    name = apps()
    create(ka2, name, ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    op = ka2.start_application(ApplicationName=name)["OperationId"]
    wait_status(ka2, name, "RUNNING")
    info = ka2.describe_application_operation(ApplicationName=name, OperationId=op)
    assert info["ApplicationOperationInfoDetails"]["OperationStatus"] == "SUCCESSFUL"

    ka2.create_application_snapshot(ApplicationName=name, SnapshotName="manual-1")
    with pytest.raises(ClientError) as e:
        ka2.create_application_snapshot(ApplicationName=name, SnapshotName="manual-1")
    assert_error(e, "InvalidArgumentException", lambda m: "already exists" in m)
    s = ka2.describe_application_snapshot(ApplicationName=name, SnapshotName="manual-1")["SnapshotDetails"]
    assert s["SnapshotStatus"] == "READY" and s["ApplicationVersionId"] == 1
    assert s["RuntimeEnvironment"] == "FLINK-1_20"

    ka2.stop_application(ApplicationName=name)
    wait_status(ka2, name, "READY")
    names = snapshot_names(ka2, name)
    assert names[0] == "manual-1" and len(names) == 2 and names[1].startswith("ss-"), names
    assert operations(ka2, name)[0]["Operation"] == "StopApplication"
    assert operations(ka2, name)[0]["OperationStatus"] == "SUCCESSFUL"

    # RESTORE_FROM_LATEST_SNAPSHOT by default: resumes from the stop's snapshot.
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "RUNNING")
    # A forced stop takes no snapshot.
    ka2.stop_application(ApplicationName=name, Force=True)
    wait_status(ka2, name, "READY")
    assert len(snapshot_names(ka2, name)) == 2

    page = ka2.list_application_snapshots(ApplicationName=name, Limit=1)
    assert [x["SnapshotName"] for x in page["SnapshotSummaries"]] == ["manual-1"]
    page = ka2.list_application_snapshots(ApplicationName=name, Limit=1, NextToken=page["NextToken"])
    assert len(page["SnapshotSummaries"]) == 1 and "NextToken" not in page
    with pytest.raises(ClientError) as e:
        ka2.delete_application_snapshot(ApplicationName=name, SnapshotName="manual-1",
                                        SnapshotCreationTimestamp=s["SnapshotCreationTimestamp"].timestamp() + 10)
    assert_error(e, "InvalidArgumentException", lambda m: "SnapshotCreationTimestamp" in m)
    ka2.delete_application_snapshot(ApplicationName=name, SnapshotName="manual-1",
                                    SnapshotCreationTimestamp=s["SnapshotCreationTimestamp"])
    assert snapshot_names(ka2, name) == names[1:]

    # A custom snapshot, named.
    ka2.start_application(ApplicationName=name, RunConfiguration={"ApplicationRestoreConfiguration": {
        "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": names[1]}})
    d = wait_status(ka2, name, "RUNNING")
    assert d["ApplicationConfigurationDescription"]["RunConfigurationDescription"][
        "ApplicationRestoreConfigurationDescription"] == {
        "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": names[1]}


def test_snapshots_need_them_enabled(ka2, apps):
    name = apps()
    create(ka2, name)
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "RUNNING")
    with pytest.raises(ClientError) as e:
        ka2.create_application_snapshot(ApplicationName=name, SnapshotName="s")
    assert_error(e, "InvalidApplicationConfigurationException", lambda m: "SnapshotsEnabled" in m)
    ka2.stop_application(ApplicationName=name)
    wait_status(ka2, name, "READY")
    assert snapshot_names(ka2, name) == []


def test_update_of_a_running_application_restarts_it_and_rollback_goes_back(ka2, apps):
    name = apps()
    create(ka2, name, ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    with pytest.raises(ClientError) as e:
        ka2.rollback_application(ApplicationName="no-such-app", CurrentApplicationVersionId=1)
    assert_error(e, "ResourceNotFoundException")
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "RUNNING")
    with pytest.raises(ClientError) as e:
        ka2.rollback_application(ApplicationName=name, CurrentApplicationVersionId=1)
    assert_error(e, "InvalidArgumentException", lambda m: "previous running version" in m)
    out = ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=1, ApplicationConfigurationUpdate={
        "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": SQL.replace("'10'", "'20'")}}},
        RunConfigurationUpdate={"FlinkRunConfiguration": {"AllowNonRestoredState": True}})
    assert out["ApplicationDetail"]["ApplicationStatus"] == "UPDATING"
    wait_status(ka2, name, "RUNNING")
    assert len(snapshot_names(ka2, name)) == 1, "the update snapshots the running version first"
    with pytest.raises(ClientError) as e:
        ka2.rollback_application(ApplicationName=name, CurrentApplicationVersionId=1)
    assert_error(e, "ConcurrentModificationException")

    out = ka2.rollback_application(ApplicationName=name, CurrentApplicationVersionId=2)
    d = out["ApplicationDetail"]
    assert out["OperationId"]
    assert d["ApplicationStatus"] == "ROLLING_BACK" and d["ApplicationVersionId"] == 3
    assert d["ApplicationVersionRolledBackFrom"] == 2 and d["ApplicationVersionRolledBackTo"] == 1
    d = wait_status(ka2, name, "RUNNING")
    assert d["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"][
        "CodeContentDescription"]["TextContent"] == SQL
    versions = ka2.list_application_versions(ApplicationName=name)["ApplicationVersionSummaries"]
    assert [(v["ApplicationVersionId"], v["ApplicationStatus"]) for v in versions] == [
        (3, "RUNNING"), (2, "ROLLED_BACK"), (1, "RUNNING")]
    ops = operations(ka2, name)
    assert [o["Operation"] for o in ops] == ["RollbackApplication", "UpdateApplication", "StartApplication"]
    assert all(o["OperationStatus"] == "SUCCESSFUL" for o in ops), ops


def test_state_that_does_not_fit_the_code_needs_allow_non_restored_state(ka2, apps):
    name = apps()
    create(ka2, name, code=text_code(WINDOW_SQL), ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "RUNNING")
    ka2.stop_application(ApplicationName=name)
    wait_status(ka2, name, "READY")
    # The window's state finds no operator in a job without it.
    ka2.update_application(ApplicationName=name, CurrentApplicationVersionId=1, ApplicationConfigurationUpdate={
        "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": SQL}}})
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "READY")
    failed = operations(ka2, name)[0]
    assert failed["Operation"] == "StartApplication" and failed["OperationStatus"] == "FAILED"
    info = ka2.describe_application_operation(ApplicationName=name, OperationId=failed["OperationId"])
    assert info["ApplicationOperationInfoDetails"]["OperationFailureDetails"]["ErrorInfo"]["ErrorString"]
    ka2.start_application(ApplicationName=name, RunConfiguration={"FlinkRunConfiguration": {"AllowNonRestoredState": True}})
    wait_status(ka2, name, "RUNNING")


def test_code_from_the_embedded_s3_store(server, ka2, apps):
    name = apps()
    bucket = server.data_dir / "s3" / "flink-code"
    bucket.mkdir(parents=True, exist_ok=True)
    (bucket / f"{name}.zip").write_bytes(zip_bytes({"2-insert.sql": "INSERT INTO b SELECT id FROM g;",
                                                    "1-tables.sql": SQL.rsplit("\n", 1)[0]}))
    create(ka2, name, code={"CodeContentType": "ZIPFILE", "CodeContent": {"S3ContentLocation": {
        "BucketARN": "arn:aws:s3:::flink-code", "FileKey": f"{name}.zip"}}})
    ka2.start_application(ApplicationName=name)
    wait_status(ka2, name, "RUNNING")
