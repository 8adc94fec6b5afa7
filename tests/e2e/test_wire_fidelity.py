"""Behaviours recorded against real AWS where Freshet once answered differently.

Each test names the record it follows: AWS-validated snapshot tests of LocalStack
(tests/aws/services/kinesis/test_kinesis.py), kinesalite's test suite (written and run against
AWS), raw captures of AWS endpoints, and AWS's documentation.
"""
from __future__ import annotations

import http.client
import json
import re
import time

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import (
    ACCOUNT,
    assert_error,
    create_stream,
    shard_iterator,
    stream_arn,
    wait_for_deleted,
    wait_for_status,
)

SHARD0 = "shardId-000000000000"
INVALID_CHARACTERS = ("Some tags contain invalid characters. Valid characters: "
                      "Unicode letters, digits, white space, _ . / = + - % @.")


def summary(client, name: str) -> dict:
    return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]


# --------------------------------------------------------------------------- CreateStream


def test_create_stream_without_shard_count_or_mode_is_on_demand(kinesis, stream_name):
    """LocalStack test_create_stream_without_shard_count (AWS-validated 2022, again 2025): a
    stream created with neither ShardCount nor StreamModeDetails gets 4 shards; AWS documents 4
    as the starting size of an ON_DEMAND stream, the only mode that needs no shard count."""
    kinesis.create_stream(StreamName=stream_name)
    wait_for_status(kinesis, stream_name)
    s = summary(kinesis, stream_name)
    assert s["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert s["OpenShardCount"] == 4
    assert len(kinesis.list_shards(StreamName=stream_name)["Shards"]) == 4


def test_create_stream_provisioned_without_shard_count_is_refused(kinesis, stream_name):
    """PROVISIONED named explicitly still needs a shard count (the API reference: "For the data
    streams with a provisioned mode, you must specify the number of shards")."""
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=stream_name, StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert_error(e, "InvalidArgumentException")
    with pytest.raises(ClientError) as e:
        summary(kinesis, stream_name)
    assert_error(e, "ResourceNotFoundException")


# --------------------------------------------------------------------------- iterators


def test_shard_iterator_in_double_quotes_is_accepted(kinesis, stream_name):
    """LocalStack test_get_records_shard_iterator_with_surrounding_quotes (AWS-validated): a
    shell passing `--shard-iterator "$IT"` from `--output json` keeps the JSON quotes, and AWS
    reads the iterator inside them."""
    create_stream(kinesis, stream_name, 1)
    kinesis.put_record(StreamName=stream_name, Data=b"quoted", PartitionKey="k")
    it = shard_iterator(kinesis, stream_name, SHARD0)
    resp = kinesis.get_records(ShardIterator=f'"{it}"')
    assert [r["Data"] for r in resp["Records"]] == [b"quoted"]
    # The next iterator works unquoted, as usual; a lone quote is still not an iterator.
    assert kinesis.get_records(ShardIterator=resp["NextShardIterator"])["Records"] == []
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=f'"{it}')
    assert_error(e, "InvalidArgumentException", "Invalid ShardIterator.")


def test_at_timestamp_in_the_future_is_refused(kinesis, stream_name):
    """kinesalite getShardIterator "should return InvalidArgumentException if Timestamp in the
    future" (AWS's message, also quoted from AWS in Hazelcast's Kinesis connector tests)."""
    create_stream(kinesis, stream_name, 1)
    future = time.time() + 120
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0,
                                   ShardIteratorType="AT_TIMESTAMP", Timestamp=future)
    assert_error(e, "InvalidArgumentException", re.compile(
        r"^The timestampInMillis parameter cannot be greater than the currentTimestampInMillis\. "
        rf"timestampInMillis: {int(future * 1000) // 1000}\d\d\d, currentTimestampInMillis: \d+$"))
    # Now is not in the future.
    kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0,
                               ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() - 1)


# --------------------------------------------------------------------------- no-change updates


