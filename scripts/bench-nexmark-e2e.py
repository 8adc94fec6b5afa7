#!/usr/bin/env python3
"""Nexmark end to end through Freshet: the events in a Kinesis stream, each query a Flink SQL
application (kinesisanalyticsv2) reading it and writing its rows to another stream.

    scripts/bench-nexmark-e2e.py [EVENTS] [QUERIES...]     (default 1000000, q0 q1 q2 q3 q5 q7 q8 q11)

What it does, all against one release `freshet serve` (fsync always, its defaults) on a temporary
data directory:

1. Loads EVENTS Nexmark events (the crate freshet-nexmark's generator, `nexmark json`, the same
   events as the in-process bench and the Flink peer) into a one-shard stream with PutRecords,
   then one more bid an hour of event time later: a Kinesis source never ends, so only a
   watermark past the last window fires it (Flink's bounded source fires them at its end). That
   bid's own windows never fire; it adds one row to q0 and q1.
2. Per query: a one-shard output stream and a FLINK-1_20 application whose code is the crate's
   NEXMARK_DDL with `'connector' = 'kinesis'` ('source.init.position' = 'TRIM_HORIZON',
   'format' = 'json'), its views, and the query into a kinesis sink table; StartApplication, then
   the output stream is read until it has been quiet for QUIET seconds.
3. Reports, per query: rows out, seconds from StartApplication to the last output row's arrival
   (not counting the quiet wait), events per second, and the server's CPU seconds (user + sys
   from /proc over the same span, sampled each time output arrived) with events per CPU-second.
   The server's CPU includes reading the input stream, decoding the JSON, the query, encoding
   and writing (fsynced) the output, and answering this script's GetRecords on the output.

Environment: CARGO_TARGET_DIR (default /var/tmp/freshet-target), QUIET (default 3 seconds),
FIRST_ROW_TIMEOUT (default 300 seconds: windowed queries emit nothing until the flush bid's
watermark, after every event was read), SKIP_BUILD=1 (use the release binaries as they are).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/freshet-target"))
QUIET = float(os.environ.get("QUIET", "3"))
FIRST_ROW_TIMEOUT = float(os.environ.get("FIRST_ROW_TIMEOUT", "300"))
QUERIES = ["q0", "q1", "q2", "q3", "q5", "q7", "q8", "q11"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sql_sections() -> dict[str, str]:
    out = subprocess.run([str(TARGET / "release/examples/nexmark"), "sql"], check=True,
                         capture_output=True, text=True).stdout
    sections, name = {}, None
    for line in out.splitlines():
        if line.startswith("--@ "):
            name = line[4:].strip()
            if name == "view":
                name = f"view{sum(k.startswith('view') for k in sections)}"
            sections[name] = ""
        elif name:
            sections[name] += line + "\n"
    return sections


class Server:
    def __init__(self, root: Path):
        ready = root / "ready"
        self.log = open(root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(TARGET / "release/freshet"), "serve", "--listen", "127.0.0.1:0", "--data-dir",
             str(root / "data"), "--ready-file", str(ready), "--create-delay-ms", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(600):
            if ready.exists() and ready.read_text().strip():
                break
            time.sleep(0.05)
        self.endpoint = f"http://{ready.read_text().strip()}"

    def client(self, service):
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="x",
                            config=Config(retries={"max_attempts": 10}, max_pool_connections=16))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def load(kinesis, stream: str, events: int):
    gen = subprocess.Popen([str(TARGET / "release/examples/nexmark"), "json", str(events)],
                           stdout=subprocess.PIPE)
    batches, batch, last = [], [], None
    for line in gen.stdout:
        batch.append({"Data": line.rstrip(b"\n"), "PartitionKey": "0"})
        last = line
        if len(batch) == 500:
            batches.append(batch)
            batch = []
    gen.wait()
    # The flush bid: an auction no query filters on, an hour after the last event.
    event = json.loads(last)
    when = next(v["dateTime"] for v in (event.get("person"), event.get("auction"), event.get("bid")) if v)
    hour_later = (datetime.strptime(when[:19], "%Y-%m-%d %H:%M:%S") + timedelta(hours=1)).strftime(
        "%Y-%m-%d %H:%M:%S.000")
    flush = {"event_type": 2, "person": None, "auction": None,
             "bid": {"auction": 1001, "bidder": 1001, "price": 1, "channel": "flush", "url": "",
                     "dateTime": hour_later, "extra": ""}}
    batch.append({"Data": json.dumps(flush).encode(), "PartitionKey": "0"})
    batches.append(batch)
    # Order within the one shard matters for event time only through the watermark; sending
    # the batches in order from one thread keeps the log in generator order.
    started = time.monotonic()
    for i, b in enumerate(batches):
        failed = kinesis.put_records(StreamName=stream, Records=b)["FailedRecordCount"]
        if failed:
            sys.exit(f"PutRecords refused {failed} records")
        if i % 200 == 0:
            print(f"\r  loaded {i * 500:,} events", end="", flush=True)
    print(f"\r  loaded {events + 1:,} events in {time.monotonic() - started:.1f} s")


def run_query(server: Server, sections: dict[str, str], name: str, source: str):
    kinesis, ka2 = server.client("kinesis"), server.client("kinesisanalyticsv2")
    out = f"nexmark-{name}"
    try:
        kinesis.create_stream(StreamName=out, ShardCount=1)
    except kinesis.exceptions.ResourceInUseException:
        # The SDK retried a create that had gone through (a busy server answers late).
        pass
    kinesis.get_waiter("stream_exists").wait(StreamName=out, WaiterConfig={"Delay": 0.1})
    source_with = (f"'connector' = 'kinesis', 'stream' = '{source}', 'aws.region' = 'us-east-1', "
                   "'source.init.position' = 'TRIM_HORIZON', 'format' = 'json'")
    views = "".join(f"{v.strip().rstrip(';')};\n" for k, v in sections.items() if k.startswith("view"))
    code = (sections["table"].replace("${WITH}", source_with).strip().rstrip(";") + ";\n" + views
            + f"CREATE TABLE nexmark_{name} ({sections['sink ' + name].strip()}) WITH ("
              f"'connector' = 'kinesis', 'stream' = '{out}', 'aws.region' = 'us-east-1', 'format' = 'json');\n"
            + f"INSERT INTO nexmark_{name}\n{sections['query ' + name].strip().rstrip(';')};\n")
    app = f"nexmark-{name}"
    ka2.create_application(ApplicationName=app, RuntimeEnvironment="FLINK-1_20",
                           ServiceExecutionRole="arn:aws:iam::000000000000:role/nexmark",
                           ApplicationConfiguration={"ApplicationCodeConfiguration": {
                               "CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": code}}})
    shard = kinesis.list_shards(StreamName=out)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=out, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    pid = server.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.time()
    ka2.start_application(ApplicationName=app, RunConfiguration={
        "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}})
    rows, last_arrival, cpu_at_last, changed = 0, None, cpu0, time.monotonic()
    while time.monotonic() - changed < (QUIET if rows else FIRST_ROW_TIMEOUT):
        got = kinesis.get_records(ShardIterator=iterator, Limit=10000)
        iterator = got["NextShardIterator"]
        if got["Records"]:
            rows += len(got["Records"])
            last_arrival = got["Records"][-1]["ApproximateArrivalTimestamp"].timestamp()
            cpu_at_last, changed = cpu_seconds(pid), time.monotonic()
            print(f"\r  {name}: {rows:,} rows", end="", flush=True)
        elif got.get("MillisBehindLatest", 0) == 0:
            time.sleep(0.05)
    status = ka2.describe_application(ApplicationName=app)["ApplicationDetail"]["ApplicationStatus"]
    ka2.stop_application(ApplicationName=app, Force=True)
    print("\r", end="")
    if last_arrival is None:
        return {"query": name, "rows": 0, "status": status}
    seconds = last_arrival - t0
    return {"query": name, "rows": rows, "seconds": seconds, "cpu": cpu_at_last - cpu0}


def main():
    args = sys.argv[1:]
    events = int(args[0].replace("_", "")) if args and args[0].replace("_", "").isdigit() else 1_000_000
    queries = [a for a in args if a.startswith("q")] or QUERIES
    if os.environ.get("SKIP_BUILD") != "1":
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "freshet", "--bin", "freshet",
                        "-p", "freshet-nexmark", "--example", "nexmark"], cwd=REPO, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    sections = sql_sections()
    with tempfile.TemporaryDirectory(prefix="freshet-nexmark-e2e-") as tmp:
        server = Server(Path(tmp))
        try:
            kinesis = server.client("kinesis")
            kinesis.create_stream(StreamName="nexmark-events", ShardCount=1)
            kinesis.get_waiter("stream_exists").wait(StreamName="nexmark-events", WaiterConfig={"Delay": 0.1})
            load(kinesis, "nexmark-events", events)
            results = [run_query(server, sections, q, "nexmark-events") for q in queries]
        finally:
            server.stop()
    print(f"\nNexmark end to end through Freshet, {events:,} events (+1 flush bid), one shard in, one out")
    print(f"{'query':6} {'rows out':>10} {'seconds':>8} {'events/s':>12} {'CPU-s':>7} {'events/CPU-s':>13}")
    for r in results:
        if "seconds" not in r:
            print(f"{r['query']:6} {'no rows':>10} (application {r['status']})")
            continue
        print(f"{r['query']:6} {r['rows']:>10,} {r['seconds']:>8.2f} {events / r['seconds']:>12,.0f} "
              f"{r['cpu']:>7.2f} {events / r['cpu']:>13,.0f}")
    print("RESULT " + json.dumps({"events": events, "queries": results}))


if __name__ == "__main__":
    main()
