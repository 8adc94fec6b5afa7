"""Resharding end to end: SplitShard, MergeShards and UpdateShardCount through boto3.

What AWS documents and these tests hold the server to:
- a split closes the parent and opens two children whose hash-key ranges tile the parent's; a
  merge closes two adjacent shards and opens one child covering both
  (https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-resharding.html);
- the open shards always tile [0, 2^128-1] exactly;
- a closed parent gets an EndingSequenceNumber, and every child's sequence numbers are larger
  than its parents' (https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html);
- GetRecords on a closed shard returns what is left, then no NextShardIterator and ChildShards
  (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html);
- a reader that follows the lineage parents-first sees every record once, in per-key order.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import (
    ACCOUNT,
    HASH_KEY_SPACE,
    assert_error,
    assert_raw_error,
    create_stream,
    expected_hash_ranges,
    list_all_shards,
    md5_hash_key,
    shard_iterator,
    wait_for_status,
)

MAX_HASH_KEY = HASH_KEY_SPACE - 1


# --------------------------------------------------------------------------- helpers


def hash_range(shard: dict) -> tuple[int, int]:
    r = shard["HashKeyRange"]
    return int(r["StartingHashKey"]), int(r["EndingHashKey"])


def is_open(shard: dict) -> bool:
    return "EndingSequenceNumber" not in shard["SequenceNumberRange"]


def open_shards(shards: list[dict]) -> list[dict]:
    return [s for s in shards if is_open(s)]


def by_id(shards: list[dict]) -> dict[str, dict]:
    return {s["ShardId"]: s for s in shards}


def parents_of(shard: dict) -> list[str]:
    return [shard[k] for k in ("ParentShardId", "AdjacentParentShardId") if k in shard]


def assert_tiles_key_space(shards: list[dict]) -> None:
    """The shards' hash-key ranges cover 0..2^128-1 with no gap and no overlap."""
    ranges = sorted(hash_range(s) for s in shards)
    assert ranges, "no shards"
    assert ranges[0][0] == 0, ranges
    assert ranges[-1][1] == MAX_HASH_KEY, ranges
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start == end + 1, f"gap or overlap between ranges: {ranges}"


def assert_open_shards_tile(client, name: str) -> list[dict]:
    shards = list_all_shards(client, name)
    assert_tiles_key_space(open_shards(shards))
    return shards


def read_to_end(client, name: str, shard_id: str, *, max_calls: int = 500):
    """Reads a shard from TRIM_HORIZON. A closed shard is read until GetRecords drops
    NextShardIterator (returns the records and the ChildShards); an open one until it is caught
    up (returns the records and None)."""
    it = shard_iterator(client, name, shard_id)
    records = []
    for _ in range(max_calls):
        resp = client.get_records(ShardIterator=it, Limit=1000)
        records += resp["Records"]
        if "NextShardIterator" not in resp:
            assert "ChildShards" in resp, f"closed shard {shard_id} ended without ChildShards: {resp}"
            return records, resp["ChildShards"]
        assert not resp.get("ChildShards"), f"ChildShards before the end of {shard_id}: {resp}"
        it = resp["NextShardIterator"]
        if not resp["Records"] and resp["MillisBehindLatest"] == 0:
            return records, None
    raise AssertionError(f"shard {shard_id} not read to its end in {max_calls} calls")


def read_lineage(client, name: str) -> tuple[list[tuple[str, list[dict]]], dict[str, list]]:
    """Reads every shard, roots (no parent) first, following ChildShards; a merged child is read
    only once both its parents are. Returns [(shard id, records)] in read order and each closed
    shard's ChildShards."""
    shards = by_id(list_all_shards(client, name))
    pending = [sid for sid, s in sorted(shards.items()) if not parents_of(s)]
    done: set[str] = set()
    order, children = [], {}
    while pending:
        sid = pending.pop(0)
        records, child_shards = read_to_end(client, name, sid)
        done.add(sid)
        order.append((sid, records))
        if child_shards is None:
            assert is_open(shards[sid]), f"{sid} is closed in ListShards but read as open"
            continue
        children[sid] = child_shards
        for child in child_shards:
            cid = child["ShardId"]
            if cid not in done and cid not in pending and all(p in done for p in parents_of(shards[cid])):
                pending.append(cid)
    assert done == set(shards), f"lineage reached {sorted(done)}, ListShards has {sorted(shards)}"
    return order, children


