"""The AWS JSON 1.1 error envelope, checked on the wire with raw HTTP requests:
unknown targets, undecodable bodies, wrong member types, and model validation
(including several errors in one message), plus proof that rejected requests
change nothing.

Shapes follow kinesalite's index.js and validations/index.js, which reproduce
AWS's answers: `{"__type": ..., "message": ...}` with HTTP 400.
"""

from __future__ import annotations


import pytest

from freshet_e2e import (
    JSON_CONTENT_TYPE, assert_raw_error, constraint, create_stream, not_found_message,
    read_shard, stream_arn, validation_message, validation_set,
)

STREAM_NAME_PATTERN = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"


# --------------------------------------------------------------------------- success envelope


def test_success_response_headers(raw, stream_name):
    resp = raw("CreateStream", {"StreamName": stream_name, "ShardCount": 1})
    assert resp.status == 200, resp
    assert resp.headers.get("x-amzn-requestid"), "AWS sends x-amzn-RequestId on every response"
    resp = raw("ListStreams", {"Limit": 1})
    assert resp.status == 200
    assert resp.headers["content-type"].startswith(JSON_CONTENT_TYPE)
    doc = resp.json()
    assert isinstance(doc["StreamNames"], list) and isinstance(doc["HasMoreStreams"], bool)


def test_error_has_request_id(raw, stream_name):
    resp = raw("DescribeStream", {"StreamName": stream_name})
    assert_raw_error(resp, "ResourceNotFoundException", not_found_message(stream_name))
    assert resp.headers.get("x-amzn-requestid")
    assert set(resp.json()) <= {"__type", "message", "Message"}


# --------------------------------------------------------------------------- targets


def test_missing_target_is_unknown_operation(raw):
    assert_raw_error(raw(None, {}), "UnknownOperationException")


@pytest.mark.parametrize("target", [
    "Kinesis_20131202.NoSuchOperation",
    "Kinesis_20131202.",
    "Kinesis_20991231.ListStreams",
    "DynamoDB_20120810.ListTables",
    "ListStreams",  # a bare operation without the service prefix
    "Kinesis_20131202.liststreams",  # operation names are case sensitive
])
def test_unknown_targets(raw, target):
    resp = raw(None, {}, headers={"X-Amz-Target": target})  # sent verbatim
    # AWS: {"__type": "UnknownOperationException"} with no message (kinesalite index.js).
    assert_raw_error(resp, "UnknownOperationException")


# --------------------------------------------------------------------------- serialization


@pytest.mark.parametrize("body", [b"{", b"not json", b"[1, 2]", b'"a string"', b"\xff\xfe"])
def test_malformed_json_is_serialization_exception(raw, body):
    # kinesalite index.js: a body that is not a JSON object gets {"__type": "SerializationException"}.
    assert_raw_error(raw("ListStreams", body), "SerializationException")


def test_empty_body_is_serialization_exception(raw):
    # kinesalite index.js: an empty application/x-amz-json-1.1 body to a known operation.
    assert_raw_error(raw("ListStreams", b""), "SerializationException")


@pytest.mark.parametrize("target,body", [
    ("CreateStream", {"StreamName": "s", "ShardCount": "three"}),
    ("CreateStream", {"StreamName": 123, "ShardCount": 1}),
    ("CreateStream", {"StreamName": ["s"], "ShardCount": 1}),
    ("CreateStream", {"StreamName": "s", "ShardCount": 1, "Tags": ["a"]}),
    ("CreateStream", {"StreamName": "s", "ShardCount": True}),
    ("ListStreams", {"Limit": "10"}),
    ("PutRecord", {"StreamName": "s", "PartitionKey": "k", "Data": 42}),
    ("PutRecord", {"StreamName": "s", "PartitionKey": "k", "Data": "not base64!"}),
    ("PutRecord", {"StreamName": "s", "PartitionKey": "k", "Data": "abc"}),  # length not a multiple of 4
    ("PutRecords", {"StreamName": "s", "Records": {"Data": "", "PartitionKey": "k"}}),
    ("GetRecords", {"ShardIterator": "x", "Limit": {"n": 1}}),
    ("DeleteStream", {"StreamName": "s", "EnforceConsumerDeletion": "yes"}),
])
def test_wrong_member_types_are_serialization_exceptions(raw, target, body):
    # kinesalite validations/index.js checkTypes: type mismatches are SerializationException.
    # The message wording mimics Java ("class java.lang.String can not be converted to an Integer")
    # and is not pinned.
    assert_raw_error(raw(target, body), "SerializationException")


def test_serialization_error_creates_nothing(raw, kinesis, stream_name):
    assert_raw_error(raw("CreateStream", {"StreamName": stream_name, "ShardCount": "1"}), "SerializationException")
    assert_raw_error(raw("DescribeStreamSummary", {"StreamName": stream_name}),
                     "ResourceNotFoundException", not_found_message(stream_name))


