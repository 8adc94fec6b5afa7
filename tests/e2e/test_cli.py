"""The AWS CLI against Freshet with --endpoint-url: the commands an operator types."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import pytest

from freshet_e2e import AWS_CLI, REGION, aws_cli, stream_arn

AWS = AWS_CLI
pytestmark = pytest.mark.skipif(AWS is None, reason="AWS CLI not installed")


def cli_major_version() -> int:
    out = subprocess.run([AWS, "--version"], capture_output=True, text=True, timeout=60)
    text = (out.stdout or out.stderr).strip()  # "aws-cli/1.45.11 Python/3.11.7 ..."
    return int(text.split("/")[1].split(".")[0])


@pytest.fixture(scope="module")
def cli_v2():
    return AWS is not None and cli_major_version() >= 2


@pytest.fixture
def aws(server, tmp_path):
    return aws_cli(server.endpoint, tmp_path, "kinesis", AWS_RETRY_MODE="standard")


def test_cli_stream_lifecycle(aws, cli_v2, stream_name):
    assert aws("create-stream", "--stream-name", stream_name, "--shard-count", "2") is None
    # With 0 ms create delay the first poll already sees ACTIVE, so the waiter returns at once.
    assert aws("wait", "stream-exists", "--stream-name", stream_name) is None

    summary = aws("describe-stream-summary", "--stream-name", stream_name)["StreamDescriptionSummary"]
    assert summary["StreamName"] == stream_name
    assert summary["StreamARN"] == stream_arn(stream_name)
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2

    listed = aws("list-streams", "--exclusive-start-stream-name", stream_name[:-1], "--limit", "1")
    assert listed["StreamNames"] == [stream_name]

    payload = b"hello from the cli"
    # CLI v1 sends the argument's bytes; v2 expects base64 unless told otherwise.
    data_args = (["--cli-binary-format", "raw-in-base64-out"] if cli_v2 else [])
    put = aws("put-record", "--stream-name", stream_name, "--partition-key", "cli-key",
              "--explicit-hash-key", "0", "--data", payload.decode(), *data_args)
    assert put["ShardId"] == "shardId-000000000000"
    assert put["SequenceNumber"].isdigit()

    it = aws("get-shard-iterator", "--stream-name", stream_name, "--shard-id", "shardId-000000000000",
             "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    records = aws("get-records", "--shard-iterator", it)
    assert len(records["Records"]) == 1
    rec = records["Records"][0]
    assert base64.b64decode(rec["Data"]) == payload  # the CLI prints blobs base64-encoded
    assert rec["PartitionKey"] == "cli-key"
    assert rec["SequenceNumber"] == put["SequenceNumber"]
    assert records["NextShardIterator"]

    it = aws("get-shard-iterator", "--stream-name", stream_name, "--shard-id", "shardId-000000000000",
             "--shard-iterator-type", "AFTER_SEQUENCE_NUMBER",
             "--starting-sequence-number", put["SequenceNumber"])["ShardIterator"]
    assert aws("get-records", "--shard-iterator", it)["Records"] == []

    assert aws("delete-stream", "--stream-name", stream_name) is None
    aws("wait", "stream-not-exists", "--stream-name", stream_name)
    proc = aws("describe-stream-summary", "--stream-name", stream_name, expect_ok=False)
    assert proc.returncode != 0
    assert "ResourceNotFoundException" in proc.stderr
    assert f"Stream {stream_name} under account 000000000000 not found." in proc.stderr


def test_cli_reports_validation_errors(aws, name_factory):
    proc = aws("create-stream", "--stream-name", "not valid!", "--shard-count", "1", expect_ok=False)
    assert proc.returncode != 0
    assert "ValidationException" in proc.stderr
    assert "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+" in proc.stderr


def test_cli_firehose_smoke(server, tmp_path, cli_v2):
    """`aws firehose` against the same port: create, put, describe, deliver, delete."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDCLI", "AWS_SECRET_ACCESS_KEY": "cli-secret",
           "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
           "AWS_CONFIG_FILE": str(tmp_path / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}

    def fh(*args):
        cmd = [AWS, "--endpoint-url", server.endpoint, "--output", "json", "firehose", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    name = f"cli-{os.getpid()}"
    bucket = f"cli-bucket-{os.getpid()}"
    arn = fh("create-delivery-stream", "--delivery-stream-name", name,
             "--extended-s3-destination-configuration",
             json.dumps({"RoleARN": "arn:aws:iam::000000000000:role/r",
                         "BucketARN": f"arn:aws:s3:::{bucket}",
                         "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}))["DeliveryStreamARN"]
    assert arn.endswith(f":deliverystream/{name}")
    # Blob members are given as text: CLI v1 sends their bytes, v2 does when told to.
    record = json.dumps({"Data": "from the cli\n"})
    data_args = ["--cli-binary-format", "raw-in-base64-out"] if cli_v2 else []
    assert fh("put-record", "--delivery-stream-name", name, "--record", record, *data_args)["RecordId"]
    desc = fh("describe-delivery-stream", "--delivery-stream-name", name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamStatus"] == "ACTIVE"
    root = server.data_dir / "s3" / bucket
    deadline = time.monotonic() + 30
    while not any(p.is_file() for p in root.rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [obj] = [p for p in root.rglob("*") if p.is_file()]
    assert obj.read_bytes() == b"from the cli\n"
    fh("delete-delivery-stream", "--delivery-stream-name", name)
    assert name not in fh("list-delivery-streams")["DeliveryStreamNames"]
