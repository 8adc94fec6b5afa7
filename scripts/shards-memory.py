#!/usr/bin/env python3
"""Memory and start-up of a server with many shards: creates STREAMS streams of SHARDS shards each
(10,000 shards by default), puts one record into every shard, and reports the server's RSS
(VmRSS and VmHWM from /proc), its open file descriptors, and, after a SIGKILL and a restart, the
time until it is ready and its RSS again. Every record is read back after the restart.

    scripts/shards-memory.py [--bin PATH] [--streams 10] [--shards 1000]

Starts its own `freshet serve` (release build by default, fsync always) on an ephemeral port with a
fresh data directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config


def start(binary: str, data: Path) -> tuple[subprocess.Popen, str, float]:
    ready = data / "ready"
    ready.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data / "data"),
         "--ready-file", str(ready), "--create-delay-ms", "0", "--shard-limit", "100000",
         "--log", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (ready.exists() and ready.read_text().strip()):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        time.sleep(0.01)
    return proc, ready.read_text().strip(), time.monotonic() - started


def memory(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
           if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mib": kib["VmRSS"] // 1024, "peak_rss_mib": kib["VmHWM"] // 1024,
            "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


def client(address: str):
    return boto3.client("kinesis", endpoint_url=f"http://{address}", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(max_pool_connections=16, retries={"max_attempts": 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "/var/tmp/freshet-target"), "release", "freshet"))
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--shards", type=int, default=1000)
    args = parser.parse_args()
    total = args.streams * args.shards
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        data = Path(tmp)
        proc, address, _ = start(args.bin, data)
        kinesis = client(address)
        before = memory(proc.pid)
        t0 = time.monotonic()
        names = [f"many-{i}" for i in range(args.streams)]
        for name in names:
            kinesis.create_stream(StreamName=name, ShardCount=args.shards)
        for name in names:
            kinesis.get_waiter("stream_exists").wait(
                StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        created = time.monotonic() - t0
        idle = memory(proc.pid)

        def fill(name: str) -> int:
            # One record per shard: explicit hash keys at the start of each shard's range.
            shards = kinesis.list_shards(StreamName=name, MaxResults=10000)["Shards"]
            for i in range(0, len(shards), 500):
                batch = shards[i:i + 500]
                out = kinesis.put_records(StreamName=name, Records=[
                    {"Data": s["ShardId"].encode(), "PartitionKey": "k",
                     "ExplicitHashKey": s["HashKeyRange"]["StartingHashKey"]} for s in batch])
                assert out["FailedRecordCount"] == 0, out
            return len(shards)

        with ThreadPoolExecutor(4) as pool:
            filled = sum(pool.map(fill, names))
        assert filled == total, (filled, total)
        loaded = memory(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        proc, address, ready_s = start(args.bin, data)
        restarted = memory(proc.pid)
        kinesis = client(address)

        def check(name: str) -> int:
            shards = kinesis.list_shards(StreamName=name, MaxResults=10000)["Shards"]
            for s in shards:
                it = kinesis.get_shard_iterator(StreamName=name, ShardId=s["ShardId"],
                                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                records = kinesis.get_records(ShardIterator=it)["Records"]
                assert [r["Data"] for r in records] == [s["ShardId"].encode()], (name, s, records)
            return len(shards)

        with ThreadPoolExecutor(4) as pool:
            checked = sum(pool.map(check, names))
        assert checked == total, (checked, total)
        proc.send_signal(signal.SIGTERM)
        proc.wait()

    print(f"shards: {total} ({args.streams} streams x {args.shards}), created and ACTIVE in {created:.1f} s")
    print(f"empty server:              {before}")
    print(f"{total} shards, no records: {idle}")
    print(f"one record per shard:      {loaded}")
    print(f"restart after SIGKILL: ready in {ready_s:.2f} s, {restarted}; every record read back")


if __name__ == "__main__":
    main()