def seq(s: str) -> int:
    return int(s)


# --------------------------------------------------------------------------- resharding under load


class Writer(threading.Thread):
    """Puts records with 20 partition keys and per-key counters, 50 per PutRecords call."""

    KEYS = [f"pk-{i:02d}" for i in range(20)]

    def __init__(self, client, name: str, duration: float):
        super().__init__(daemon=True)
        self.client, self.name, self.duration = client, name, duration
        self.acked: set[tuple[str, int]] = set()
        self.rejected: set[tuple[str, int]] = set()  # per-record ErrorCode
        self.uncertain: set[tuple[str, int]] = set()  # the call itself failed: may or may not be written
        self.calls = 0
        self.error: BaseException | None = None

    def run(self):
        counters = defaultdict(int)
        deadline = time.monotonic() + self.duration
        try:
            while time.monotonic() < deadline:
                batch = []
                for i in range(50):
                    pk = self.KEYS[(self.calls * 50 + i) % len(self.KEYS)]
                    counters[pk] += 1
                    batch.append((pk, counters[pk]))
                entries = [{"PartitionKey": pk, "Data": f"{pk}:{n}".encode()} for pk, n in batch]
                try:
                    resp = self.client.put_records(StreamName=self.name, Records=entries)
                except ClientError:
                    self.uncertain.update(batch)
                    continue
                finally:
                    self.calls += 1
                for item, result in zip(batch, resp["Records"]):
                    (self.rejected if "ErrorCode" in result else self.acked).add(item)
        except BaseException as e:  # surfaced by the test
            self.error = e


