"""Control-plane operations through boto3: stream lifecycle, listing, shards,
retention, tags, encryption, monitoring, limits, stream mode and record size.

Expected AWS behaviour comes from the Kinesis API reference and from
kinesalite (mhart/kinesalite), whose tests were recorded against AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from botocore.exceptions import ClientError, WaiterError

from freshet_e2e import (
    ACCOUNT, HASH_KEY_SPACE, assert_error, constraint, create_stream, expected_hash_ranges,
    list_all_shards, not_found_message, read_shard, stream_arn, validation_message,
    wait_for_deleted, wait_for_status,
)

ALL_METRICS = {
    "IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
    "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
}


def shard_ids(n: int) -> list[str]:
    return [f"shardId-{i:012d}" for i in range(n)]


def assert_covers_key_space(shards):
    ranges = sorted((int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
                    for s in shards)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == HASH_KEY_SPACE - 1
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start == end + 1, f"gap or overlap between hash ranges: {ranges}"


# --------------------------------------------------------------------------- CreateStream


def test_create_stream_provisioned_shape(kinesis, stream_name):
    before = dt.datetime.now(dt.timezone.utc)
    assert kinesis.create_stream(StreamName=stream_name, ShardCount=3)["ResponseMetadata"]["HTTPStatusCode"] == 200
    wait_for_status(kinesis, stream_name)
    desc = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    assert desc["StreamName"] == stream_name
    assert desc["StreamARN"] == f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream_name}"
    assert desc["StreamStatus"] == "ACTIVE"
    assert desc["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert desc["RetentionPeriodHours"] == 24
    assert desc["HasMoreShards"] is False
    assert desc["EncryptionType"] == "NONE"
    assert desc["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    created = desc["StreamCreationTimestamp"]
    assert before - dt.timedelta(seconds=5) <= created <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    assert [s["ShardId"] for s in desc["Shards"]] == shard_ids(3)
    # The even split of the hash key space AWS uses (recorded in kinesalite test/createStream.js).
    got = [(int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
           for s in desc["Shards"]]
    assert got == expected_hash_ranges(3)
    assert got[0] == (0, 113427455640312821154458202477256070484)
    assert got[2] == (226854911280625642308916404954512140970, 340282366920938463463374607431768211455)
    for s in desc["Shards"]:
        assert re.fullmatch(r"0|[1-9]\d*", s["SequenceNumberRange"]["StartingSequenceNumber"])
        assert "EndingSequenceNumber" not in s["SequenceNumberRange"]
        assert "ParentShardId" not in s and "AdjacentParentShardId" not in s


def test_create_stream_on_demand_has_four_shards(kinesis, stream_name):
    summary = create_stream(kinesis, stream_name, shards=None, mode="ON_DEMAND")
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4
    shards = list_all_shards(kinesis, stream_name)
    assert [s["ShardId"] for s in shards] == shard_ids(4)
    assert_covers_key_space(shards)


def test_create_stream_explicit_provisioned_mode(kinesis, stream_name):
    summary = create_stream(kinesis, stream_name, shards=2, mode="PROVISIONED")
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert summary["OpenShardCount"] == 2


def test_create_stream_with_tags(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1, Tags={"team": "data", "env": "test"})
    tags = kinesis.list_tags_for_stream(StreamName=stream_name)
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"team": "data", "env": "test"}
    assert tags["HasMoreTags"] is False


def test_create_duplicate_stream_is_resource_in_use_and_keeps_original(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=stream_name, ShardCount=5)
    # AWS: "Stream NAME under account ACCOUNT already exists." (not in kinesalite, which sends
    # an empty message; matched loosely).
    assert_error(e, "ResourceInUseException", re.compile(re.escape(stream_name)))
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2


def test_create_stream_shard_count_zero_rejected(kinesis_nv, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis_nv.create_stream(StreamName=stream_name, ShardCount=0)
    assert_error(e, "ValidationException", validation_message(
        constraint(0, "shardCount", "Member must have value greater than or equal to 1")))
    assert_error(_describe_error(kinesis_nv, stream_name), "ResourceNotFoundException", not_found_message(stream_name))


def test_create_stream_bad_name_rejected(kinesis_nv):
    with pytest.raises(ClientError) as e:
        kinesis_nv.create_stream(StreamName="bad name!", ShardCount=1)
    assert_error(e, "ValidationException", validation_message(
        constraint("bad name!", "streamName",
                   "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")))


def test_create_stream_name_too_long_rejected(kinesis_nv):
    name = "a" * 129
    with pytest.raises(ClientError) as e:
        kinesis_nv.create_stream(StreamName=name, ShardCount=1)
    assert_error(e, "ValidationException", validation_message(
        constraint(name, "streamName", "Member must have length less than or equal to 128")))


def test_create_stream_name_of_128_chars_accepted(kinesis, name_factory):
    name = (name_factory() + "x" * 128)[:128]
    create_stream(kinesis, name, 1)
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamName"] == name


# --------------------------------------------------------------------------- DeleteStream


def _describe_error(client, name):
    with pytest.raises(ClientError) as e:
        client.describe_stream(StreamName=name)
    return e


def test_delete_stream_by_name(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.delete_stream(StreamName=stream_name)
    wait_for_deleted(kinesis, stream_name)
    assert_error(_describe_error(kinesis, stream_name), "ResourceNotFoundException", not_found_message(stream_name))
    assert stream_name not in kinesis.list_streams(ExclusiveStartStreamName=stream_name[:-1], Limit=100)["StreamNames"]


def test_delete_stream_by_arn_with_enforce_consumer_deletion(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.delete_stream(StreamARN=stream_arn(stream_name), EnforceConsumerDeletion=True)
    wait_for_deleted(kinesis, stream_name)


def test_delete_missing_stream_not_found(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.delete_stream(StreamName=stream_name)
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


def test_recreated_stream_starts_empty(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.put_record(StreamName=stream_name, Data=b"old life", PartitionKey="k")
    kinesis.delete_stream(StreamName=stream_name)
    wait_for_deleted(kinesis, stream_name)
    create_stream(kinesis, stream_name, 1)
    assert read_shard(kinesis, stream_name, "shardId-000000000000") == []


# --------------------------------------------------------------------------- DescribeStream(Summary)


def test_describe_stream_pagination(kinesis, stream_name):
    create_stream(kinesis, stream_name, 5)
    page = kinesis.describe_stream(StreamName=stream_name, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == shard_ids(2)
    assert page["HasMoreShards"] is True
    page = kinesis.describe_stream(StreamName=stream_name, Limit=2,
                                   ExclusiveStartShardId="shardId-000000000001")["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == shard_ids(4)[2:]
    assert page["HasMoreShards"] is True
    page = kinesis.describe_stream(StreamName=stream_name,
                                   ExclusiveStartShardId="shardId-000000000003")["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == ["shardId-000000000004"]
    assert page["HasMoreShards"] is False


def test_describe_stream_by_arn(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    desc = kinesis.describe_stream(StreamARN=stream_arn(stream_name))["StreamDescription"]
    assert desc["StreamName"] == stream_name


def test_describe_stream_limit_out_of_range(kinesis_nv, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis_nv.describe_stream(StreamName=stream_name, Limit=10001)
    assert_error(e, "ValidationException", validation_message(
        constraint(10001, "limit", "Member must have value less than or equal to 10000")))


def test_describe_missing_stream(kinesis, stream_name):
    assert_error(_describe_error(kinesis, stream_name), "ResourceNotFoundException", not_found_message(stream_name))
    with pytest.raises(ClientError) as e:
        kinesis.describe_stream_summary(StreamName=stream_name)
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


def test_describe_stream_summary(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    s = kinesis.describe_stream_summary(StreamARN=stream_arn(stream_name))["StreamDescriptionSummary"]
    assert s["StreamName"] == stream_name
    assert s["StreamARN"] == stream_arn(stream_name)
    assert s["StreamStatus"] == "ACTIVE"
    assert s["OpenShardCount"] == 3
    assert s["RetentionPeriodHours"] == 24
    assert s["EncryptionType"] == "NONE"
    assert s["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    assert s.get("ConsumerCount", 0) == 0
    assert s["MaxRecordSizeInKiB"] == 1024
    assert isinstance(s["StreamCreationTimestamp"], dt.datetime)


# --------------------------------------------------------------------------- ListStreams


def test_list_streams_pagination_on_fresh_server(server_factory):
    """Exact listings need a server with no other tests' streams."""
    srv = server_factory()
    c = srv.client()
    assert c.list_streams()["StreamNames"] == []
    names = ["alpha", "bravo", "charlie", "delta"]
    for n in reversed(names):
        create_stream(c, n, 1)
    full = c.list_streams()
    assert full["StreamNames"] == names  # AWS lists streams in name order
    assert full["HasMoreStreams"] is False
    summaries = {s["StreamName"]: s for s in full["StreamSummaries"]}
    assert set(summaries) == set(names)
    for n, s in summaries.items():
        assert s["StreamARN"] == stream_arn(n)
        assert s["StreamStatus"] == "ACTIVE"
        assert s["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
        assert isinstance(s["StreamCreationTimestamp"], dt.datetime)

    page = c.list_streams(Limit=2)
    assert page["StreamNames"] == ["alpha", "bravo"]
    assert page["HasMoreStreams"] is True
    assert page["NextToken"]

    page2 = c.list_streams(NextToken=page["NextToken"], Limit=2)
    assert page2["StreamNames"] == ["charlie", "delta"]
    assert page2["HasMoreStreams"] is False
    assert "NextToken" not in page2

    page = c.list_streams(ExclusiveStartStreamName="bravo", Limit=1)
    assert page["StreamNames"] == ["charlie"]
    assert page["HasMoreStreams"] is True
    page = c.list_streams(ExclusiveStartStreamName="charlie")
    assert page["StreamNames"] == ["delta"]
    assert page["HasMoreStreams"] is False
    # A start name that is not a stream still works as a lexical bound.
    assert c.list_streams(ExclusiveStartStreamName="b")["StreamNames"] == ["bravo", "charlie", "delta"]

    # The paginator (NextToken chaining) sees every stream exactly once.
    seen = [n for p in c.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
            for n in p["StreamNames"]]
    assert seen == names


def test_list_streams_limit_validation(kinesis_nv):
    with pytest.raises(ClientError) as e:
        kinesis_nv.list_streams(Limit=0)
    assert_error(e, "ValidationException", validation_message(
        constraint(0, "limit", "Member must have value greater than or equal to 1")))


def test_list_streams_shows_new_stream(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    page = kinesis.list_streams(ExclusiveStartStreamName=stream_name[:-1], Limit=1)
    assert page["StreamNames"] == [stream_name]


# --------------------------------------------------------------------------- ListShards


def test_list_shards_pagination(kinesis, stream_name):
    create_stream(kinesis, stream_name, 5)
    page = kinesis.list_shards(StreamName=stream_name, MaxResults=2)
    assert [s["ShardId"] for s in page["Shards"]] == shard_ids(2)
    token = page["NextToken"]
    page = kinesis.list_shards(NextToken=token, MaxResults=2)
    assert [s["ShardId"] for s in page["Shards"]] == shard_ids(4)[2:]
    page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=2)
    assert [s["ShardId"] for s in page["Shards"]] == ["shardId-000000000004"]
    assert "NextToken" not in page
    full = kinesis.list_shards(StreamARN=stream_arn(stream_name))
    assert [s["ShardId"] for s in full["Shards"]] == shard_ids(5)
    assert "NextToken" not in full
    assert_covers_key_space(full["Shards"])
    after = kinesis.list_shards(StreamName=stream_name, ExclusiveStartShardId="shardId-000000000002")
    assert [s["ShardId"] for s in after["Shards"]] == shard_ids(5)[3:]


def test_list_shards_next_token_with_stream_name_rejected(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    token = kinesis.list_shards(StreamName=stream_name, MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=stream_name, NextToken=token)
    # kinesalite actions/listShards.js
    assert_error(e, "InvalidArgumentException", "NextToken and StreamName cannot be provided together.")


def test_list_shards_without_stream_or_token_rejected(kinesis):
    with pytest.raises(ClientError) as e:
        kinesis.list_shards()
    # kinesalite: "Either NextToken or StreamName should be provided."; AWS may now mention
    # StreamARN too, so only the type is pinned.
    assert_error(e, "InvalidArgumentException")


def test_list_shards_garbage_next_token_rejected(kinesis):
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(NextToken="not-a-real-token")
    # AWS's exact text for an undecodable token is not recorded anywhere we could check.
    assert client_code(e) in ("InvalidArgumentException", "ExpiredNextTokenException")


def client_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_list_shards_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=stream_name)
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


@pytest.mark.parametrize("filter_type", ["AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST"])
def test_list_shards_filters_without_resharding_return_all(kinesis, stream_name, filter_type):
    create_stream(kinesis, stream_name, 3)
    resp = kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": filter_type})
    assert [s["ShardId"] for s in resp["Shards"]] == shard_ids(3)


@pytest.mark.parametrize("filter_type", ["AT_TIMESTAMP", "FROM_TIMESTAMP"])
def test_list_shards_timestamp_filters_return_open_shards(kinesis, stream_name, filter_type):
    create_stream(kinesis, stream_name, 3)
    for ts in (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1), dt.datetime.now(dt.timezone.utc)):
        resp = kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": filter_type, "Timestamp": ts})
        assert [s["ShardId"] for s in resp["Shards"]] == shard_ids(3)


