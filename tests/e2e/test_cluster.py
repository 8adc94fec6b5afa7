"""Cluster mode: nodes on one PostgreSQL and one S3-compatible bucket (moto_server). One node
serves at a time, the others stand by without listening; when the serving node is SIGKILLed
under load, a standby takes over within the lease's life, and every acknowledged record is
read back from it, in order per shard, once per sequence number; a serving node stopped
cleanly (drained) hands over at once."""
from __future__ import annotations

import threading
import time

import pytest

from firehose_helpers import MotoS3, Postgres
from freshet_e2e import FreshetServer, create_stream

BUCKET = "cluster"
LEASE_TTL_MS = 2000


@pytest.fixture
def parts(tmp_path):
    pg = Postgres(tmp_path / "pg-work")
    s3 = MotoS3(tmp_path)
    s3.s3.create_bucket(Bucket=BUCKET)
    yield pg, s3
    s3.close()
    pg.close()


def node(tmp_path, name: str, pg: Postgres, s3: MotoS3) -> FreshetServer:
    url = f"postgres://{pg.USER}:{pg.PASSWORD}@127.0.0.1:{pg.port}/postgres"
    env = {
        "FRESHET_FIREHOSE__S3__ENDPOINT": s3.endpoint,
        "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
        "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing",
        "FRESHET_CLUSTER__LEASE_TTL_MS": str(LEASE_TTL_MS),
        # The local KMS's material is in the shared catalog: every node wraps it with one key.
        "FRESHET_ENCRYPTION__MASTER_KEY_FILE": str(tmp_path / "master.key"),
    }
    args = ["--cluster", "--postgres", url, "--object-store", f"s3://{BUCKET}/freshet",
            "--node-name", name]
    return FreshetServer(tmp_path / name / "data", tmp_path / name, extra_args=args, env=env)


def drain(client, stream: str) -> dict[str, list[tuple[str, bytes]]]:
    """Every record of every shard, from the trim horizon: shard id -> [(sequence number, data)]."""
    out = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = []
        while True:
            page = client.get_records(ShardIterator=it, Limit=10000)
            records += [(r["SequenceNumber"], r["Data"]) for r in page["Records"]]
            it = page["NextShardIterator"]
            if not page["Records"] and page["MillisBehindLatest"] == 0:
                break
        out[shard["ShardId"]] = records
    return out


def test_a_standby_takes_over_from_a_killed_node_with_every_acknowledged_record(tmp_path, parts):
    pg, s3 = parts
    a = node(tmp_path, "a", pg, s3).start()
    b = node(tmp_path, "b", pg, s3).start(wait=False)
    try:
        time.sleep(1.5)
        assert b.running() and not b.ready_file.exists(), "b stands by while a serves"
        ca = a.client()
        create_stream(ca, "orders", 2)

        acked: list[tuple[str, str, bytes]] = []
        stop = threading.Event()

        def produce():
            n = 0
            while not stop.is_set():
                entries = [{"Data": f"r{n + i}".encode(), "PartitionKey": f"k{(n + i) % 17}"}
                           for i in range(10)]
                try:
                    resp = ca.put_records(StreamName="orders", Records=entries)
                except Exception:
                    return  # the node is gone
                for entry, result in zip(entries, resp["Records"]):
                    if "SequenceNumber" in result:
                        acked.append((result["ShardId"], result["SequenceNumber"], entry["Data"]))
                n += 10

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(2.0)
        a.kill()  # SIGKILL, under load
        stop.set()
        producer.join(timeout=30)
        assert len(acked) >= 100, f"only {len(acked)} records acknowledged before the kill"

        b.wait_ready(timeout=LEASE_TTL_MS / 1000 * 5 + 20)
        cb = b.client()
        read = drain(cb, "orders")
        for shard, records in read.items():
            seqs = [int(s) for s, _ in records]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"{shard} out of order"
        got = {(shard, seq): data for shard, records in read.items() for seq, data in records}
        missing = [(s, q) for s, q, d in acked if got.get((s, q)) != d]
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost: {missing[:5]}"
        datas = [d for records in read.values() for _, d in records]
        assert len(datas) == len(set(datas)), "a record was stored twice"

        # b took the serving lease over from a (epoch 2), and serves writes too.
        holder, epoch = pg.sql("SELECT holder || ' ' || epoch FROM leases "
                               "WHERE name = 'cluster/serve'").split()
        assert holder.startswith("b/") and epoch == "2", (holder, epoch)
        put = cb.put_record(StreamName="orders", Data=b"after", PartitionKey="k")
        before = [int(q) for shard, q, _ in acked if shard == put["ShardId"]]
        assert int(put["SequenceNumber"]) > max(before, default=-1)
        it = cb.get_shard_iterator(StreamName="orders", ShardId=put["ShardId"],
                                   ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=put["SequenceNumber"])["ShardIterator"]
        assert cb.get_records(ShardIterator=it)["Records"][0]["Data"] == b"after"

        # Draining: a serving node stopped cleanly gives the lease up, so a standby takes over
        # at its next try (a quarter of the lease's life), not after the lease would lapse.
        a.start(wait=False)
        time.sleep(1.0)
        assert not a.ready_file.exists(), "a, back, stands by while b serves"
        assert b.stop() == 0
        stopped = time.monotonic()
        a.wait_ready(timeout=LEASE_TTL_MS / 1000 * 5 + 20)
        assert time.monotonic() - stopped < LEASE_TTL_MS / 1000, "took over before the lease lapsed"
        after = drain(a.client(), "orders")
        assert sum(len(r) for r in after.values()) == sum(len(r) for r in read.values()) + 1

        # PostgreSQL's log of the serving lease: a killed, b drained, a again; each holding taken
        # only after the one before had ended (released) or expired (lapsed).
        spans = [line.split("|") for line in pg.sql(
            "SELECT epoch, holder, acquired_ms, expires_ms, coalesce(ended_ms, -1) FROM lease_log "
            "WHERE name = 'cluster/serve' ORDER BY epoch").splitlines()]
        assert [(int(e), h.split("/")[0]) for e, h, *_ in spans] == [(1, "a"), (2, "b"), (3, "a")]
        assert int(spans[0][4]) == -1 and int(spans[1][4]) > 0, "a lapsed, b released"
        for before, after_span in zip(spans, spans[1:]):
            ended = int(before[4]) if int(before[4]) >= 0 else int(before[3])
            assert int(after_span[2]) >= ended, f"epoch {after_span[0]} overlaps epoch {before[0]}"
    finally:
        for server in (a, b):
            if server.running():
                server.kill()
