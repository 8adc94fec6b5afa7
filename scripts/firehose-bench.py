#!/usr/bin/env python3
"""Firehose delivery figures for BENCHMARKS.md: (1) delivery throughput into S3 (producers put
1 KiB records in PutRecordBatch calls of 500; MB/s of records delivered into the embedded S3
target, measured from the first put to the last object, and MB per CPU-second of the server over
that time), and (2) put -> object latency at the smallest buffer interval (IntervalInSeconds 0),
one record at a time.

--mode gzip: GZIP objects. --mode partitioned: JSON records in 8 partitions by a jq key
(dynamic partitioning, a newline appended, GZIP). --mode parquet: JSON records converted to
Parquet (SNAPPY) with a Glue table's two columns (needs pyarrow). --mode opensearch: JSON
documents indexed through `_bulk` into osmem-server (an OpenSearch-compatible server from PyPI)
behind the tests' HTTPS proxy, counted with `_count`: the chain's throughput, engine included.
--mode iceberg: JSON records appended to an Iceberg table (two string columns) made through
Freshet's Iceberg REST catalog, one snapshot per buffer (needs pyarrow to count the rows).

usage: scripts/firehose-bench.py [--bin PATH] [--seconds N] [--producers N] [--mode M]
Starts its own `freshet serve` on 127.0.0.1 (ephemeral port) in a temporary directory."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/bench"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def objects(root: Path):
    return [p for p in root.rglob("*") if p.is_file() and ".tmp-" not in p.name]


def make_iceberg_table(endpoint: str):
    """Namespace `bench` and table `t` (k, v: strings) at s3://tput/wh/bench/t, through the
    Iceberg REST API."""
    import urllib.request
    base = f"{endpoint}/iceberg/v1/catalogs/000000000000/namespaces"

    def post(url, doc):
        req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()

    post(base, {"namespace": ["bench"], "properties": {"location": "s3://tput/wh/bench"}})
    post(f"{base}/bench/tables", {"name": "t", "schema": {"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "k", "required": False, "type": "string"},
        {"id": 2, "name": "v", "required": False, "type": "string"}]}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get(
        "FRESHET_BIN", "/var/tmp/freshet-target/release/freshet"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--latency-samples", type=int, default=50)
    ap.add_argument("--mode", choices=["gzip", "partitioned", "parquet", "opensearch", "iceberg"], default="gzip")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freshet-fh-bench-"))
    ready = work / "ready"
    env = {**os.environ, "FRESHET_FIREHOSE__CREATE_DELAY_MS": "0"}
    search = None
    if args.mode == "opensearch":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
        from firehose_helpers import OpenSearch
        search = OpenSearch(work)
        env["FRESHET_FIREHOSE__HTTP_CA_FILE"] = str(search.cert)
    proc = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                             str(work / "data"), "--ready-file", str(ready), "--log", "warn"],
                            env=env)
    try:
        while not ready.exists():
            time.sleep(0.02)
        endpoint = "http://" + ready.read_text().strip()

        def client():
            return boto3.session.Session().client(
                "firehose", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="a", aws_secret_access_key="b",
                config=Config(retries={"max_attempts": 10, "mode": "standard"}))

        fh = client()
        destination = {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::tput", "CompressionFormat": "GZIP",
                       "BufferingHints": {"SizeInMBs": 8, "IntervalInSeconds": 0}}
        # 500 different records of 1 KiB of hex text (compresses to about half, like logs): a
        # batch repeats no record, so deflate finds no match between neighbouring records.
        if args.mode == "gzip":
            batch = [{"Data": os.urandom(512).hex().encode()} for _ in range(500)]
        else:
            batch = [{"Data": ('{"k":"p%d","v":"%s"}' % (i % 8, os.urandom(496).hex())).encode()}
                     for i in range(500)]
        if args.mode == "partitioned":
            destination.update({
                "Prefix": "k=!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": "err/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
                "DynamicPartitioningConfiguration": {"Enabled": True},
                "ProcessingConfiguration": {"Enabled": True, "Processors": [
                    {"Type": "MetadataExtraction", "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                    {"Type": "AppendDelimiterToRecord"}]}})
        if args.mode == "parquet":
            glue = boto3.session.Session().client(
                "glue", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="a", aws_secret_access_key="b")
            glue.create_database(DatabaseInput={"Name": "bench"})
            glue.create_table(DatabaseName="bench", TableInput={"Name": "t", "StorageDescriptor": {
                "Columns": [{"Name": "k", "Type": "string"}, {"Name": "v", "Type": "string"}]}})
            destination.update({
                "CompressionFormat": "UNCOMPRESSED", "ErrorOutputPrefix": "err/",
                "DataFormatConversionConfiguration": {
                    "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "bench", "TableName": "t"},
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}})
        if args.mode == "iceberg":
            make_iceberg_table(endpoint)
            fh.create_delivery_stream(DeliveryStreamName="tput", IcebergDestinationConfiguration={
                "RoleARN": ROLE, "CatalogConfiguration": {"CatalogARN": "arn:aws:glue:us-east-1:000000000000:catalog"},
                "DestinationTableConfigurationList": [{"DestinationDatabaseName": "bench", "DestinationTableName": "t"}],
                "BufferingHints": {"SizeInMBs": 8, "IntervalInSeconds": 0},
                "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::failed"}})
        elif search is not None:
            fh.create_delivery_stream(DeliveryStreamName="tput", AmazonopensearchserviceDestinationConfiguration={
                "RoleARN": ROLE, "ClusterEndpoint": search.url, "IndexName": "bench",
                "IndexRotationPeriod": "NoRotation", "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 0},
                "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::failed"}})
        else:
            fh.create_delivery_stream(DeliveryStreamName="tput", ExtendedS3DestinationConfiguration=destination)
        record_bytes = len(batch[0]["Data"])
        sent = [0] * args.producers
        stop = time.monotonic() + args.seconds

        def produce(i):
            c = client()
            while time.monotonic() < stop:
                c.put_record_batch(DeliveryStreamName="tput", Records=batch)
                sent[i] += len(batch)

        start = time.monotonic()
        cpu_start = cpu_seconds(proc.pid)
        threads = [threading.Thread(target=produce, args=(i,)) for i in range(args.producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(sent) * record_bytes
        root = work / "data" / "s3" / "tput"
        def delivered_records():
            if search is not None:
                search.request("POST", "/bench/_refresh")
                status, body = search.request("GET", "/bench/_count")
                return json.loads(body)["count"] if status == 200 else 0
            if args.mode in ("parquet", "iceberg"):
                import pyarrow.parquet as pq
                return sum(pq.ParquetFile(p).metadata.num_rows for p in objects(root)
                           if p.suffix == ".parquet" or args.mode == "parquet")
            lines = sum(len(gzip.decompress(p.read_bytes())) for p in objects(root))
            # Partitioned records end in the newline AppendDelimiterToRecord adds.
            return lines // (record_bytes + (args.mode == "partitioned"))

        while delivered_records() < sum(sent):
            time.sleep(0.05)
        secs = time.monotonic() - start
        cpu = cpu_seconds(proc.pid) - cpu_start
        n_objects = len(objects(root))
        print(f"delivery: {sum(sent)} records, {total / 1e6:.1f} MB in {secs:.1f} s = "
              f"{total / 1e6 / secs:.1f} MB/s delivered ({args.mode}), {n_objects} objects; server CPU "
              f"{cpu:.2f} s = {total / 1e6 / cpu:.1f} MB and {sum(sent) / cpu:,.0f} records per "
              f"server CPU-second")

        fh.create_delivery_stream(DeliveryStreamName="lat", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::lat",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
        root = work / "data" / "s3" / "lat"
        samples = []
        for i in range(args.latency_samples):
            before = len(objects(root))
            t0 = time.monotonic()
            fh.put_record(DeliveryStreamName="lat", Record={"Data": b"x%d" % i})
            while len(objects(root)) <= before:
                time.sleep(0.0005)
            samples.append((time.monotonic() - t0) * 1000)
        samples.sort()
        p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
        print(f"put -> object latency (IntervalInSeconds 0, {len(samples)} puts): "
              f"p50 {p(0.5):.1f} ms, p90 {p(0.9):.1f} ms, max {samples[-1]:.1f} ms "
              f"(mean {statistics.mean(samples):.1f} ms)")
    finally:
        proc.terminate()
        proc.wait()
        if search is not None:
            search.close()


if __name__ == "__main__":
    main()
