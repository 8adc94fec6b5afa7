"""Durability of the real binary: clean shutdown (SIGTERM) and crash (SIGKILL)
followed by a restart on the same data dir.

The crash test holds Freshet to its promise that an acknowledgement means the
record is on disk: every acknowledged record must come back exactly once, in
per-shard sequence order, with its bytes intact. Records whose requests were in
flight at the kill may or may not appear; they were never acknowledged.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from freshet_e2e import (
    assert_error, create_stream, list_all_shards, not_found_message, read_shard, stream_arn,
    wait_for_deleted, wait_for_status,
)

WRITERS = 4
BATCH = 100
WRITE_SECONDS = 3.0


def snapshot(client, names):
    """Everything a reader can observe about the given streams."""
    out = {}
    for name in names:
        s = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        shards = list_all_shards(client, name)
        tags = client.list_tags_for_stream(StreamName=name)["Tags"]
        records = {sh["ShardId"]: [(r["SequenceNumber"], r["PartitionKey"], r["Data"], r["ApproximateArrivalTimestamp"])
                                   for r in read_shard(client, name, sh["ShardId"])]
                   for sh in shards}
        out[name] = {"summary": s, "shards": shards, "tags": tags, "records": records}
    return out


def test_sigterm_restart_preserves_everything(server_factory):
    srv = server_factory()
    c = srv.client()
    create_stream(c, "durable-a", 3, Tags={"owner": "e2e"})
    create_stream(c, "durable-b", None, mode="ON_DEMAND")
    create_stream(c, "gone", 1)
    c.increase_stream_retention_period(StreamName="durable-a", RetentionPeriodHours=72)
    c.start_stream_encryption(StreamName="durable-b", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    c.enable_enhanced_monitoring(StreamName="durable-a", ShardLevelMetrics=["IncomingBytes"])
    c.update_max_record_size(StreamARN=stream_arn("durable-b"), MaxRecordSizeInKiB=2048)
    for i in range(60):
        c.put_record(StreamName="durable-a", Data=bytes([i]) * i, PartitionKey=f"key-{i}")
    c.put_records(StreamName="durable-b", Records=[{"Data": bytes(range(256)) * (i + 1), "PartitionKey": str(i)}
                                                   for i in range(50)])
    c.put_record(StreamName="gone", Data=b"doomed", PartitionKey="k")
    c.delete_stream(StreamName="gone")
    wait_for_deleted(c, "gone")
    for name in ("durable-a", "durable-b"):
        wait_for_status(c, name)
    before = snapshot(c, ["durable-a", "durable-b"])
    assert sum(len(v) for v in before["durable-a"]["records"].values()) == 60
    assert sum(len(v) for v in before["durable-b"]["records"].values()) == 50

    code = srv.stop()
    assert code == 0, f"SIGTERM should exit 0, got {code}\n{srv.log_tail()}"
    srv.start()
    c = srv.client()

    assert c.list_streams()["StreamNames"] == ["durable-a", "durable-b"]
    after = snapshot(c, ["durable-a", "durable-b"])
    assert after == before
    with pytest.raises(ClientError) as e:
        c.describe_stream(StreamName="gone")
    assert_error(e, "ResourceNotFoundException", not_found_message("gone"))

    # New writes continue the sequence instead of reusing numbers.
    last = {sid: int(recs[-1][0]) for sid, recs in before["durable-a"]["records"].items() if recs}
    for i in range(10):
        ack = c.put_record(StreamName="durable-a", Data=b"after restart", PartitionKey=f"key-{i}")
        if ack["ShardId"] in last:
            assert int(ack["SequenceNumber"]) > last[ack["ShardId"]]
    # A stream can be re-created under a deleted name, and it starts empty.
    create_stream(c, "gone", 1)
    assert read_shard(c, "gone", "shardId-000000000000") == []


def test_sigkill_loses_no_acknowledged_record(server_factory):
    srv = server_factory()
    c = srv.client()
    name = "crash"
    create_stream(c, name, 4)

    acked: list[list[tuple[str, str, bytes]]] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []
    stop = threading.Event()
    killed = threading.Event()

    def writer(w: int):
        client = srv.client(timeout=10)
        n = 0
        while not stop.is_set():
            batch = [{"Data": f"w{w}-n{n + i}-".encode() + bytes([w, i % 256]) * 8,
                      "PartitionKey": f"w{w}-{(n + i) % 97}"} for i in range(BATCH)]
            try:
                resp = client.put_records(StreamName=name, Records=batch)
            except (BotoCoreError, ClientError, OSError) as e:
                if not killed.is_set():
                    errors.append(e)
                return  # the server is gone (or failed); nothing more to acknowledge
            for entry, res in zip(batch, resp["Records"]):
                if "ErrorCode" not in res:
                    acked[w].append((res["ShardId"], res["SequenceNumber"], entry["Data"]))
            n += BATCH

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(WRITE_SECONDS)  # the load phase itself: writers run flat out meanwhile
    killed.set()
    srv.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "writer thread hung after the server was killed"
    assert not errors, f"writes failed before the kill: {errors[:3]}"

    all_acked = [a for per_writer in acked for a in per_writer]
    assert len(all_acked) >= BATCH, "no write was acknowledged in the load phase"

    srv.start()
    c = srv.client()
    recovered = check_recovered(c, name, acked)

    # The recovered server keeps working and keeps numbering upward.
    top = {}
    for (s, q) in recovered:
        top[s] = max(top.get(s, 0), int(q))
    ack = c.put_record(StreamName=name, Data=b"after crash", PartitionKey="w0-1")
    assert int(ack["SequenceNumber"]) > top.get(ack["ShardId"], -1)
    assert srv.stop() == 0


def check_recovered(client, name, acked) -> dict:
    """Reads every shard (closed ones too) from TRIM_HORIZON and checks that each acknowledged
    `(shard, sequence, data)` in `acked` (one list per writer) is there exactly once with its
    bytes, in per-shard order; returns `{(shard, sequence): data}` of everything read."""
    recovered = {}
    for shard in list_all_shards(client, name):
        records = read_shard(client, name, shard["ShardId"], max_calls=2000)
        seqs = [int(r["SequenceNumber"]) for r in records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), \
            f"{shard['ShardId']}: sequence numbers not strictly increasing after recovery"
        datas = [r["Data"] for r in records]
        assert len(set(datas)) == len(datas), f"{shard['ShardId']}: a record was recovered twice"
        for r in records:
            recovered[(shard["ShardId"], r["SequenceNumber"])] = r["Data"]

    all_acked = [a for per_writer in acked for a in per_writer]
    missing = [(s, q) for s, q, _ in all_acked if (s, q) not in recovered]
    assert not missing, f"{len(missing)} of {len(all_acked)} acknowledged records lost, e.g. {missing[:5]}"
    wrong = [(s, q) for s, q, d in all_acked if recovered[(s, q)] != d]
    assert not wrong, f"{len(wrong)} acknowledged records came back with different bytes, e.g. {wrong[:5]}"
    # Per shard, each writer's acknowledged records keep their acknowledged order.
    for per_writer in acked:
        by_shard: dict[str, list[int]] = {}
        for s, q, _ in per_writer:
            by_shard.setdefault(s, []).append(int(q))
        for s, qs in by_shard.items():
            assert qs == sorted(qs), f"{s}: acknowledged sequence numbers went backwards"
    return recovered


CYCLES = 20


def test_repeated_sigkill_during_load_and_resharding(server_factory):
    """20 crash cycles: writers put under load, some cycles also reshard (split or merge), and
    the server is SIGKILLed at a random moment; after every restart every record acknowledged
    in any cycle is still there, and no sequence number was ever handed out twice."""
    rng = random.Random(20261125)
    srv = server_factory()
    name = "cycles"
    create_stream(srv.client(), name, 3)
    acked: list[list[tuple[str, str, bytes]]] = []
    for cycle in range(CYCLES):
        c = srv.client(timeout=10)
        this_cycle = [[] for _ in range(2)]
        acked += this_cycle
        stop = threading.Event()
        failures: list[BaseException] = []

        def writer(w: int, out: list):
            client = srv.client(timeout=10)
            n = 0
            while not stop.is_set():
                batch = [{"Data": f"c{cycle}-w{w}-n{n + i}".encode(), "PartitionKey": f"k{(n + i) % 31}"}
                         for i in range(50)]
                try:
                    resp = client.put_records(StreamName=name, Records=batch)
                except (BotoCoreError, ClientError, OSError) as e:
                    if not stop.is_set():
                        failures.append(e)
                    return
                for entry, res in zip(batch, resp["Records"]):
                    if "ErrorCode" not in res:
                        out.append((res["ShardId"], res["SequenceNumber"], entry["Data"]))
                n += 50

        threads = [threading.Thread(target=writer, args=(w, this_cycle[w]), daemon=True) for w in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.3))
        if cycle % 3 == 1:
            open_shards = [s for s in list_all_shards(c, name)
                           if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
            try:
                if len(open_shards) < 6:
                    s = rng.choice(open_shards)
                    lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
                    c.split_shard(StreamName=name, ShardToSplit=s["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
                else:
                    ordered = sorted(open_shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
                    i = rng.randrange(len(ordered) - 1)
                    c.merge_shards(StreamName=name, ShardToMerge=ordered[i]["ShardId"],
                                   AdjacentShardToMerge=ordered[i + 1]["ShardId"])
            except (BotoCoreError, ClientError, OSError) as e:
                failures.append(e)
        time.sleep(rng.uniform(0.0, 0.3))
        stop.set()
        srv.kill()
        for t in threads:
            t.join(timeout=30)
        assert not failures, f"cycle {cycle}: requests failed before the kill: {failures[:3]}"
        srv.start()
        recovered = check_recovered(srv.client(), name, acked)
        seqs = [int(q) for per_writer in acked for _, q, _ in per_writer]
        assert len(seqs) == len(set(seqs)), f"cycle {cycle}: a sequence number was issued twice"
        assert len(recovered) >= len(seqs)
    total = sum(len(a) for a in acked)
    assert total > CYCLES * 50, f"too little was acknowledged to prove anything ({total})"
    assert srv.stop() == 0