def test_list_shards_after_shard_id_filter(kinesis, stream_name):
    create_stream(kinesis, stream_name, 4)
    resp = kinesis.list_shards(StreamName=stream_name,
                               ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000001"})
    assert [s["ShardId"] for s in resp["Shards"]] == shard_ids(4)[2:]


def test_list_shards_after_shard_id_filter_needs_shard_id(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": "AFTER_SHARD_ID"})
    # Message not recorded; AWS answers InvalidArgumentException for an incomplete ShardFilter.
    assert_error(e, "InvalidArgumentException")


# --------------------------------------------------------------------------- retention


def retention(client, name) -> int:
    return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["RetentionPeriodHours"]


def test_retention_increase_and_decrease(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=48)
    wait_for_status(kinesis, stream_name)
    assert retention(kinesis, stream_name) == 48
    kinesis.increase_stream_retention_period(StreamARN=stream_arn(stream_name), RetentionPeriodHours=8760)
    wait_for_status(kinesis, stream_name)
    assert retention(kinesis, stream_name) == 8760
    kinesis.decrease_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=24)
    wait_for_status(kinesis, stream_name)
    assert retention(kinesis, stream_name) == 24
    assert kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]["RetentionPeriodHours"] == 24


def test_retention_decrease_above_current_rejected(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.decrease_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=100)
    # kinesalite actions/decreaseStreamRetentionPeriod.js (test/decreaseStreamRetentionPeriod.js)
    assert_error(e, "InvalidArgumentException",
                 f"Requested retention period (100 hours) for stream {stream_name} can not be longer than "
                 f"existing retention period (24 hours). Use IncreaseRetentionPeriod API.")
    assert retention(kinesis, stream_name) == 24


