"""Kinesis Video Streams control plane (`kinesisvideo`, rest-json) through boto3 and the AWS CLI.

Every call is `POST /<operation>` with a JSON body on the same port as Kinesis; errors carry the
model's HTTP status and their name in `x-amzn-ErrorType`. Bad input must leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

from freshet_e2e import ACCOUNT, AUTH_ACCESS_KEY, AUTH_SECRET_KEY, REGION, assert_error

API_NAMES = ["PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
             "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP",
             "GET_IMAGES"]
DEFAULT_KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/kinesisvideo"
IMAGE_CONFIG = {
    "Status": "ENABLED",
    "ImageSelectorType": "SERVER_TIMESTAMP",
    "DestinationConfig": {"Uri": "s3://bucket/prefix", "DestinationRegion": REGION},
    "SamplingInterval": 3000,
    "Format": "JPEG",
    "FormatConfig": {"JPEGQuality": "80"},
    "WidthPixels": 320,
}
NOTIFICATION_CONFIG = {
    "Status": "ENABLED",
    "DestinationConfig": {"Uri": f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"},
}


@pytest.fixture
def kvs(server):
    return server.client(service="kinesisvideo")


@pytest.fixture
def kvs_nv(server):
    """botocore's own parameter validation off, so bad input reaches the server."""
    return server.client(service="kinesisvideo", validate=False)


@pytest.fixture
def name(request):
    base = re.sub(r"[^a-zA-Z0-9_.-]", "-", request.node.name)[:60]
    return f"kvs-{base}-{uuid.uuid4().hex[:8]}"


def info(kvs, **ref):
    return kvs.describe_stream(**ref)["StreamInfo"]


def test_create_describe_update_delete(kvs, name):
    before = dt.datetime.now(dt.timezone.utc)
    arn = kvs.create_stream(StreamName=name, DeviceName="cam-1", MediaType="video/h264",
                            DataRetentionInHours=24, Tags={"team": "video"})["StreamARN"]
    assert re.fullmatch(rf"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/{name}/\d{{13}}", arn)
    by_name, by_arn = info(kvs, StreamName=name), info(kvs, StreamARN=arn)
    assert by_name == by_arn
    assert by_name["StreamARN"] == arn
    assert by_name["Status"] == "ACTIVE"
    assert by_name["DeviceName"] == "cam-1" and by_name["MediaType"] == "video/h264"
    assert by_name["KmsKeyId"] == DEFAULT_KMS
    assert by_name["DataRetentionInHours"] == 24
    assert abs((by_name["CreationTime"] - before).total_seconds()) < 5
    v1 = by_name["Version"]
    assert re.fullmatch(r"[a-zA-Z0-9]{1,64}", v1)

    kvs.update_stream(StreamName=name, CurrentVersion=v1, DeviceName="cam-2",
                      MediaType="video/h265")
    s = info(kvs, StreamARN=arn)
    assert (s["DeviceName"], s["MediaType"]) == ("cam-2", "video/h265")
    v2 = s["Version"]
    assert v2 != v1

    kvs.update_data_retention(StreamName=name, CurrentVersion=v2,
                              Operation="INCREASE_DATA_RETENTION", DataRetentionChangeInHours=24)
    s = info(kvs, StreamName=name)
    assert s["DataRetentionInHours"] == 48
    v3 = s["Version"]
    kvs.update_data_retention(StreamARN=arn, CurrentVersion=v3,
                              Operation="DECREASE_DATA_RETENTION", DataRetentionChangeInHours=48)
    s = info(kvs, StreamName=name)
    assert s["DataRetentionInHours"] == 0

    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.delete_stream(StreamARN=arn.rsplit("/", 1)[0] + "/1")  # same name, other epoch
    assert_error(e, "ResourceNotFoundException", status=404)
    kvs.delete_stream(StreamARN=arn, CurrentVersion=s["Version"])
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        info(kvs, StreamName=name)
    assert_error(e, "ResourceNotFoundException", status=404)
    # The name is free again, and the new stream's ARN differs from the old one's.
    again = kvs.create_stream(StreamName=name)["StreamARN"]
    assert again != arn
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        info(kvs, StreamARN=arn)
    s = info(kvs, StreamARN=again)
    assert s["DataRetentionInHours"] == 0 and "DeviceName" not in s
    kvs.delete_stream(StreamARN=again)


