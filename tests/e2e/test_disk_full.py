"""A full disk: puts are refused with an error (never acknowledged without being durable), the
server stays up and keeps serving reads, and writes resume once space returns — with nothing
acknowledged before lost. The disk is a real size-limited tmpfs mounted for the test (root
only; skipped where mounting is not allowed)."""

import subprocess

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import create_stream, read_shard

RECORD = 64 * 1024


def test_full_disk_refuses_puts_then_recovers(small_disk, tmp_path, server_factory):
    srv = server_factory(data_dir=small_disk / "data")
    c = srv.client()
    create_stream(c, "full", 1)
    acked = []
    refused = None
    for i in range(200):
        data = bytes([i % 251]) * RECORD
        try:
            ack = c.put_record(StreamName="full", Data=data, PartitionKey="k")
        except ClientError as e:
            refused = e
            break
        acked.append((ack["SequenceNumber"], data))
    assert refused is not None, "the 3 MiB disk never filled"
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert refused.response["Error"]["Code"] == "InternalFailure"
    assert len(acked) >= 5

    # Still up: refuses again, serves reads, and every acknowledged record is intact.
    with pytest.raises(ClientError):
        c.put_record(StreamName="full", Data=b"x" * RECORD, PartitionKey="k")
    assert c.list_streams()["StreamNames"] == ["full"]
    got = read_shard(c, "full", "shardId-000000000000")
    assert [(r["SequenceNumber"], r["Data"]) for r in got] == acked

    # Space returns: writes resume, numbering continues, nothing was lost, also after a restart.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    ack = c.put_record(StreamName="full", Data=b"after", PartitionKey="k")
    assert int(ack["SequenceNumber"]) > int(acked[-1][0])
    acked.append((ack["SequenceNumber"], b"after"))
    assert srv.stop() == 0
    srv.start()
    got = read_shard(srv.client(), "full", "shardId-000000000000")
    assert [(r["SequenceNumber"], r["Data"]) for r in got] == acked
    assert srv.stop() == 0