def test_retention_increase_below_current_rejected(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=72)
    wait_for_status(kinesis, stream_name)
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=48)
    # kinesalite actions/increaseStreamRetentionPeriod.js
    assert_error(e, "InvalidArgumentException",
                 f"Requested retention period (48 hours) for stream {stream_name} can not be shorter than "
                 f"existing retention period (72 hours). Use DecreaseRetentionPeriod API.")
    assert retention(kinesis, stream_name) == 72


def test_retention_bounds(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=8761)
    # kinesalite actions/*StreamRetentionPeriod.js has 168; AWS raised the cap to 8760 (moto records
    # the current text).
    assert_error(e, "InvalidArgumentException",
                 "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.")
    with pytest.raises(ClientError) as e:
        kinesis.decrease_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=23)
    assert_error(e, "InvalidArgumentException",
                 "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.")
    assert retention(kinesis, stream_name) == 24


def test_retention_on_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=stream_name, RetentionPeriodHours=48)
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


# --------------------------------------------------------------------------- tags


def tag_map(client, name) -> dict:
    return {t["Key"]: t.get("Value", "") for t in client.list_tags_for_stream(StreamName=name)["Tags"]}


def test_tags_add_list_remove(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    empty = kinesis.list_tags_for_stream(StreamName=stream_name)
    assert (empty["Tags"], empty["HasMoreTags"]) == ([], False)
    kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"a": "1", "b": "2", "empty": ""})
    assert tag_map(kinesis, stream_name) == {"a": "1", "b": "2", "empty": ""}
    kinesis.add_tags_to_stream(StreamARN=stream_arn(stream_name), Tags={"a": "overwritten"})
    assert tag_map(kinesis, stream_name)["a"] == "overwritten"
    kinesis.remove_tags_from_stream(StreamName=stream_name, TagKeys=["b", "not-there"])
    assert tag_map(kinesis, stream_name) == {"a": "overwritten", "empty": ""}