def test_stale_versions_and_bad_retention_change_nothing(kvs, name):
    arn = kvs.create_stream(StreamName=name, DataRetentionInHours=10)["StreamARN"]
    before = info(kvs, StreamName=name)
    stale = "stale0version"

    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.update_stream(StreamName=name, CurrentVersion=stale, DeviceName="x")
    assert_error(e, "VersionMismatchException", status=400)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.update_data_retention(StreamName=name, CurrentVersion=stale,
                                  Operation="INCREASE_DATA_RETENTION", DataRetentionChangeInHours=1)
    assert_error(e, "VersionMismatchException", status=400)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.delete_stream(StreamARN=arn, CurrentVersion=stale)
    assert_error(e, "VersionMismatchException", status=400)

    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.update_data_retention(StreamName=name, CurrentVersion=before["Version"],
                                  Operation="DECREASE_DATA_RETENTION", DataRetentionChangeInHours=11)
    assert_error(e, "InvalidArgumentException", re.compile("negative"), status=400)
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.update_data_retention(StreamName=name, CurrentVersion=before["Version"],
                                  Operation="INCREASE_DATA_RETENTION",
                                  DataRetentionChangeInHours=87600)
    assert_error(e, "InvalidArgumentException", re.compile("87600"), status=400)
    assert info(kvs, StreamName=name) == before
    kvs.delete_stream(StreamARN=arn, CurrentVersion=before["Version"])