def test_resharding_under_load_keeps_every_record_once_and_in_key_order(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    writer = Writer(kinesis, stream_name, duration=3.0)
    writer.start()

    time.sleep(0.4)
    s0, s1 = sorted(s["ShardId"] for s in list_all_shards(kinesis, stream_name))
    lo, hi = hash_range(by_id(list_all_shards(kinesis, stream_name))[s0])
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=s0, NewStartingHashKey=str((lo + hi + 1) // 2))
    wait_for_status(kinesis, stream_name)
    assert_open_shards_tile(kinesis, stream_name)

    time.sleep(0.5)
    # Merge the split's upper child with the other original shard: adjacent, different parents.
    shards = open_shards(list_all_shards(kinesis, stream_name))
    upper_child = max((s for s in shards if s.get("ParentShardId") == s0), key=lambda s: hash_range(s)[0])
    kinesis.merge_shards(StreamName=stream_name, ShardToMerge=upper_child["ShardId"], AdjacentShardToMerge=s1)
    wait_for_status(kinesis, stream_name)
    assert_open_shards_tile(kinesis, stream_name)

    time.sleep(0.5)
    out = kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (2, 3)
    wait_for_status(kinesis, stream_name)

    writer.join(timeout=30)
    assert not writer.is_alive(), "writer did not finish"
    assert writer.error is None, f"writer failed: {writer.error!r}"
    print(f"\nwriter: {writer.calls} PutRecords calls, {len(writer.acked)} acked, "
          f"{len(writer.rejected)} rejected, {len(writer.uncertain)} uncertain")
    assert len(writer.acked) > 500, "too few records to exercise resharding under load"

    shards = by_id(assert_open_shards_tile(kinesis, stream_name))
    assert sorted(hash_range(s) for s in open_shards(list(shards.values()))) == expected_hash_ranges(3)
    order, children = read_lineage(kinesis, stream_name)

    # Lineage as GetRecords reports it matches ListShards.
    for parent, child_shards in children.items():
        listed = sorted(sid for sid, s in shards.items() if parent in parents_of(s))
        assert sorted(c["ShardId"] for c in child_shards) == listed, parent
        for c in child_shards:
            assert sorted(c["ParentShards"]) == sorted(parents_of(shards[c["ShardId"]])), c
            assert c["HashKeyRange"] == shards[c["ShardId"]]["HashKeyRange"], c

    seen: dict[tuple[str, int], str] = {}
    last_counter: dict[str, int] = {}
    records_of = dict(order)
    for sid, records in order:
        start, end = hash_range(shards[sid])
        for r in records:
            pk, n = r["Data"].decode().split(":")
            item = (pk, int(n))
            assert r["PartitionKey"] == pk
            assert start <= md5_hash_key(pk) <= end, f"{item} in {sid}, whose range does not hold its hash key"
            assert item not in seen, f"{item} read twice: in {seen[item]} and {sid}"
            seen[item] = sid
            assert item[1] > last_counter.get(pk, 0), f"{pk}: counter {item[1]} after {last_counter[pk]}"
            last_counter[pk] = item[1]
        seqs = [seq(r["SequenceNumber"]) for r in records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"{sid}: sequence numbers not increasing"

    missing = writer.acked - seen.keys()
    assert not missing, f"{len(missing)} acknowledged records never read, e.g. {sorted(missing)[:5]}"
    unexpected = seen.keys() - writer.acked - writer.uncertain
    assert not unexpected, f"records read that were never acknowledged: {sorted(unexpected)[:5]}"

    # Parents close at their last record; children number after every parent.
    for sid, shard in shards.items():
        rng = shard["SequenceNumberRange"]
        if not is_open(shard):
            recs = records_of[sid]
            want = recs[-1]["SequenceNumber"] if recs else rng["StartingSequenceNumber"]
            assert rng["EndingSequenceNumber"] == want, sid
        for parent in parents_of(shard):
            prng = shards[parent]["SequenceNumberRange"]
            assert seq(rng["StartingSequenceNumber"]) > seq(prng["EndingSequenceNumber"]), (sid, parent)
            if records_of[sid] and records_of[parent]:
                assert seq(records_of[sid][0]["SequenceNumber"]) > seq(records_of[parent][-1]["SequenceNumber"])


# --------------------------------------------------------------------------- SplitShard


def test_split_shard_closes_parent_and_opens_two_children(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    for i in range(3):
        kinesis.put_record(StreamName=stream_name, PartitionKey=f"k{i}", Data=b"before")
    (parent,) = list_all_shards(kinesis, stream_name)
    pid = parent["ShardId"]
    split_at = HASH_KEY_SPACE // 2
    assert kinesis.split_shard(StreamName=stream_name, ShardToSplit=pid,
                               NewStartingHashKey=str(split_at))["ResponseMetadata"]["HTTPStatusCode"] == 200
    wait_for_status(kinesis, stream_name)

    shards = assert_open_shards_tile(kinesis, stream_name)
    assert [s["ShardId"] for s in shards] == [pid, "shardId-000000000001", "shardId-000000000002"]
    closed, low, high = shards
    last = read_to_end(kinesis, stream_name, pid)[0][-1]["SequenceNumber"]
    assert closed["SequenceNumberRange"]["EndingSequenceNumber"] == last
    assert closed["HashKeyRange"] == parent["HashKeyRange"]
    for child in (low, high):
        assert child["ParentShardId"] == pid and "AdjacentParentShardId" not in child
        assert is_open(child)
        assert seq(child["SequenceNumberRange"]["StartingSequenceNumber"]) > seq(last)
    assert hash_range(low) == (0, split_at - 1)
    assert hash_range(high) == (split_at, MAX_HASH_KEY)

    # New records go to the children; their numbers are above the parent's.
    put = kinesis.put_record(StreamName=stream_name, PartitionKey="after", Data=b"after")
    want = low if md5_hash_key("after") < split_at else high
    assert put["ShardId"] == want["ShardId"]
    assert seq(put["SequenceNumber"]) > seq(last)


def test_split_of_an_empty_shard_ends_at_its_starting_sequence_number(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000001",
                        NewStartingHashKey=str(3 * HASH_KEY_SPACE // 4))
    wait_for_status(kinesis, stream_name)
    shard = by_id(list_all_shards(kinesis, stream_name))["shardId-000000000001"]
    rng = shard["SequenceNumberRange"]
    assert rng["EndingSequenceNumber"] == rng["StartingSequenceNumber"]
    records, child_shards = read_to_end(kinesis, stream_name, "shardId-000000000001")
    assert records == []
    assert sorted(c["ShardId"] for c in child_shards) == ["shardId-000000000002", "shardId-000000000003"]


def test_split_at_the_extreme_valid_hash_keys(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    (s0, s1) = list_all_shards(kinesis, stream_name)
    start0, end0 = hash_range(s0)
    start1, end1 = hash_range(s1)
    # The smallest allowed key is StartingHashKey + 2, the largest EndingHashKey - 1.
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=s0["ShardId"], NewStartingHashKey=str(start0 + 2))
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=s1["ShardId"], NewStartingHashKey=str(end1 - 1))
    shards = assert_open_shards_tile(kinesis, stream_name)
    assert sorted(hash_range(s) for s in open_shards(shards)) == [
        (start0, start0 + 1), (start0 + 2, end0), (start1, end1 - 2), (end1 - 1, end1)]


def test_split_rejects_hash_keys_outside_the_shard(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    shard = list_all_shards(kinesis, stream_name)[1]
    start, end = hash_range(shard)
    for key in (start - 1, start, start + 1, end, end + 1):
        with pytest.raises(ClientError) as e:
            kinesis.split_shard(StreamName=stream_name, ShardToSplit=shard["ShardId"], NewStartingHashKey=str(key))
        assert_error(e, "InvalidArgumentException",
                     f"NewStartingHashKey {key} used in SplitShard() on shard {shard['ShardId']} in stream "
                     f"{stream_name} under account {ACCOUNT} is not both greater than one plus the shard's "
                     f"StartingHashKey {start} and less than the shard's EndingHashKey {end}.")
    assert len(list_all_shards(kinesis, stream_name)) == 3


def test_split_of_unknown_or_closed_shard(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    with pytest.raises(ClientError) as e:
        kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000007",
                            NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    assert_error(e, "ResourceNotFoundException",
                 f"Could not find shard shardId-000000000007 in stream {stream_name} under account {ACCOUNT}.")

    kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    wait_for_status(kinesis, stream_name)
    with pytest.raises(ClientError) as e:
        kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000000",
                            NewStartingHashKey=str(HASH_KEY_SPACE // 4))
    assert_error(e, "InvalidArgumentException",
                 f"Shard shardId-000000000000 in stream {stream_name} under account {ACCOUNT} has already "
                 "been merged or split, and thus is not eligible for merging or splitting.")


def test_split_of_missing_stream(kinesis, stream_name):
    with pytest.raises(ClientError) as e:
        kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000000",
                            NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    assert_error(e, "ResourceNotFoundException", f"Stream {stream_name} under account {ACCOUNT} not found.")


# --------------------------------------------------------------------------- MergeShards


@pytest.mark.parametrize("reverse", [False, True], ids=["lower-first", "upper-first"])
def test_merge_adjacent_shards_in_either_order(kinesis, stream_name, reverse):
    create_stream(kinesis, stream_name, 3)
    kinesis.put_record(StreamName=stream_name, PartitionKey="x", Data=b"x",
                       ExplicitHashKey=str(HASH_KEY_SPACE // 2))  # in shard 1
    a, b = "shardId-000000000001", "shardId-000000000002"
    if reverse:
        a, b = b, a
    kinesis.merge_shards(StreamName=stream_name, ShardToMerge=a, AdjacentShardToMerge=b)
    wait_for_status(kinesis, stream_name)

    shards = by_id(assert_open_shards_tile(kinesis, stream_name))
    child = shards["shardId-000000000003"]
    assert (child["ParentShardId"], child["AdjacentParentShardId"]) == (a, b)
    s1, s2 = shards["shardId-000000000001"], shards["shardId-000000000002"]
    assert hash_range(child) == (hash_range(s1)[0], hash_range(s2)[1])
    assert not is_open(s1) and not is_open(s2) and is_open(shards["shardId-000000000000"])
    for parent in (s1, s2):
        assert seq(child["SequenceNumberRange"]["StartingSequenceNumber"]) > \
            seq(parent["SequenceNumberRange"]["EndingSequenceNumber"])

    # Both parents end with the merged child as their only child.
    for pid in (a, b):
        _, child_shards = read_to_end(kinesis, stream_name, pid)
        assert len(child_shards) == 1
        assert child_shards[0]["ShardId"] == "shardId-000000000003"
        assert sorted(child_shards[0]["ParentShards"]) == sorted([a, b])
        assert child_shards[0]["HashKeyRange"] == child["HashKeyRange"]


def test_merge_rejects_shards_that_are_not_adjacent(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    for a, b in [("shardId-000000000000", "shardId-000000000002"),
                 ("shardId-000000000002", "shardId-000000000000"),
                 ("shardId-000000000001", "shardId-000000000001")]:
        with pytest.raises(ClientError) as e:
            kinesis.merge_shards(StreamName=stream_name, ShardToMerge=a, AdjacentShardToMerge=b)
        assert_error(e, "InvalidArgumentException",
                     f"Shards {a} and {b} in stream {stream_name} under account {ACCOUNT} "
                     "are not an adjacent pair of shards eligible for merging")
    assert len(open_shards(list_all_shards(kinesis, stream_name))) == 3


def test_merge_of_unknown_or_closed_shard(kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    for a, b in [("shardId-000000000009", "shardId-000000000000"),
                 ("shardId-000000000000", "shardId-000000000009")]:
        with pytest.raises(ClientError) as e:
            kinesis.merge_shards(StreamName=stream_name, ShardToMerge=a, AdjacentShardToMerge=b)
        assert_error(e, "ResourceNotFoundException",
                     f"Could not find shard shardId-000000000009 in stream {stream_name} under account {ACCOUNT}.")

    kinesis.merge_shards(StreamName=stream_name, ShardToMerge="shardId-000000000000",
                         AdjacentShardToMerge="shardId-000000000001")
    wait_for_status(kinesis, stream_name)
    # Shard 0 is closed now; shard 2 (the child) covers everything.
    with pytest.raises(ClientError) as e:
        kinesis.merge_shards(StreamName=stream_name, ShardToMerge="shardId-000000000002",
                             AdjacentShardToMerge="shardId-000000000000")
    assert_error(e, "InvalidArgumentException",
                 f"Shard shardId-000000000000 in stream {stream_name} under account {ACCOUNT} has already "
                 "been merged or split, and thus is not eligible for merging or splitting.")


def test_resharding_needs_an_active_stream(server_factory):
    srv = server_factory(create_delay_ms=400, update_delay_ms=400)
    client = srv.client()
    half = str(HASH_KEY_SPACE // 2)

    client.create_stream(StreamName="s", ShardCount=2)
    with pytest.raises(ClientError) as e:
        client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=half)
    assert_error(e, "ResourceInUseException", f"Stream s under account {ACCOUNT} not ACTIVE, instead in state CREATING")
    wait_for_status(client, "s")

    client.split_shard(StreamName="s", ShardToSplit="shardId-000000000001",
                       NewStartingHashKey=str(3 * HASH_KEY_SPACE // 4))
    assert client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
    # The children exist at once, while the stream is UPDATING.
    assert len(open_shards(list_all_shards(client, "s"))) == 3
    calls = [
        lambda: client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(HASH_KEY_SPACE // 4)),
        lambda: client.merge_shards(StreamName="s", ShardToMerge="shardId-000000000002",
                                    AdjacentShardToMerge="shardId-000000000003"),
        lambda: client.update_shard_count(StreamName="s", TargetShardCount=4, ScalingType="UNIFORM_SCALING"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, "ResourceInUseException",
                     f"Stream s under account {ACCOUNT} not ACTIVE, instead in state UPDATING")
    wait_for_status(client, "s")
    client.merge_shards(StreamName="s", ShardToMerge="shardId-000000000002", AdjacentShardToMerge="shardId-000000000003")
    wait_for_status(client, "s")
    assert sorted(hash_range(s) for s in open_shards(list_all_shards(client, "s"))) == expected_hash_ranges(2)


# --------------------------------------------------------------------------- UpdateShardCount


@pytest.mark.parametrize("start,target", [(1, 2), (3, 4), (4, 2), (5, 3)])
def test_update_shard_count_gives_equal_shards(kinesis, stream_name, start, target):
    create_stream(kinesis, stream_name, start)
    before = list_all_shards(kinesis, stream_name)
    out = kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=target, ScalingType="UNIFORM_SCALING")
    assert out["StreamName"] == stream_name
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (start, target)
    wait_for_status(kinesis, stream_name)
    shards = assert_open_shards_tile(kinesis, stream_name)
    assert sorted(hash_range(s) for s in open_shards(shards)) == expected_hash_ranges(target)
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == target
    # Every original shard is closed (or kept whole), every new shard descends from the old ones,
    # and intermediate shards made on the way are listed closed.
    listed = by_id(shards)
    for s in before:
        assert s["ShardId"] in listed
    for s in shards[len(before):]:
        assert all(p in listed for p in parents_of(s)) and parents_of(s), s


def test_update_shard_count_at_most_doubles_or_halves(kinesis, stream_name):
    create_stream(kinesis, stream_name, 3)
    for target in (7, 1):
        with pytest.raises(ClientError) as e:
            kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        assert_error(e, "LimitExceededException")
    assert len(list_all_shards(kinesis, stream_name)) == 3
    # Exactly double is allowed.
    kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=6, ScalingType="UNIFORM_SCALING")
    wait_for_status(kinesis, stream_name)
    assert sorted(hash_range(s) for s in open_shards(list_all_shards(kinesis, stream_name))) == expected_hash_ranges(6)


def test_update_shard_count_ten_calls_per_day(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    for i in range(10):
        kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=2 if i % 2 == 0 else 1,
                                   ScalingType="UNIFORM_SCALING")
        wait_for_status(kinesis, stream_name)
    with pytest.raises(ClientError) as e:
        kinesis.update_shard_count(StreamName=stream_name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert_error(e, "LimitExceededException")
    # Splits and merges are not UpdateShardCount calls: they still work.
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=open_shards(list_all_shards(kinesis, stream_name))[0]["ShardId"],
                        NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    assert_open_shards_tile(kinesis, stream_name)


# --------------------------------------------------------------------------- ListShards filters, reads


def _list(client, name, **filt):
    return [s["ShardId"] for s in client.list_shards(StreamName=name, ShardFilter=filt)["Shards"]]


def test_list_shards_filters_after_resharding(kinesis, raw, stream_name):
    create_stream(kinesis, stream_name, 2)
    t_before = time.time()
    time.sleep(0.05)
    kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(HASH_KEY_SPACE // 4))  # -> 2, 3
    wait_for_status(kinesis, stream_name)
    time.sleep(0.05)
    t_mid = time.time()
    time.sleep(0.05)
    kinesis.merge_shards(StreamName=stream_name, ShardToMerge="shardId-000000000003",
                         AdjacentShardToMerge="shardId-000000000001")  # -> 4
    wait_for_status(kinesis, stream_name)
    time.sleep(0.05)
    t_after = time.time()
    ids = [f"shardId-00000000000{i}" for i in range(5)]

    assert [s["ShardId"] for s in list_all_shards(kinesis, stream_name)] == ids
    assert _list(kinesis, stream_name, Type="AT_LATEST") == [ids[2], ids[4]]
    assert_tiles_key_space(kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": "AT_LATEST"})["Shards"])
    assert _list(kinesis, stream_name, Type="FROM_TRIM_HORIZON") == ids
    assert _list(kinesis, stream_name, Type="AT_TRIM_HORIZON") == ids[:2]
    assert _list(kinesis, stream_name, Type="AFTER_SHARD_ID", ShardId=ids[1]) == ids[2:]
    assert _list(kinesis, stream_name, Type="AFTER_SHARD_ID", ShardId=ids[4]) == []

    def at(kind, t):
        resp = raw("ListShards", {"StreamName": stream_name, "ShardFilter": {"Type": kind, "Timestamp": round(t, 3)}})
        assert resp.status == 200, resp
        return [s["ShardId"] for s in resp.json()["Shards"]]

    assert at("AT_TIMESTAMP", t_before) == ids[:2]
    assert at("AT_TIMESTAMP", t_mid) == [ids[1], ids[2], ids[3]]
    assert at("AT_TIMESTAMP", t_after) == [ids[2], ids[4]]
    assert at("FROM_TIMESTAMP", t_mid) == ids[1:]
    assert at("FROM_TIMESTAMP", t_after) == [ids[2], ids[4]]

    # Paging keeps the filter.
    page = kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": "FROM_TRIM_HORIZON"}, MaxResults=2)
    got = [s["ShardId"] for s in page["Shards"]]
    while "NextToken" in page:
        page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=2)
        got += [s["ShardId"] for s in page["Shards"]]
    assert got == ids

    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=stream_name, ShardFilter={"Type": "AFTER_SHARD_ID"})
    assert_error(e, "InvalidArgumentException")
    assert_raw_error(raw("ListShards", {"StreamName": stream_name, "ShardFilter": {"Type": "AT_TIMESTAMP"}}),
                     "InvalidArgumentException")


def test_closed_shard_read_ends_with_child_shards(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    kinesis.put_records(StreamName=stream_name,
                        Records=[{"PartitionKey": f"k{i}", "Data": str(i).encode()} for i in range(5)])
    latest = shard_iterator(kinesis, stream_name, "shardId-000000000000", "LATEST")
    kinesis.split_shard(StreamName=stream_name, ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    wait_for_status(kinesis, stream_name)
    want_children = [
        {"ShardId": "shardId-000000000001", "ParentShards": ["shardId-000000000000"],
         "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(HASH_KEY_SPACE // 2 - 1)}},
        {"ShardId": "shardId-000000000002", "ParentShards": ["shardId-000000000000"],
         "HashKeyRange": {"StartingHashKey": str(HASH_KEY_SPACE // 2), "EndingHashKey": str(MAX_HASH_KEY)}},
    ]

    # Paging through the closed shard: records first, then the end with its children.
    it = shard_iterator(kinesis, stream_name, "shardId-000000000000")
    got = []
    for _ in range(10):
        resp = kinesis.get_records(ShardIterator=it, Limit=2)
        got += resp["Records"]
        if "NextShardIterator" not in resp:
            break
        assert "ChildShards" not in resp
        it = resp["NextShardIterator"]
    assert [r["Data"] for r in got] == [str(i).encode() for i in range(5)]
    assert sorted(resp["ChildShards"], key=lambda c: c["ShardId"]) == want_children
    assert resp["MillisBehindLatest"] == 0

    # An iterator taken before the split at LATEST reaches the end at once.
    resp = kinesis.get_records(ShardIterator=latest)
    assert resp["Records"] == [] and "NextShardIterator" not in resp
    assert sorted(resp["ChildShards"], key=lambda c: c["ShardId"]) == want_children