def test_list_tags_pagination(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.add_tags_to_stream(StreamName=stream_name, Tags={f"k{i}": f"v{i}" for i in range(1, 6)})
    page = kinesis.list_tags_for_stream(StreamName=stream_name, Limit=2)
    assert [t["Key"] for t in page["Tags"]] == ["k1", "k2"]  # AWS returns tags in key order
    assert page["HasMoreTags"] is True
    page = kinesis.list_tags_for_stream(StreamName=stream_name, Limit=2, ExclusiveStartTagKey="k2")
    assert [(t["Key"], t["Value"]) for t in page["Tags"]] == [("k3", "v3"), ("k4", "v4")]
    assert page["HasMoreTags"] is True
    page = kinesis.list_tags_for_stream(StreamName=stream_name, ExclusiveStartTagKey="k4")
    assert [t["Key"] for t in page["Tags"]] == ["k5"]
    assert page["HasMoreTags"] is False


def test_list_tags_limit_validation(kinesis_nv, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis_nv.list_tags_for_stream(StreamName=stream_name, Limit=51)
    assert_error(e, "ValidationException", validation_message(
        constraint(51, "limit", "Member must have value less than or equal to 50")))


def test_tag_limit_of_50(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.add_tags_to_stream(StreamName=stream_name, Tags={f"t{i:02d}": "x" for i in range(50)})
    assert len(tag_map(kinesis, stream_name)) == 50
    with pytest.raises(ClientError) as e:
        kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"one-too-many": "x"})
    # kinesalite (actions/addTagsToStream.js) records "...because a given stream cannot have more
    # than 10 tags associated with it." from when the limit was 10; today's text is not recorded.
    assert_error(e, "InvalidArgumentException", re.compile("50"))
    tags = tag_map(kinesis, stream_name)
    assert len(tags) == 50 and "one-too-many" not in tags
    # Overwriting an existing key does not count against the limit.
    kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"t00": "y"})
    assert tag_map(kinesis, stream_name)["t00"] == "y"