def test_list_streams_pages_with_name_condition(kvs, name):
    names = sorted(f"{name}-{i}" for i in range(5))
    for n in reversed(names):
        kvs.create_stream(StreamName=n)
    cond = {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": name}
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = kvs.list_streams(MaxResults=2, StreamNameCondition=cond, **kw)
        pages += 1
        seen += [s["StreamName"] for s in page["StreamInfoList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names and pages == 3
    listed = kvs.list_streams(StreamNameCondition=cond)["StreamInfoList"]
    assert listed[0] == info(kvs, StreamName=names[0])
    # boto3's paginator follows the same tokens.
    paged = [s["StreamName"]
             for p in kvs.get_paginator("list_streams").paginate(
                 StreamNameCondition=cond, PaginationConfig={"PageSize": 3})
             for s in p["StreamInfoList"]]
    assert paged == names
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.list_streams(NextToken="AAAA")  # base64 of bytes that are no stream name
    assert_error(e, "InvalidArgumentException", status=400)


def test_tags_through_both_apis(kvs, name):
    arn = kvs.create_stream(StreamName=name, Tags={"a": "1"})["StreamARN"]
    kvs.tag_stream(StreamName=name, Tags={"b": "2"})
    kvs.tag_resource(ResourceARN=arn, Tags=[{"Key": "c", "Value": "3"}, {"Key": "a", "Value": "9"}])
    want = {"a": "9", "b": "2", "c": "3"}
    assert kvs.list_tags_for_stream(StreamName=name)["Tags"] == want
    assert kvs.list_tags_for_stream(StreamARN=arn)["Tags"] == want
    assert kvs.list_tags_for_resource(ResourceARN=arn)["Tags"] == want
    kvs.untag_stream(StreamARN=arn, TagKeyList=["b", "missing"])
    kvs.untag_resource(ResourceARN=arn, TagKeyList=["c"])
    assert kvs.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"a": "9"}

    # 50 tags per stream: a call that would pass the limit adds none of its tags.
    with pytest.raises(kvs.exceptions.TagsPerResourceExceededLimitException) as e:
        kvs.tag_stream(StreamName=name, Tags={f"k{i}": "v" for i in range(50)})
    assert_error(e, "TagsPerResourceExceededLimitException", status=400)
    assert kvs.list_tags_for_stream(StreamName=name)["Tags"] == {"a": "9"}
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.tag_stream(StreamName=name + "-missing", Tags={"x": "y"})
    assert_error(e, "ResourceNotFoundException", status=404)
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.list_tags_for_resource(ResourceARN=arn[:-3] + "000")
    assert_error(e, "ResourceNotFoundException", status=404)
    kvs.delete_stream(StreamARN=arn)


def test_get_data_endpoint_is_this_server_for_every_api(kvs, server, name):
    arn = kvs.create_stream(StreamName=name)["StreamARN"]
    for api in API_NAMES:
        assert kvs.get_data_endpoint(StreamName=name, APIName=api)["DataEndpoint"] == server.endpoint
    assert kvs.get_data_endpoint(StreamARN=arn, APIName="GET_MEDIA")["DataEndpoint"] == server.endpoint
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.get_data_endpoint(StreamName=name + "-missing", APIName="PUT_MEDIA")
    assert_error(e, "ResourceNotFoundException", status=404)
    kvs.delete_stream(StreamARN=arn)


def test_image_generation_and_notification_configurations(kvs, name):
    arn = kvs.create_stream(StreamName=name, DataRetentionInHours=1)["StreamARN"]
    assert "ImageGenerationConfiguration" not in kvs.describe_image_generation_configuration(
        StreamName=name)
    assert "NotificationConfiguration" not in kvs.describe_notification_configuration(
        StreamARN=arn)
    kvs.update_image_generation_configuration(StreamName=name,
                                              ImageGenerationConfiguration=IMAGE_CONFIG)
    kvs.update_notification_configuration(StreamARN=arn,
                                          NotificationConfiguration=NOTIFICATION_CONFIG)
    got = kvs.describe_image_generation_configuration(StreamARN=arn)
    assert got["ImageGenerationConfiguration"] == IMAGE_CONFIG
    got = kvs.describe_notification_configuration(StreamName=name)
    assert got["NotificationConfiguration"] == NOTIFICATION_CONFIG

    # Images come from stored media: not on a stream that keeps none.
    other = kvs.create_stream(StreamName=name + "-0h")["StreamARN"]
    with pytest.raises(kvs.exceptions.NoDataRetentionException) as e:
        kvs.update_image_generation_configuration(StreamARN=other,
                                                  ImageGenerationConfiguration=IMAGE_CONFIG)
    assert_error(e, "NoDataRetentionException", status=400)
    assert "ImageGenerationConfiguration" not in kvs.describe_image_generation_configuration(
        StreamARN=other)
    kvs.delete_stream(StreamARN=arn)
    kvs.delete_stream(StreamARN=other)


def test_bad_input_is_rejected_without_side_effects(kvs, kvs_nv, name):
    with pytest.raises(kvs_nv.exceptions.InvalidArgumentException) as e:
        kvs_nv.create_stream(StreamName="not valid!")
    assert_error(e, "InvalidArgumentException",
                 "1 validation error detected: Value 'not valid!' at 'streamName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    with pytest.raises(kvs_nv.exceptions.InvalidArgumentException) as e:
        kvs_nv.create_stream(StreamName=name, DataRetentionInHours=-1)
    assert_error(e, "InvalidArgumentException", re.compile("dataRetentionInHours"))
    with pytest.raises(kvs_nv.exceptions.InvalidArgumentException) as e:
        kvs_nv.create_stream(StreamName=name, DataRetentionInHours=87601)
    assert_error(e, "InvalidArgumentException", re.compile("87600"))
    with pytest.raises(kvs_nv.exceptions.InvalidArgumentException) as e:
        kvs_nv.get_data_endpoint(StreamName=name, APIName="WATCH")
    assert_error(e, "InvalidArgumentException", re.compile("enum value set"))
    with pytest.raises(kvs_nv.exceptions.InvalidArgumentException) as e:
        kvs_nv.describe_stream()
    assert_error(e, "InvalidArgumentException", "Either StreamName or StreamARN must be specified.")
    # None of the refused creates left a stream behind.
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        info(kvs, StreamName=name)

    arn = kvs.create_stream(StreamName=name, DeviceName="first")["StreamARN"]
    with pytest.raises(kvs.exceptions.ResourceInUseException) as e:
        kvs.create_stream(StreamName=name, DeviceName="second")
    assert_error(e, "ResourceInUseException", status=400)
    assert info(kvs, StreamName=name)["DeviceName"] == "first"
    kvs.delete_stream(StreamARN=arn)


def test_unsupported_operations_say_so(kvs):
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.describe_edge_configuration(StreamName="cam")
    assert_error(e, "InvalidArgumentException",
                 "DescribeEdgeConfiguration is not supported by Freshet yet.")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.list_edge_agent_configurations(HubDeviceArn="arn:aws:iot:us-east-1:000000000000:thing/hub")
    assert_error(e, "InvalidArgumentException", re.compile("not supported"))


def test_rest_json_error_envelope(server):
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/describeStream", body=json.dumps({"StreamName": "nope-" + uuid.uuid4().hex}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 404
    assert resp.getheader("x-amzn-ErrorType") == "ResourceNotFoundException"
    assert resp.getheader("x-amzn-RequestId")
    assert set(body) == {"message"} and body["message"]


def test_sigv4_applies_to_video(server_factory):
    srv = server_factory(access_key_id=AUTH_ACCESS_KEY, secret_access_key=AUTH_SECRET_KEY)
    good = srv.client(service="kinesisvideo", access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    bad = srv.client(service="kinesisvideo", access_key=AUTH_ACCESS_KEY, secret_key="wrong")
    with pytest.raises(bad.exceptions.ClientError) as e:
        bad.create_stream(StreamName="signed")
    assert_error(e, "InvalidSignatureException", status=400)
    assert good.list_streams()["StreamInfoList"] == []
    good.create_stream(StreamName="signed")
    assert [s["StreamName"] for s in good.list_streams()["StreamInfoList"]] == ["signed"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")
def test_cli_kinesisvideo(server, tmp_path, name):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDCLI", "AWS_SECRET_ACCESS_KEY": "cli-secret",
           "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
           "AWS_CONFIG_FILE": str(tmp_path / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}

    def kv(*args, ok=True):
        cmd = [shutil.which("aws"), "--endpoint-url", server.endpoint, "--output", "json",
               "kinesisvideo", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if not ok:
            return proc
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    arn = kv("create-stream", "--stream-name", name, "--data-retention-in-hours", "2")["StreamARN"]
    described = kv("describe-stream", "--stream-name", name)["StreamInfo"]
    assert described["StreamARN"] == arn and described["DataRetentionInHours"] == 2
    assert kv("get-data-endpoint", "--stream-arn", arn, "--api-name", "GET_MEDIA")[
        "DataEndpoint"] == server.endpoint
    kv("delete-stream", "--stream-arn", arn)
    proc = kv("describe-stream", "--stream-name", name, ok=False)
    assert proc.returncode != 0 and "ResourceNotFoundException" in proc.stderr


def test_streams_survive_sigkill_and_creating_becomes_active(server_factory):
    srv = server_factory(create_delay_ms=60_000)
    kvs = srv.client(service="kinesisvideo")
    arn = kvs.create_stream(StreamName="kept", DataRetentionInHours=5, Tags={"t": "1"})["StreamARN"]
    s = info(kvs, StreamName="kept")
    assert s["Status"] == "CREATING"
    srv.kill()
    srv.start()
    kvs = srv.client(service="kinesisvideo")
    # A stream a crash left CREATING is finished at start; nothing else about it changed.
    after = info(kvs, StreamARN=arn)
    assert after == {**s, "Status": "ACTIVE"}
    assert kvs.list_tags_for_stream(StreamARN=arn)["Tags"] == {"t": "1"}
