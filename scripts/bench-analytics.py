#!/usr/bin/env python3
"""End-to-end latency of an Analytics application: JSON records put into a Freshet stream at a
fixed rate go through a stateless SQL application into an output stream; a reader follows the
output and measures put -> output latency per record (the send time travels in the record).

    scripts/bench-analytics.py [--rate 1000] [--seconds 20] [--bin target/release/freshet]

Starts its own server (release binary, temporary data directory, 127.0.0.1 on a free port) and
prints p50/p99/max latency, the rate reached and the server's CPU seconds per 1,000 records.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import boto3

CODE = """
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(8), price DOUBLE, sent BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, price, sent FROM "SOURCE_SQL_STREAM_001" WHERE price > 0;
"""

SCHEMA = {
    "RecordColumns": [
        {"Name": "TICKER_SYMBOL", "SqlType": "VARCHAR(8)", "Mapping": "$.TICKER_SYMBOL"},
        {"Name": "PRICE", "SqlType": "DOUBLE", "Mapping": "$.PRICE"},
        {"Name": "SENT", "SqlType": "BIGINT", "Mapping": "$.SENT"},
    ],
    "RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
    "RecordEncoding": "UTF-8",
}
ROLE = "arn:aws:iam::000000000000:role/kda"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_secs(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the server did not start")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1000, help="records per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--bin", default=os.environ.get("FRESHET_BIN", "/var/tmp/freshet-target/release/freshet"))
    args = ap.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="freshet-kda-bench-")
    server = subprocess.Popen([args.bin, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        kinesis, kda = client(endpoint, "kinesis"), client(endpoint, "kinesisanalytics")
        for name in ("bench-in", "bench-out"):
            kinesis.create_stream(StreamName=name, ShardCount=1)
            kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
        arn = lambda n: kinesis.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]["StreamARN"]
        kda.create_application(
            ApplicationName="bench", ApplicationCode=CODE,
            Inputs=[{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": SCHEMA,
                     "KinesisStreamsInput": {"ResourceARN": arn("bench-in"), "RoleARN": ROLE}}],
            Outputs=[{"Name": "DESTINATION_SQL_STREAM", "DestinationSchema": {"RecordFormatType": "JSON"},
                      "KinesisStreamsOutput": {"ResourceARN": arn("bench-out"), "RoleARN": ROLE}}])
        input_id = kda.describe_application(ApplicationName="bench")["ApplicationDetail"]["InputDescriptions"][0]["InputId"]
        kda.start_application(ApplicationName="bench", InputConfigurations=[
            {"Id": input_id, "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}])
        while kda.describe_application(ApplicationName="bench")["ApplicationDetail"]["ApplicationStatus"] != "RUNNING":
            time.sleep(0.05)

        latencies = []
        done = threading.Event()

        def read():
            reader = client(endpoint, "kinesis")
            it = reader.get_shard_iterator(StreamName="bench-out", ShardId="shardId-000000000000",
                                           ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while not done.is_set():
                got = reader.get_records(ShardIterator=it, Limit=10000)
                now = time.time_ns()
                latencies.extend((now - json.loads(r["Data"])["SENT"]) / 1e6 for r in got["Records"])
                it = got["NextShardIterator"]
                if not got["Records"]:
                    time.sleep(0.002)

        reader = threading.Thread(target=read)
        reader.start()
        per_batch = max(1, args.rate // 100)
        total = int(args.rate * args.seconds)
        cpu_before = cpu_secs(server.pid)
        start = time.monotonic()
        sent = 0
        while sent < total:
            due = start + sent / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            records = [{"Data": json.dumps({"TICKER_SYMBOL": f"T{(sent + i) % 100}", "PRICE": 1.0 + i,
                                            "SENT": time.time_ns()}).encode(),
                        "PartitionKey": str(sent + i)} for i in range(per_batch)]
            kinesis.put_records(StreamName="bench-in", Records=records)
            sent += per_batch
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 10
        while len(latencies) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        reader.join()
        cpu = cpu_secs(server.pid) - cpu_before
        result = {
            "records_sent": sent, "records_out": len(latencies), "rate": round(sent / elapsed),
            "p50_ms": round(percentile(latencies, 0.50), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1), "server_cpu_s_per_1000": round(cpu / sent * 1000, 4),
        }
        print(f"{sent} records at {result['rate']}/s: put->output p50 {result['p50_ms']} ms, "
              f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
              f"server CPU {result['server_cpu_s_per_1000']} s per 1,000 records")
        print("RESULT " + json.dumps(result))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