def test_tag_key_with_invalid_characters_rejected(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1, Tags={"keep": "me"})
    with pytest.raises(ClientError) as e:
        kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"bad#key": "v"})
    # kinesalite test/addTagsToStream.js (recorded against AWS); `:` is not in Kinesis's list.
    assert_error(e, "InvalidArgumentException",
                 "Some tags contain invalid characters. Valid characters: "
                 "Unicode letters, digits, white space, _ . / = + - % @.")
    assert tag_map(kinesis, stream_name) == {"keep": "me"}


def test_tag_key_too_long_or_empty_rejected(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    for bad in ("k" * 129, ""):
        with pytest.raises(ClientError) as e:
            kinesis_nv.add_tags_to_stream(StreamName=stream_name, Tags={bad: "v"})
        # Map-key constraint text varies ("Map keys must satisfy constraint: ..."); type only.
        assert_error(e, "ValidationException")
    assert tag_map(kinesis_nv, stream_name) == {}


def test_tags_on_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.add_tags_to_stream(StreamName=stream_name, Tags={"a": "b"})
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))
    with pytest.raises(ClientError) as e:
        kinesis.list_tags_for_stream(StreamName=stream_name)
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


def test_tag_resource_api(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1, Tags={"old": "1"})
    arn = stream_arn(stream_name)
    kinesis.tag_resource(ResourceARN=arn, Tags={"new": "2"})
    got = {t["Key"]: t["Value"] for t in kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert got == {"old": "1", "new": "2"}
    assert tag_map(kinesis, stream_name) == got  # both APIs see the same tags
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["old"])
    assert {t["Key"] for t in kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]} == {"new"}


def test_tag_resource_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.list_tags_for_resource(ResourceARN=stream_arn(stream_name))
    assert_error(e, "ResourceNotFoundException")


# --------------------------------------------------------------------------- encryption


