#!/usr/bin/env python3
"""Soak: mixed valid and hostile traffic against one `freshet serve`, watching that its memory
and open files stay bounded and that valid clients keep their latency. Not part of CI.

    scripts/soak.py [--minutes 30] [--bin target/release/freshet] [--encrypted]

Valid clients (boto3, one connection pool each) put and read records in a loop. Hostile clients
open slowloris heads, idle sockets, oversized and never-finished bodies, deeply nested
documents, garbage, bad signatures, huge headers and connect-and-drop storms, many at a time.
A first quiet minute gives the baseline latency. Every 10 s it samples the server's RSS and
open files (from /proc). At the end it prints a summary and exits non-zero if RSS grew past
--max-rss-mib, open files past --max-fds, or valid p99 latency past --max-slowdown times the
quiet baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

JSON = b"application/x-amz-json-1.1"
KEY, SECRET = "AKIASOAKROOT0001", "soak-secret"


def start(binary: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    ready = workdir / "ready"
    env = {**os.environ,
           "FRESHET_AUTH__ACCESS_KEY_ID": KEY, "FRESHET_AUTH__SECRET_ACCESS_KEY": SECRET,
           "FRESHET_LIMITS__MAX_CONNECTIONS_PER_IP": "256",
           "FRESHET_LIMITS__HEADER_READ_TIMEOUT_MS": "5000",
           "FRESHET_LIMITS__BODY_READ_TIMEOUT_MS": "10000",
           "FRESHET_LIMITS__BODY_BUDGET_MIB": "64"}
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(workdir / "data"),
                             "--ready-file", str(ready), "--create-delay-ms", "0", "--log", "warn"],
                            stdout=open(workdir / "server.log", "ab"), stderr=subprocess.STDOUT, env=env)
    for _ in range(300):
        if ready.exists() and ready.read_text().strip():
            return proc, ready.read_text().strip()
        if proc.poll() is not None:
            sys.exit(f"freshet exited: see {workdir / 'server.log'}")
        time.sleep(0.1)
    sys.exit("freshet did not start")


def sample(pid: int) -> tuple[float, int]:
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


class Valid(threading.Thread):
    """A well-behaved producer and consumer, timing each call."""

    def __init__(self, endpoint: str, stream: str, stop: threading.Event, latencies: list):
        super().__init__(daemon=True)
        self.client = boto3.session.Session().client(
            "kinesis", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
            config=Config(retries={"max_attempts": 2}, read_timeout=30, connect_timeout=10))
        self.stream, self.stop, self.latencies = stream, stop, latencies
        self.errors = 0

    def run(self):
        shard = self.client.list_shards(StreamName=self.stream)["Shards"][0]["ShardId"]
        it = self.client.get_shard_iterator(StreamName=self.stream, ShardId=shard,
                                            ShardIteratorType="LATEST")["ShardIterator"]
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                self.client.put_record(StreamName=self.stream, Data=os.urandom(512), PartitionKey="k")
                out = self.client.get_records(ShardIterator=it, Limit=100)
                it = out["NextShardIterator"]
                self.latencies.append((time.monotonic(), time.monotonic() - t0))
            except Exception:  # noqa: BLE001 - counted, the soak goes on
                self.errors += 1
            time.sleep(0.02)


def hostile_once(host: str, port: int, kind: str):
    try:
        s = socket.create_connection((host, port), timeout=15)
    except OSError:
        return
    try:
        if kind == "slowloris":
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            for _ in range(20):
                time.sleep(0.5)
                s.sendall(b"X-Slow: 1\r\n")
        elif kind == "idle":
            s.recv(1)
        elif kind == "huge-declared":
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON +
                      b"\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: 999999999\r\n\r\n")
            s.recv(4096)
        elif kind == "stalled-body":
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON +
                      b"\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: 4000000\r\n\r\n" +
                      b"{" * 1000)
            s.recv(4096)
        elif kind == "nested":
            body = b"[" * 200_000
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON +
                      b"\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: " +
                      str(len(body)).encode() + b"\r\n\r\n" + body)
            s.recv(4096)
        elif kind == "garbage":
            s.sendall(os.urandom(random.randint(1, 65536)))
            s.recv(4096)
        elif kind == "bad-signature":
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON +
                      b"\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20200101T000000Z\r\n"
                      b"Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20200101/us-east-1/kinesis/aws4_request, "
                      b"SignedHeaders=host, Signature=00\r\nContent-Length: 2\r\n\r\n{}")
            s.recv(4096)
        elif kind == "huge-header":
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
            s.recv(4096)
        elif kind == "storm":
            pass  # connect and drop at once
    except OSError:
        pass
    finally:
        s.close()


KINDS = ["slowloris", "idle", "huge-declared", "stalled-body", "nested", "garbage", "bad-signature",
         "huge-header", "storm", "storm", "storm"]


def hostile(endpoint: str, stop: threading.Event, counts: dict):
    host, port = endpoint.rsplit(":", 1)
    while not stop.is_set():
        kind = random.choice(KINDS)
        hostile_once(host, int(port), kind)
        counts[kind] = counts.get(kind, 0) + 1


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--bin", default=os.environ.get("FRESHET_BIN", "target/release/freshet"))
    ap.add_argument("--valid", type=int, default=4)
    ap.add_argument("--hostile", type=int, default=64)
    ap.add_argument("--max-rss-mib", type=float, default=1024)
    ap.add_argument("--max-fds", type=int, default=1024)
    ap.add_argument("--max-slowdown", type=float, default=5.0)
    ap.add_argument("--encrypted", action="store_true",
                    help="valid clients use a stream encrypted at rest (StartStreamEncryption)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freshet-soak."))
    proc, endpoint = start(args.bin, work)
    admin = boto3.session.Session().client("kinesis", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
                                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    admin.create_stream(StreamName="soak", ShardCount=4)
    admin.get_waiter("stream_exists").wait(StreamName="soak")
    if args.encrypted:
        admin.start_stream_encryption(StreamName="soak", EncryptionType="KMS", KeyId="alias/aws/kinesis")
        admin.get_waiter("stream_exists").wait(StreamName="soak")
    stop, hostile_stop = threading.Event(), threading.Event()
    latencies: list = []
    valid = [Valid(endpoint, "soak", stop, latencies) for _ in range(args.valid)]
    for v in valid:
        v.start()
    quiet_s = min(60.0, args.minutes * 60 / 5)
    print(f"quiet baseline for {quiet_s:.0f} s, then {args.hostile} hostile clients", flush=True)
    t_start = time.monotonic()
    samples = []
    time.sleep(quiet_s)
    t_hostile = time.monotonic()
    counts: dict = {}
    attackers = [threading.Thread(target=hostile, args=(endpoint, hostile_stop, counts), daemon=True)
                 for _ in range(args.hostile)]
    for a in attackers:
        a.start()
    end = t_start + args.minutes * 60
    while time.monotonic() < end:
        rss, fds = sample(proc.pid)
        samples.append((time.monotonic() - t_start, rss, fds))
        recent = [l for t, l in latencies if t > time.monotonic() - 10]
        print(f"{samples[-1][0]:7.0f}s rss {rss:7.1f} MiB fds {fds:5d} valid p50 {pct(recent, .5)*1000:6.1f} ms "
              f"p99 {pct(recent, .99)*1000:7.1f} ms hostile {sum(counts.values())}", flush=True)
        if proc.poll() is not None:
            sys.exit("freshet died during the soak")
        time.sleep(10)
    hostile_stop.set()
    stop.set()
    quiet = [l for t, l in latencies if t < t_hostile]
    loud = [l for t, l in latencies if t >= t_hostile]
    rss_max, fds_max = max(s[1] for s in samples), max(s[2] for s in samples)
    errors = sum(v.errors for v in valid)
    print("\nsummary")
    print(f"  duration {args.minutes} min, hostile connections {sum(counts.values())}: {dict(sorted(counts.items()))}")
    print(f"  RSS MiB: first {samples[0][1]:.1f}, max {rss_max:.1f}, last {samples[-1][1]:.1f}")
    print(f"  open files: first {samples[0][2]}, max {fds_max}, last {samples[-1][2]}")
    print(f"  valid calls (put+get): quiet {len(quiet)} p50 {pct(quiet, .5)*1000:.1f} ms p99 {pct(quiet, .99)*1000:.1f} ms;"
          f" under attack {len(loud)} p50 {pct(loud, .5)*1000:.1f} ms p99 {pct(loud, .99)*1000:.1f} ms; errors {errors}")
    proc.terminate()
    proc.wait(timeout=30)
    failed = []
    if rss_max > args.max_rss_mib:
        failed.append(f"RSS {rss_max:.0f} MiB > {args.max_rss_mib}")
    if fds_max > args.max_fds:
        failed.append(f"open files {fds_max} > {args.max_fds}")
    if quiet and loud and pct(loud, .99) > args.max_slowdown * pct(quiet, .99):
        failed.append(f"valid p99 {pct(loud, .99)*1000:.0f} ms > {args.max_slowdown}x quiet {pct(quiet, .99)*1000:.0f} ms")
    if failed:
        sys.exit("soak failed: " + "; ".join(failed))
    print("soak passed")


if __name__ == "__main__":
    main()