@pytest.fixture
def slow_updates(server_factory):
    """A server whose changes stay UPDATING for a minute: a no-op that opened an UPDATING window
    would show at once."""
    return server_factory(update_delay_ms=60_000).client()


def test_updates_to_the_current_value_open_no_updating_window(slow_updates, stream_name):
    """kinesalite increaseStreamRetentionPeriod "should increase stream retention period" (run
    against AWS): IncreaseStreamRetentionPeriod to the current period answers 200, and the very
    next call is judged on its arguments, not refused as in use; Terraform sends exactly that
    call (24 hours) after creating every stream. The same holds for every other change that
    changes nothing."""
    c = slow_updates
    create_stream(c, stream_name, 2)
    arn = stream_arn(stream_name)
    noops = [
        lambda: c.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=24),
        lambda: c.decrease_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=24),
        lambda: c.update_shard_count(StreamName=stream_name, TargetShardCount=2, ScalingType="UNIFORM_SCALING"),
        lambda: c.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"}),
        lambda: c.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=1024),
        lambda: c.disable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["IncomingBytes"]),
        lambda: c.stop_stream_encryption(StreamName=stream_name, EncryptionType="KMS", KeyId="alias/aws/kinesis"),
    ]
    for call in noops:
        assert call()["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert summary(c, stream_name)["StreamStatus"] == "ACTIVE"
    assert summary(c, stream_name)["RetentionPeriodHours"] == 24
    assert len(c.list_shards(StreamName=stream_name)["Shards"]) == 2

    # A real change still opens the window, and a no-op during it is refused like any change.
    c.enable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["IncomingBytes"])
    assert summary(c, stream_name)["StreamStatus"] == "UPDATING"
    with pytest.raises(ClientError) as e:
        c.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=24)
    assert_error(e, "ResourceInUseException",
                 f"Stream {stream_name} under account {ACCOUNT} not ACTIVE, instead in state UPDATING")


def test_retention_below_current_names_the_other_api(kinesis, stream_name):
    """kinesalite increase/decreaseStreamRetentionPeriod tests (recorded against AWS)."""
    create_stream(kinesis, stream_name, 1)
    kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=48)
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=25)
    assert_error(e, "InvalidArgumentException",
                 f"Requested retention period (25 hours) for stream {stream_name} can not be shorter "
                 "than existing retention period (48 hours). Use DecreaseRetentionPeriod API.")
    with pytest.raises(ClientError) as e:
        kinesis.decrease_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=49)
    assert_error(e, "InvalidArgumentException",
                 f"Requested retention period (49 hours) for stream {stream_name} can not be longer "
                 "than existing retention period (48 hours). Use IncreaseRetentionPeriod API.")
    assert summary(kinesis, stream_name)["RetentionPeriodHours"] == 48


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize("bad", ["tab\there", "new\nline", "vertical\x0btab", "line\u2028sep",
                                 "colon:key", "semi;colon", "com,ma"])
def test_tag_characters_outside_aws_rule_are_refused_everywhere(kinesis, stream_name, bad):
    """API_Tag: "Valid characters: Unicode letters, digits, white space, _ . / = + - % @" (the
    model has no pattern); kinesalite addTagsToStream / removeTagsFromStream tests (recorded
    against AWS) refuse tab, newline, `;` and `,` in keys and values with this message. `:` is
    not in Kinesis's list (Firehose's differs)."""
    create_stream(kinesis, stream_name, 1, Tags={"keep": "me"})
    arn = stream_arn(stream_name)
    calls = [
        lambda: kinesis.add_tags_to_stream(StreamName=stream_name, Tags={bad: "v"}),
        lambda: kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"k": bad}),
        lambda: kinesis.remove_tags_from_stream(StreamName=stream_name, TagKeys=["keep", bad]),
        lambda: kinesis.tag_resource(ResourceARN=arn, Tags={bad: "v"}),
        lambda: kinesis.untag_resource(ResourceARN=arn, TagKeys=[bad]),
        lambda: kinesis.create_stream(StreamName=stream_name + "-2", ShardCount=1, Tags={"k": bad}),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, "InvalidArgumentException", INVALID_CHARACTERS)
    assert kinesis.list_tags_for_stream(StreamName=stream_name)["Tags"] == [{"Key": "keep", "Value": "me"}]
    with pytest.raises(ClientError) as e:
        summary(kinesis, stream_name + "-2")
    assert_error(e, "ResourceNotFoundException")