def test_start_and_stop_stream_encryption(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.start_stream_encryption(StreamName=stream_name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    wait_for_status(kinesis, stream_name)
    desc = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    assert desc["EncryptionType"] == "KMS"
    assert desc["KeyId"] == "alias/aws/kinesis"
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", "alias/aws/kinesis")
    put = kinesis.put_record(StreamName=stream_name, Data=b"secret", PartitionKey="k")
    assert put.get("EncryptionType", "KMS") == "KMS"

    kinesis.stop_stream_encryption(StreamName=stream_name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    wait_for_status(kinesis, stream_name)
    desc = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    assert desc["EncryptionType"] == "NONE"
    assert "KeyId" not in desc
    # Data written while encrypted still reads back.
    assert [r["Data"] for r in read_shard(kinesis, stream_name, "shardId-000000000000")] == [b"secret"]


def test_start_encryption_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.start_stream_encryption(StreamName=stream_name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


# --------------------------------------------------------------------------- enhanced monitoring


def test_enhanced_monitoring(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    resp = kinesis.enable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["IncomingBytes"])
    assert resp["StreamName"] == stream_name
    assert resp.get("CurrentShardLevelMetrics", []) == []
    assert resp["DesiredShardLevelMetrics"] == ["IncomingBytes"]
    wait_for_status(kinesis, stream_name)
    em = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]["EnhancedMonitoring"]
    assert em == [{"ShardLevelMetrics": ["IncomingBytes"]}]

    resp = kinesis.enable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["ALL"])
    assert set(resp["CurrentShardLevelMetrics"]) == {"IncomingBytes"}
    assert set(resp["DesiredShardLevelMetrics"]) == ALL_METRICS  # "ALL" expands to the seven metrics
    wait_for_status(kinesis, stream_name)
    em = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]["EnhancedMonitoring"]
    assert set(em[0]["ShardLevelMetrics"]) == ALL_METRICS

    resp = kinesis.disable_enhanced_monitoring(StreamARN=stream_arn(stream_name),
                                               ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
    assert set(resp["CurrentShardLevelMetrics"]) == ALL_METRICS
    assert set(resp["DesiredShardLevelMetrics"]) == ALL_METRICS - {"IncomingBytes", "OutgoingBytes"}
    wait_for_status(kinesis, stream_name)

    resp = kinesis.disable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["ALL"])
    assert resp.get("DesiredShardLevelMetrics", []) == []
    wait_for_status(kinesis, stream_name)
    em = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]["EnhancedMonitoring"]
    assert em == [{"ShardLevelMetrics": []}]


