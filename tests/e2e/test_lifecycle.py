"""The server's own lifecycle: `/health` tells whether every service is open and its storage takes
durable writes, and a SIGTERM closes every service's log, so the next start has nothing to
repair (every log reports `clean=true` when it opens); a SIGKILL does not."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import boto3
import pytest

from freshet_e2e import REGION, create_stream

SERVICES = {"kinesis", "firehose", "glue", "iceberg", "video", "analytics", "analyticsv2", "cloudwatch", "console", "sts", "kms"}
# The services that write their own logs (a full disk fails their probe); Analytics only reads
# and writes the catalog, which answers reads on a full disk.
LOGGED = {"kinesis", "firehose", "video"}


def health(srv) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{srv.endpoint}/health", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def opened_logs(srv, start: int) -> dict[str, bool]:
    """The `log opened` lines of the server's `start`-th start: log directory -> clean."""
    text = srv.log_path.read_text(errors="replace")
    section = text.split(f"===== start #{start}:")[1].split("===== start #")[0]
    found = {}
    for line in section.splitlines():
        if "log opened" in line:
            directory = re.search(r"dir=(\S+)", line).group(1)
            found[directory.rsplit("/", 1)[-1]] = re.search(r"clean=(\w+)", line).group(1) == "true"
    return found


def test_health_names_every_service(server):
    status, body = health(server)
    assert status == 200
    assert body == {"status": "ok", "services": {name: "ok" for name in SERVICES}}


def _use_every_service(srv):
    kinesis = srv.client()
    create_stream(kinesis, "kept", 1)
    kinesis.put_record(StreamName="kept", Data=b"x", PartitionKey="k")
    session = dict(endpoint_url=srv.endpoint, region_name=REGION,
                   aws_access_key_id="test", aws_secret_access_key="test")
    boto3.client("kinesisvideo", **session).create_stream(StreamName="kept-video", DataRetentionInHours=1)
    firehose = boto3.client("firehose", **session)
    firehose.create_delivery_stream(
        DeliveryStreamName="kept-delivery", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::kept",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}})
    firehose.put_record(DeliveryStreamName="kept-delivery", Record={"Data": b"y"})


def test_sigterm_closes_every_log_so_a_restart_repairs_nothing(server_factory):
    srv = server_factory()
    _use_every_service(srv)
    assert srv.stop() == 0
    srv.start()
    logs = opened_logs(srv, 2)
    assert logs == {"log": True, "firehose-log": True, "video-log": True}, logs
    # Everything is still there.
    assert srv.client().list_streams()["StreamNames"] == ["kept"]

    # A crash leaves every log unclean: the check above can fail.
    srv.kill()
    srv.start()
    logs = opened_logs(srv, 3)
    assert logs == {"log": False, "firehose-log": False, "video-log": False}, logs


def test_health_is_503_while_the_disk_is_full(small_disk, server_factory):
    srv = server_factory(data_dir=small_disk / "data")
    assert health(srv)[0] == 200
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    status, body = health(srv)
    assert status == 503 and body["status"] == "unhealthy"
    assert set(body["services"]) == SERVICES
    assert all(body["services"][name] != "ok" for name in LOGGED), body
    filler.unlink()
    assert health(srv) == (200, {"status": "ok", "services": {name: "ok" for name in SERVICES}})