def test_percent_is_listed_but_refused_with_the_second_message(kinesis, stream_name):
    """kinesalite addTagsToStream / removeTagsFromStream "...if % in ..." (recorded against AWS):
    `%` passes the first check and fails a second one, whose message names the change."""
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"a%b": "v"})
    assert_error(e, "InvalidArgumentException",
                 f"Failed to add tags to stream {stream_name} under account {ACCOUNT} because some "
                 "tags contained illegal characters. The allowed characters are Unicode letters, "
                 "white-spaces, '_',',','/','=','+','-','@'.")
    with pytest.raises(ClientError) as e:
        kinesis.remove_tags_from_stream(StreamName=stream_name, TagKeys=["a%b"])
    assert_error(e, "InvalidArgumentException",
                 f"Failed to remove tags from stream {stream_name} under account {ACCOUNT} because "
                 "some tags contained illegal characters. The allowed characters are Unicode "
                 "letters, white-spaces, '_',',','/','=','+','-','@'.")


def test_tag_characters_inside_the_rule_are_kept(kinesis, stream_name):
    """The keys and values kinesalite's functional tests (run against AWS) store."""
    create_stream(kinesis, stream_name, 1)
    tags = {"ü0 _.": "ü0 _./=+-@", "/=+-@": "", "日本": "値"}
    kinesis.add_tags_to_stream(StreamName=stream_name, Tags=tags)
    got = {t["Key"]: t["Value"] for t in kinesis.list_tags_for_stream(StreamName=stream_name)["Tags"]}
    assert got == tags
    kinesis.remove_tags_from_stream(StreamName=stream_name, TagKeys=["ü0 _."])
    got = {t["Key"]: t["Value"] for t in kinesis.list_tags_for_stream(StreamName=stream_name)["Tags"]}
    assert got == {"/=+-@": "", "日本": "値"}


# --------------------------------------------------------------------------- CREATING streams