def test_enhanced_monitoring_bad_metric(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis_nv.enable_enhanced_monitoring(StreamName=stream_name, ShardLevelMetrics=["NotAMetric"])
    # Enum-member paths in AWS's text are not recorded; type only.
    assert_error(e, "ValidationException", re.compile("NotAMetric"))
    em = kinesis_nv.describe_stream(StreamName=stream_name)["StreamDescription"]["EnhancedMonitoring"]
    assert em == [{"ShardLevelMetrics": []}]


# --------------------------------------------------------------------------- limits, mode, record size


def test_describe_limits_counts_open_shards(server_factory):
    """Exact counts need a server no other test touches."""
    c = server_factory().client()
    before = c.describe_limits()
    for key in ("ShardLimit", "OpenShardCount", "OnDemandStreamCount", "OnDemandStreamCountLimit"):
        assert isinstance(before[key], int) and before[key] >= 0
    assert (before["OpenShardCount"], before["OnDemandStreamCount"]) == (0, 0)
    assert before["ShardLimit"] > 0 and before["OnDemandStreamCountLimit"] > 0
    create_stream(c, "provisioned", 2)
    create_stream(c, "on-demand", None, mode="ON_DEMAND")
    after = c.describe_limits()
    assert after["OpenShardCount"] == 2 + 4
    assert after["OnDemandStreamCount"] == 1
    assert after["ShardLimit"] == before["ShardLimit"]
    c.delete_stream(StreamName="provisioned")
    wait_for_deleted(c, "provisioned")
    assert c.describe_limits()["OpenShardCount"] == 4


def test_update_stream_mode(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    arn = stream_arn(stream_name)
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    s = wait_for_status(kinesis, stream_name)
    assert s["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    s = wait_for_status(kinesis, stream_name)
    assert s["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    listed = kinesis.list_streams(ExclusiveStartStreamName=stream_name[:-1], Limit=1)["StreamSummaries"]
    assert listed[0]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_update_stream_mode_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.update_stream_mode(StreamARN=stream_arn(stream_name), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert_error(e, "ResourceNotFoundException")


def test_update_max_record_size_bounds(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    arn = stream_arn(stream_name)
    for bad, rule in ((1023, "Member must have value greater than or equal to 1024"),
                      (10241, "Member must have value less than or equal to 10240")):
        with pytest.raises(ClientError) as e:
            kinesis_nv.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=bad)
        # API reference: out-of-range values get a ValidationException.
        assert_error(e, "ValidationException", validation_message(constraint(bad, "maxRecordSizeInKiB", rule)))
    s = kinesis_nv.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    assert s["MaxRecordSizeInKiB"] == 1024
    kinesis_nv.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=10240)
    assert wait_for_status(kinesis_nv, stream_name)["MaxRecordSizeInKiB"] == 10240


def test_create_stream_with_max_record_size(kinesis, stream_name):
    s = create_stream(kinesis, stream_name, 1, MaxRecordSizeInKiB=2048)
    assert s["MaxRecordSizeInKiB"] == 2048


# --------------------------------------------------------------------------- loosely specified operations


def test_resource_policy_round_trip_answers(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    arn = stream_arn(stream_name)
    policy = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "kinesis:GetRecords", "Resource": arn}],
    })
    kinesis.put_resource_policy(ResourceARN=arn, Policy=policy)
    got = kinesis.get_resource_policy(ResourceARN=arn)["Policy"]
    assert json.loads(got) == json.loads(policy)
    kinesis.delete_resource_policy(ResourceARN=arn)
    assert isinstance(kinesis.get_resource_policy(ResourceARN=arn)["Policy"], str)


def test_account_settings_answer(kinesis):
    settings = kinesis.describe_account_settings()
    assert settings["ResponseMetadata"]["HTTPStatusCode"] == 200
    resp = kinesis.update_account_settings(MinimumThroughputBillingCommitment={"Status": "DISABLED"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_update_stream_warm_throughput_answers(kinesis, stream_name):
    create_stream(kinesis, stream_name, None, mode="ON_DEMAND")
    try:
        resp = kinesis.update_stream_warm_throughput(StreamName=stream_name, WarmThroughputMiBps=10)
    except ClientError as e:  # an AWS-shaped refusal is acceptable; a crash or 5xx is not
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert e.response["Error"]["Code"] in ("InvalidArgumentException", "ValidationException",
                                               "LimitExceededException")
    else:
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


# --------------------------------------------------------------------------- status transitions


def test_creating_stream_and_waiters(server_factory, name_factory):
    srv = server_factory(create_delay_ms=300, delete_delay_ms=300, update_delay_ms=300)
    c = srv.client()
    name = name_factory()
    c.create_stream(StreamName=name, ShardCount=1)
    assert c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "CREATING"
    with pytest.raises(ClientError) as e:
        c.put_record(StreamName=name, Data=b"too early", PartitionKey="k")
    # kinesalite actions/putRecord.js: a stream that is not ACTIVE/UPDATING is "not found".
    assert_error(e, "ResourceNotFoundException", not_found_message(name))

    started = time.monotonic()
    c.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert time.monotonic() - started < 10
    assert c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    c.put_record(StreamName=name, Data=b"on time", PartitionKey="k")

    # UPDATING: writes still work; a second update is refused until ACTIVE again.
    c.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    assert c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
    c.put_record(StreamName=name, Data=b"while updating", PartitionKey="k")
    with pytest.raises(ClientError) as e:
        c.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    # Message not recorded; AWS documents ResourceInUseException for a stream not ACTIVE.
    assert_error(e, "ResourceInUseException")
    wait_for_status(c, name)

    c.delete_stream(StreamName=name)
    status = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
    assert status == "DELETING"
    c.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert_error(_describe_error(c, name), "ResourceNotFoundException", not_found_message(name))


def test_waiter_fails_for_missing_stream(kinesis, stream_name):
    with pytest.raises(WaiterError):
        kinesis.get_waiter("stream_exists").wait(StreamName=stream_name,
                                                 WaiterConfig={"Delay": 0.05, "MaxAttempts": 2})
