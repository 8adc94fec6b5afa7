"""Data-plane operations through boto3: PutRecord, PutRecords, GetShardIterator,
GetRecords, and the per-stream maximum record size.

AWS behaviour and messages follow the Kinesis API reference and kinesalite
(mhart/kinesalite actions/*.js and test/*.js, recorded against AWS).
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import (
    HASH_KEY_SPACE, assert_error, constraint, create_stream, list_all_shards, md5_hash_key,
    not_found_message, read_shard, shard_for_hash, shard_iterator, stream_arn, validation_message,
    wait_for_deleted, wait_for_status,
)

SHARD0 = "shardId-000000000000"
SHARD1 = "shardId-000000000001"
MiB = 1024 * 1024
SEQ_RE = re.compile(r"0|[1-9]\d{0,128}")

ITERATOR_RULE_MSG = ("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                     "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. "
                     "Request specified {} {} StartingSequenceNumber.")  # kinesalite actions/getShardIterator.js


def seq(n: str) -> int:
    assert SEQ_RE.fullmatch(n), f"not a decimal sequence number: {n!r}"
    return int(n)


# --------------------------------------------------------------------------- PutRecord


def test_put_record_and_read_back(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    payloads = [b"hello", bytes(range(256)), b"", "ünïcødé".encode(), b"\x00" * 1000]
    acks = [kinesis.put_record(StreamName=stream_name, Data=d, PartitionKey=f"pk{i}") for i, d in enumerate(payloads)]
    for a in acks:
        assert a["ShardId"] == SHARD0
    seqs = [seq(a["SequenceNumber"]) for a in acks]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers must increase per shard"
    records = read_shard(kinesis, stream_name, SHARD0)
    assert [r["Data"] for r in records] == payloads
    assert [r["PartitionKey"] for r in records] == [f"pk{i}" for i in range(len(payloads))]
    assert [r["SequenceNumber"] for r in records] == [a["SequenceNumber"] for a in acks]


def test_put_record_by_stream_arn(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    ack = kinesis.put_record(StreamARN=stream_arn(stream_name), Data=b"via arn", PartitionKey="k")
    assert ack["ShardId"] == SHARD0
    assert [r["Data"] for r in read_shard(kinesis, stream_name, SHARD0)] == [b"via arn"]


def test_partition_key_md5_routing(kinesis, stream_name):
    create_stream(kinesis, stream_name, 4)
    shards = list_all_shards(kinesis, stream_name)
    hit = set()
    for i in range(40):
        pk = f"partition-{i}"
        ack = kinesis.put_record(StreamName=stream_name, Data=pk.encode(), PartitionKey=pk)
        assert ack["ShardId"] == shard_for_hash(shards, md5_hash_key(pk)), pk
        hit.add(ack["ShardId"])
    assert len(hit) == 4, "40 keys should spread over all 4 shards"
    # Unicode partition keys hash their UTF-8 bytes.
    pk = "clé-ü-日本"
    assert kinesis.put_record(StreamName=stream_name, Data=b"x", PartitionKey=pk)["ShardId"] == \
        shard_for_hash(shards, md5_hash_key(pk))


def test_explicit_hash_key_routing(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    step = HASH_KEY_SPACE // 3
    cases = {
        "0": "shardId-000000000000",
        str(step - 1): "shardId-000000000000",
        str(step): "shardId-000000000001",
        str(2 * step - 1): "shardId-000000000001",  # kinesalite test/putRecord.js "just below range"
        str(2 * step): "shardId-000000000002",      # "just above range"
        str(HASH_KEY_SPACE - 1): "shardId-000000000002",  # "final ExplicitHashKey"
    }
    for hk, shard in cases.items():
        ack = kinesis.put_record(StreamName=stream_name, Data=hk.encode(), PartitionKey="same-key",
                                 ExplicitHashKey=hk)
        assert ack["ShardId"] == shard, hk
    # The explicit key wins over the partition key's hash.
    assert [r["Data"] for r in read_shard(kinesis, stream_name, "shardId-000000000001")] == \
        [str(step).encode(), str(2 * step - 1).encode()]


def test_explicit_hash_key_out_of_range(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(HASH_KEY_SPACE))
    # kinesalite actions/putRecord.js
    assert_error(e, "InvalidArgumentException",
                 "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
                 f"Specified value was {HASH_KEY_SPACE}")
    assert read_shard(kinesis, stream_name, SHARD0) == []


def test_explicit_hash_key_not_a_number(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k", ExplicitHashKey="12ab")
    assert_error(e, "ValidationException", validation_message(constraint(
        "12ab", "explicitHashKey", r"Member must satisfy regular expression pattern: 0|([1-9]\d{0,38})")))


def test_sequence_number_for_ordering(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    first = kinesis.put_record(StreamName=stream_name, Data=b"1", PartitionKey="ordered")
    second = kinesis.put_record(StreamName=stream_name, Data=b"2", PartitionKey="ordered",
                                SequenceNumberForOrdering=first["SequenceNumber"])
    third = kinesis.put_record(StreamName=stream_name, Data=b"3", PartitionKey="ordered",
                               SequenceNumberForOrdering=second["SequenceNumber"])
    assert first["ShardId"] == second["ShardId"] == third["ShardId"]
    assert seq(first["SequenceNumber"]) < seq(second["SequenceNumber"]) < seq(third["SequenceNumber"])
    data = [r["Data"] for r in read_shard(kinesis, stream_name, first["ShardId"])]
    assert data == [b"1", b"2", b"3"]


def test_sequence_number_for_ordering_not_a_number(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k", SequenceNumberForOrdering="-1")
    assert_error(e, "ValidationException", validation_message(constraint(
        "-1", "sequenceNumberForOrdering", r"Member must satisfy regular expression pattern: 0|([1-9]\d{0,128})")))


def test_put_record_partition_key_bounds(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    kinesis_nv.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k" * 256)
    long_key = "k" * 257
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_record(StreamName=stream_name, Data=b"x", PartitionKey=long_key)
    assert_error(e, "ValidationException", validation_message(
        constraint(long_key, "partitionKey", "Member must have length less than or equal to 256")))
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_record(StreamName=stream_name, Data=b"x", PartitionKey="")
    assert_error(e, "ValidationException", validation_message(
        constraint("", "partitionKey", "Member must have length greater than or equal to 1")))
    assert len(read_shard(kinesis_nv, stream_name, SHARD0)) == 1


def test_put_record_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k")
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))  # kinesalite test/putRecord.js


def test_put_record_size_limit_default_1mib(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    # AWS: the 1 MiB limit covers data plus partition key; stay a little below it.
    ok = b"a" * (MiB - 1024)
    kinesis.put_record(StreamName=stream_name, Data=ok, PartitionKey="k")
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream_name, Data=b"b" * (MiB + 1), PartitionKey="k")
    # Since records may reach 10 MiB (UpdateMaxRecordSize) the model allows 10 MiB, so the
    # per-stream check is the service's; AWS's type/text for it is not recorded: either the
    # model-style ValidationException or InvalidArgumentException.
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] in ("ValidationException", "InvalidArgumentException"), err["Error"]
    records = read_shard(kinesis, stream_name, SHARD0)
    assert [len(r["Data"]) for r in records] == [len(ok)]


def test_update_max_record_size_allows_larger_records(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    big = bytes(range(256)) * (6 * 1024)  # 1.5 MiB
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream_name, Data=big, PartitionKey="k")
    assert e.value.response["Error"]["Code"] in ("ValidationException", "InvalidArgumentException")
    kinesis.update_max_record_size(StreamARN=stream_arn(stream_name), MaxRecordSizeInKiB=2048)
    wait_for_status(kinesis, stream_name)
    kinesis.put_record(StreamName=stream_name, Data=big, PartitionKey="k")
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream_name, Data=b"x" * (2 * MiB + 1), PartitionKey="k")
    assert e.value.response["Error"]["Code"] in ("ValidationException", "InvalidArgumentException")
    records = read_shard(kinesis, stream_name, SHARD0)
    assert len(records) == 1 and records[0]["Data"] == big


# --------------------------------------------------------------------------- PutRecords


def test_put_records_results_match_input_order(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    shards = list_all_shards(kinesis, stream_name)
    entries = [{"Data": f"rec-{i}".encode(), "PartitionKey": f"key-{i}"} for i in range(30)]
    entries.append({"Data": b"explicit", "PartitionKey": "whatever", "ExplicitHashKey": str(HASH_KEY_SPACE - 1)})
    resp = kinesis.put_records(StreamName=stream_name, Records=entries)
    assert resp.get("FailedRecordCount", 0) == 0
    results = resp["Records"]
    assert len(results) == len(entries)
    for entry, res in zip(entries[:-1], results[:-1]):
        assert "ErrorCode" not in res
        assert res["ShardId"] == shard_for_hash(shards, md5_hash_key(entry["PartitionKey"]))
        seq(res["SequenceNumber"])
    assert results[-1]["ShardId"] == "shardId-000000000002"

    # Per shard, the records come back in request order with the acknowledged sequence numbers.
    for shard in shards:
        sid = shard["ShardId"]
        expected = [(r["SequenceNumber"], e["Data"]) for e, r in zip(entries, results) if r["ShardId"] == sid]
        got = [(r["SequenceNumber"], r["Data"]) for r in read_shard(kinesis, stream_name, sid)]
        assert got == expected, sid
        assert [seq(s) for s, _ in got] == sorted(seq(s) for s, _ in got)


def test_put_records_500_and_501(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    entries = [{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(500)]
    resp = kinesis_nv.put_records(StreamName=stream_name, Records=entries)
    assert len(resp["Records"]) == 500 and resp.get("FailedRecordCount", 0) == 0
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_records(StreamName=stream_name, Records=entries + [{"Data": b"x", "PartitionKey": "k"}])
    # The rendering of the list value in AWS's text is not reproducible; check the clause's tail.
    assert_error(e, "ValidationException", re.compile(
        r"^1 validation error detected: Value .* at 'records' failed to satisfy constraint: "
        r"Member must have length less than or equal to 500$", re.S))
    with pytest.raises(ClientError) as e:
        kinesis_nv.put_records(StreamName=stream_name, Records=[])
    assert_error(e, "ValidationException", re.compile(
        r"at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"))
    assert len(read_shard(kinesis_nv, stream_name, SHARD0)) == 500


def test_put_records_oversized_record_rejects_whole_request(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName=stream_name, Records=[
            {"Data": b"small", "PartitionKey": "k"},
            {"Data": b"z" * (MiB + 1), "PartitionKey": "k"},
        ])
    # Type/text not recorded for the per-stream limit (see test_put_record_size_limit_default_1mib).
    assert e.value.response["Error"]["Code"] in ("ValidationException", "InvalidArgumentException")
    assert read_shard(kinesis, stream_name, SHARD0) == []


def test_put_records_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName=stream_name, Records=[{"Data": b"x", "PartitionKey": "k"}])
    assert_error(e, "ResourceNotFoundException", not_found_message(stream_name))


def test_put_records_by_arn(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    resp = kinesis.put_records(StreamARN=stream_arn(stream_name),
                               Records=[{"Data": b"a", "PartitionKey": "k"}, {"Data": b"b", "PartitionKey": "k"}])
    assert [r["ShardId"] for r in resp["Records"]] == [SHARD0, SHARD0]


# --------------------------------------------------------------------------- GetShardIterator


def put_n(client, name, n, pk="k", prefix="r"):
    return [client.put_record(StreamName=name, Data=f"{prefix}{i}".encode(), PartitionKey=pk) for i in range(n)]


def data_of(records):
    return [r["Data"] for r in records]


def test_iterator_types(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    acks = put_n(kinesis, stream_name, 5)
    latest = shard_iterator(kinesis, stream_name, SHARD0, "LATEST")
    assert data_of(read_shard(kinesis, stream_name, SHARD0, "TRIM_HORIZON")) == [b"r0", b"r1", b"r2", b"r3", b"r4"]
    assert data_of(read_shard(kinesis, stream_name, SHARD0, "AT_SEQUENCE_NUMBER",
                              StartingSequenceNumber=acks[2]["SequenceNumber"])) == [b"r2", b"r3", b"r4"]
    assert data_of(read_shard(kinesis, stream_name, SHARD0, "AFTER_SEQUENCE_NUMBER",
                              StartingSequenceNumber=acks[2]["SequenceNumber"])) == [b"r3", b"r4"]
    assert data_of(read_shard(kinesis, stream_name, SHARD0, "AFTER_SEQUENCE_NUMBER",
                              StartingSequenceNumber=acks[4]["SequenceNumber"])) == []
    # LATEST taken before a put sees only what comes after it.
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []
    latest = shard_iterator(kinesis, stream_name, SHARD0, "LATEST")
    kinesis.put_record(StreamName=stream_name, Data=b"after-latest", PartitionKey="k")
    assert data_of(kinesis.get_records(ShardIterator=latest)["Records"]) == [b"after-latest"]


def test_iterator_at_timestamp(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    put_n(kinesis, stream_name, 2, prefix="early")
    early = read_shard(kinesis, stream_name, SHARD0)
    # boto3 sends timestamps as whole epoch seconds, so the late records must land in a later
    # second than the early ones for a timestamp between them to be expressible.
    time.sleep(1.05 - time.time() % 1)
    put_n(kinesis, stream_name, 2, prefix="late")
    late = read_shard(kinesis, stream_name, SHARD0)[2:]
    assert early[-1]["ApproximateArrivalTimestamp"] < late[0]["ApproximateArrivalTimestamp"]

    assert data_of(read_shard(kinesis, stream_name, SHARD0, "AT_TIMESTAMP", Timestamp=start)) == \
        [b"early0", b"early1", b"late0", b"late1"]
    # AT_TIMESTAMP starts at the first record whose arrival is at or after the timestamp.
    assert data_of(read_shard(kinesis, stream_name, SHARD0, "AT_TIMESTAMP",
                              Timestamp=late[0]["ApproximateArrivalTimestamp"])) == [b"late0", b"late1"]
    # A timestamp in the future is refused (kinesalite test/getShardIterator.js, recorded
    # against AWS; see test_wire_fidelity.py), not answered with an empty iterator.
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    with pytest.raises(ClientError) as e:
        read_shard(kinesis, stream_name, SHARD0, "AT_TIMESTAMP", Timestamp=future)
    assert_error(e, "InvalidArgumentException", re.compile(
        "^The timestampInMillis parameter cannot be greater than the currentTimestampInMillis"))


def test_iterator_at_timestamp_requires_timestamp(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType="AT_TIMESTAMP")
    # kinesalite test/getShardIterator.js
    assert_error(e, "InvalidArgumentException",
                 "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                 "Current request has no timestamp parameter.")


@pytest.mark.parametrize("kind", ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"])
def test_iterator_sequence_types_need_sequence(kinesis, stream_name, kind):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType=kind)
    assert_error(e, "InvalidArgumentException", ITERATOR_RULE_MSG.format(kind, "and no"))


@pytest.mark.parametrize("kind", ["TRIM_HORIZON", "LATEST"])
def test_iterator_position_types_refuse_sequence(kinesis, stream_name, kind):
    create_stream(kinesis, stream_name, 1)
    ack = kinesis.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k")
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType=kind,
                                   StartingSequenceNumber=ack["SequenceNumber"])
    assert_error(e, "InvalidArgumentException", ITERATOR_RULE_MSG.format(kind, "and also a"))


def test_iterator_bad_sequence_numbers(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 2)
    with pytest.raises(ClientError) as e:
        kinesis_nv.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0,
                                      ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="12x")
    assert_error(e, "ValidationException", validation_message(constraint(
        "12x", "startingSequenceNumber", r"Member must satisfy regular expression pattern: 0|([1-9]\d{0,128})")))

    # A well-formed number far beyond anything this stream issued. AWS's text depends on how the
    # number decodes (kinesalite test/getShardIterator.js has several variants), so only the type
    # is pinned.
    with pytest.raises(ClientError) as e:
        kinesis_nv.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0,
                                      ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="9" * 100)
    assert_error(e, "InvalidArgumentException")


def test_iterator_sequence_from_another_shard(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    ack = kinesis.put_record(StreamName=stream_name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(HASH_KEY_SPACE - 1))
    assert ack["ShardId"] == SHARD1
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=ack["SequenceNumber"])
    # AWS: "Invalid StartingSequenceNumber. It encodes shardId-..., while it was used in a call to a
    # shard with shardId-000000000000" (kinesalite) — depends on AWS's sequence encoding, so loose.
    assert_error(e, "InvalidArgumentException", re.compile(SHARD0))


def test_iterator_unknown_shard(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId="shardId-000000000005", ShardIteratorType="LATEST")
    # kinesalite actions/getShardIterator.js / test/getShardIterator.js
    assert_error(e, "ResourceNotFoundException",
                 f"Shard shardId-000000000005 in stream {stream_name} under account 000000000000 does not exist")


def test_iterator_unknown_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType="LATEST")
    # kinesalite rewrites this to the "Shard ... does not exist" form; either names the stream.
    assert_error(e, "ResourceNotFoundException", re.compile(re.escape(stream_name)))


def test_iterator_bad_type(kinesis_nv, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis_nv.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType="SOMEWHERE")
    msg = assert_error(e, "ValidationException", re.compile(re.escape(
        "1 validation error detected: Value 'SOMEWHERE' at 'shardIteratorType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [")))
    # AWS's enum order is its own; all five values must be listed.
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
        assert kind in msg


# --------------------------------------------------------------------------- GetRecords


def test_get_records_chaining_and_limit(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    put = kinesis.put_records(StreamName=stream_name,
                              Records=[{"Data": f"{i:03d}".encode(), "PartitionKey": "k"} for i in range(25)])
    it = shard_iterator(kinesis, stream_name, SHARD0)
    sizes, got = [], []
    for _ in range(5):
        resp = kinesis.get_records(ShardIterator=it, Limit=10)
        sizes.append(len(resp["Records"]))
        got += resp["Records"]
        assert resp["NextShardIterator"]
        it = resp["NextShardIterator"]
    assert sizes == [10, 10, 5, 0, 0]
    assert [r["Data"] for r in got] == [f"{i:03d}".encode() for i in range(25)]
    assert [r["SequenceNumber"] for r in got] == [r["SequenceNumber"] for r in put["Records"]]
    # An iterator can be reused: GetRecords does not consume it.
    again = kinesis.get_records(ShardIterator=shard_iterator(kinesis, stream_name, SHARD0), Limit=1)
    assert again["Records"][0]["Data"] == b"000"
    assert kinesis.get_records(ShardIterator=it, Limit=10000)["Records"] == []


def test_get_records_empty_stream(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    resp = kinesis.get_records(ShardIterator=shard_iterator(kinesis, stream_name, SHARD0))
    assert resp["Records"] == []
    assert resp["NextShardIterator"]
    assert resp["MillisBehindLatest"] == 0


def test_get_records_metadata(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    before = dt.datetime.now(dt.timezone.utc)
    ack = kinesis.put_record(StreamName=stream_name, Data=b"meta", PartitionKey="pk-meta")
    after = dt.datetime.now(dt.timezone.utc)
    resp = kinesis.get_records(ShardIterator=shard_iterator(kinesis, stream_name, SHARD0))
    (rec,) = resp["Records"]
    assert rec["SequenceNumber"] == ack["SequenceNumber"]
    assert rec["PartitionKey"] == "pk-meta"
    assert rec["Data"] == b"meta"
    arrival = rec["ApproximateArrivalTimestamp"]
    assert before - dt.timedelta(seconds=1) <= arrival <= after + dt.timedelta(seconds=1)
    assert isinstance(resp["MillisBehindLatest"], int) and resp["MillisBehindLatest"] >= 0
    # Once caught up, the reader is 0 ms behind.
    tail = kinesis.get_records(ShardIterator=resp["NextShardIterator"])
    assert tail["Records"] == [] and tail["MillisBehindLatest"] == 0
    shard = kinesis.list_shards(StreamName=stream_name)["Shards"][0]
    assert seq(rec["SequenceNumber"]) >= seq(shard["SequenceNumberRange"]["StartingSequenceNumber"])


def test_get_records_limit_validation(kinesis_nv, stream_name):
    create_stream(kinesis_nv, stream_name, 1)
    it = shard_iterator(kinesis_nv, stream_name, SHARD0)
    for bad, rule in ((0, "Member must have value greater than or equal to 1"),
                      (10001, "Member must have value less than or equal to 10000")):
        with pytest.raises(ClientError) as e:
            kinesis_nv.get_records(ShardIterator=it, Limit=bad)
        # kinesalite test/getRecords.js
        assert_error(e, "ValidationException", validation_message(constraint(bad, "limit", rule)))
    assert kinesis_nv.get_records(ShardIterator=it, Limit=10000)["Records"] == []


def test_get_records_invalid_iterator(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator="clearly-not-an-iterator")
    assert_error(e, "InvalidArgumentException", "Invalid ShardIterator.")  # kinesalite actions/getRecords.js

    good = shard_iterator(kinesis, stream_name, SHARD0)
    mid = len(good) // 2
    tampered = good[:mid] + ("A" if good[mid] != "A" else "B") + good[mid + 1:]
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=tampered)
    # A forged iterator must not be honoured; AWS answers InvalidArgumentException.
    assert_error(e, "InvalidArgumentException")


def test_get_records_iterator_too_long(kinesis_nv):
    it = "a" * 513
    with pytest.raises(ClientError) as e:
        kinesis_nv.get_records(ShardIterator=it)
    assert_error(e, "ValidationException", validation_message(
        constraint(it, "shardIterator", "Member must have length less than or equal to 512")))


def test_get_records_after_stream_deleted(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    it = shard_iterator(kinesis, stream_name, SHARD0)
    kinesis.delete_stream(StreamName=stream_name)
    wait_for_deleted(kinesis, stream_name)
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=it)
    # kinesalite test/getRecords.js: "Shard shardId-000000000000 in stream X under account Y does not exist"
    assert_error(e, "ResourceNotFoundException",
                 f"Shard {SHARD0} in stream {stream_name} under account 000000000000 does not exist")


# ExpiredIteratorException needs an iterator older than AWS's 300 s lifetime; the server contract
# has no knob to shorten it, so it is not exercised here (it would cost five minutes).