def test_a_creating_stream_can_be_deleted_and_shows_no_shards(server_factory, name_factory):
    """kinesalite deleteStream "should allow stream to be deleted while it is being created" and
    createStream "should create a basic 3-shard stream" (both run against AWS): while CREATING,
    DescribeStream answers with no shards, GetShardIterator finds no shard, and DeleteStream
    moves the stream to DELETING. ListShards needs ACTIVE or UPDATING (the model lists
    ResourceInUseException; the KCL reads it as "not in Active/Updating status")."""
    srv = server_factory(create_delay_ms=1_500, delete_delay_ms=3_000)
    c = srv.client()
    name = name_factory()
    c.create_stream(StreamName=name, ShardCount=3)
    desc = c.describe_stream(StreamName=name)["StreamDescription"]
    assert desc["StreamStatus"] == "CREATING"
    assert desc["Shards"] == [] and desc["HasMoreShards"] is False
    with pytest.raises(ClientError) as e:
        c.get_shard_iterator(StreamName=name, ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON")
    assert_error(e, "ResourceNotFoundException",
                 f"Shard {SHARD0} in stream {name} under account {ACCOUNT} does not exist")
    with pytest.raises(ClientError) as e:
        c.list_shards(StreamName=name)
    assert_error(e, "ResourceInUseException",
                 f"Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING")

    assert c.delete_stream(StreamName=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert summary(c, name)["StreamStatus"] == "DELETING"
    # The activation that was due at 1.5 s stands down: the stream stays DELETING, then goes.
    time.sleep(2.0)
    assert summary(c, name)["StreamStatus"] == "DELETING"
    wait_for_deleted(c, name)
    # Nothing of it is left to come back after a restart.
    srv.restart()
    with pytest.raises(ClientError) as e:
        summary(srv.client(), name)
    assert_error(e, "ResourceNotFoundException")


# --------------------------------------------------------------------------- CORS


def _request(srv, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, dict, bytes]:
    host, port = srv.host_port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


SDK_HEADERS = ("content-type,x-amz-target,content-length,host,x-amz-user-agent,user-agent,"
               "Authorization,amz-sdk-invocation-id,amz-sdk-request,x-amz-security-token")
JSON_EXPOSE = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"
REST_EXPOSE = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"


def test_cors_preflight_and_responses_as_aws(server, stream_name, kinesis):
    """Raw captures of AWS's Kinesis, Firehose and Kinesis Video endpoints (2021, us-east-1) and
    kinesalite's CORS tests (run against AWS): a preflight gets 200, an empty body, `*`, the asked
    method and headers echoed, Max-Age 172800 and a request id; a request with an Origin gets `*`
    and the exposed headers (Video's list lacks the S3-style ids); one without gets neither."""
    origin = {"Origin": "https://app.example"}
    for path, expose in (("/", JSON_EXPOSE), ("/describeStream", REST_EXPOSE), ("/getMedia", REST_EXPOSE)):
        status, h, body = _request(server, "OPTIONS", path, {
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": SDK_HEADERS})
        assert (status, body) == (200, b""), (path, status, body)
        assert h["access-control-allow-origin"] == "*"
        assert h["access-control-allow-methods"] == "POST"
        assert h["access-control-allow-headers"] == SDK_HEADERS
        assert h["access-control-max-age"] == "172800"
        assert h["access-control-expose-headers"] == expose
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", h["x-amzn-requestid"])
        assert h.get("content-length", "0") == "0" and "content-type" not in h

    create_stream(kinesis, stream_name, 1)
    call = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.DescribeStreamSummary"}
    body = json.dumps({"StreamName": stream_name}).encode()
    status, h, _ = _request(server, "POST", "/", {**call, **origin}, body)
    assert status == 200
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-expose-headers"] == JSON_EXPOSE
    # An error answer is readable by the page too: the SDK needs its type.
    status, h, err = _request(server, "POST", "/", {**call, **origin}, json.dumps({"StreamName": stream_name + "x"}).encode())
    assert status == 400 and json.loads(err)["__type"] == "ResourceNotFoundException"
    assert h["access-control-allow-origin"] == "*"
    status, h, _ = _request(server, "POST", "/", call, body)
    assert status == 200 and "access-control-allow-origin" not in h


def test_cors_origins_are_configurable(server_factory, tmp_path):
    """`[cors] allowed_origins`: a listed origin is echoed (with Vary: Origin), another gets a
    refused preflight and no CORS headers; `[]` turns CORS off."""
    config = tmp_path / "cors.toml"
    config.write_text('[cors]\nallowed_origins = ["https://app.example:8443"]\n')
    srv = server_factory(extra_args=["--config", str(config)])
    ask = {"Access-Control-Request-Method": "POST"}
    status, h, _ = _request(srv, "OPTIONS", "/", {"Origin": "https://app.example:8443", **ask})
    assert status == 200
    assert h["access-control-allow-origin"] == "https://app.example:8443"
    assert h["vary"] == "Origin"
    status, h, _ = _request(srv, "OPTIONS", "/", {"Origin": "https://other.example", **ask})
    assert status == 403 and "access-control-allow-origin" not in h
    call = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.ListStreams"}
    status, h, _ = _request(srv, "POST", "/", {**call, "Origin": "https://other.example"}, b"{}")
    assert status == 200 and "access-control-allow-origin" not in h
    status, h, _ = _request(srv, "POST", "/", {**call, "Origin": "https://app.example:8443"}, b"{}")
    assert status == 200 and h["access-control-allow-origin"] == "https://app.example:8443"