def test_unknown_members_are_ignored(raw, stream_name):
    # AWS ignores members it does not know (kinesalite checkTypes drops them).
    resp = raw("CreateStream", {"StreamName": stream_name, "ShardCount": 1, "NotAMember": {"x": 1}})
    assert resp.status == 200, resp


# --------------------------------------------------------------------------- validation


def test_create_stream_null_name(raw):
    assert_raw_error(raw("CreateStream", {"ShardCount": 1}), "ValidationException", validation_message(
        constraint(None, "streamName", "Member must not be null")))


def test_create_stream_three_validation_errors(raw):
    # kinesalite test/createStream.js records these three clauses for {StreamName: '', ShardCount: 0}.
    resp = raw("CreateStream", {"StreamName": "", "ShardCount": 0})
    assert_raw_error(resp, "ValidationException", validation_set(
        constraint(0, "shardCount", "Member must have value greater than or equal to 1"),
        constraint("", "streamName", STREAM_NAME_PATTERN),
        constraint("", "streamName", "Member must have length greater than or equal to 1"),
    ))


def test_two_validation_errors(raw):
    name = "x" * 129
    resp = raw("CreateStream", {"StreamName": name, "ShardCount": -1})
    assert_raw_error(resp, "ValidationException", validation_set(
        constraint(-1, "shardCount", "Member must have value greater than or equal to 1"),
        constraint(name, "streamName", "Member must have length less than or equal to 128"),
    ))


def test_put_record_null_members(raw, stream_name):
    resp = raw("PutRecord", {"StreamName": stream_name})
    assert_raw_error(resp, "ValidationException", validation_set(
        constraint(None, "partitionKey", "Member must not be null"),
        constraint(None, "data", "Member must not be null"),
    ))


def test_get_records_null_iterator(raw):
    assert_raw_error(raw("GetRecords", {}), "ValidationException", validation_message(
        constraint(None, "shardIterator", "Member must not be null")))


def test_get_shard_iterator_validation(raw):
    # kinesalite test/getShardIterator.js: long names and shard ids.
    name = "a" * 129
    resp = raw("GetShardIterator", {"StreamName": name, "ShardId": name, "ShardIteratorType": "LATEST"})
    assert_raw_error(resp, "ValidationException", validation_set(
        constraint(name, "shardId", "Member must have length less than or equal to 128"),
        constraint(name, "streamName", "Member must have length less than or equal to 128"),
    ))


def test_stream_arn_pattern_validated(raw):
    resp = raw("DescribeStreamSummary", {"StreamARN": "arn:aws:s3:::bucket"})
    assert_raw_error(resp, "ValidationException", validation_message(constraint(
        "arn:aws:s3:::bucket", "streamARN",
        r"Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\d{12}:stream/\S+")))


def test_stream_name_or_arn_required(raw):
    # Both are optional in the model; leaving out both is refused by the service. AWS's text is
    # not recorded, so any 400 with one of the two plausible types passes.
    resp = raw("DescribeStreamSummary", {})
    assert resp.status == 400
    assert resp.error_type in ("InvalidArgumentException", "ValidationException"), resp


def test_validation_happens_before_lookup(raw, stream_name):
    # A missing stream with an invalid Limit: the model check answers first.
    resp = raw("DescribeStream", {"StreamName": stream_name, "Limit": 0})
    assert_raw_error(resp, "ValidationException", validation_message(
        constraint(0, "limit", "Member must have value greater than or equal to 1")))


# --------------------------------------------------------------------------- rejected requests change nothing


def test_rejected_requests_leave_stream_unchanged(raw, kinesis, stream_name):
    create_stream(kinesis, stream_name, 2, Tags={"k": "v"})
    before = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    rejected = [
        ("IncreaseStreamRetentionPeriod", {"StreamName": stream_name, "RetentionPeriodHours": 9000}),
        ("DecreaseStreamRetentionPeriod", {"StreamName": stream_name, "RetentionPeriodHours": 48}),
        ("AddTagsToStream", {"StreamName": stream_name, "Tags": {"bad#": "v"}}),
        ("EnableEnhancedMonitoring", {"StreamName": stream_name, "ShardLevelMetrics": ["Nope"]}),
        ("UpdateMaxRecordSize", {"StreamARN": stream_arn(stream_name), "MaxRecordSizeInKiB": 99999}),
        ("StartStreamEncryption", {"StreamName": stream_name, "EncryptionType": "ROT13", "KeyId": "k"}),
        ("CreateStream", {"StreamName": stream_name, "ShardCount": 7}),
        ("PutRecord", {"StreamName": stream_name, "PartitionKey": "k", "Data": "AA==",
                       "ExplicitHashKey": str(2**128)}),
        ("PutRecords", {"StreamName": stream_name, "Records": []}),
    ]
    for target, body in rejected:
        resp = raw(target, body)
        assert resp.status == 400, (target, resp)
    after = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    assert after == before
    assert {t["Key"]: t["Value"] for t in kinesis.list_tags_for_stream(StreamName=stream_name)["Tags"]} == {"k": "v"}
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        assert read_shard(kinesis, stream_name, shard) == []
