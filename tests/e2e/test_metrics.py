"""`/metrics` and `--enforce-limits` end to end.

Metrics: a scrape after a known workload has the exact counts under AWS's CloudWatch names
(https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html), both the
Prometheus text format and OpenMetrics parse with the Prometheus project's own parsers
(prometheus_client), and shard-level series exist only for the shards and metrics that
EnableEnhancedMonitoring asked for, whatever the shard count.

Limits: with `--enforce-limits`, a shard takes 1,000 records a second and GetRecords 5 calls a
second, answering beyond that as AWS does (ProvisionedThroughputExceededException, per record
in PutRecords), never below; boto3's standard retry mode gets a throttled put through.
"""

from __future__ import annotations

import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from freshet_e2e import ACCOUNT, REGION, assert_error, create_stream, make_client, read_shard

SHARD0 = "shardId-000000000000"


def scrape(srv, accept: str | None = None) -> tuple[str, str]:
    req = urllib.request.Request(srv.endpoint + "/metrics", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def samples(text: str, parse=text_string_to_metric_families) -> dict[tuple, float]:
    """Every sample as {(name, sorted labels): value}, through the reference parser."""
    out = {}
    for family in parse(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_a_known_workload_is_counted_exactly_and_both_formats_parse(server_factory):
    srv = server_factory()
    kinesis = srv.client()
    create_stream(kinesis, "m", 2)
    for i in range(3):
        kinesis.put_record(StreamName="m", Data=b"abcd", PartitionKey=f"k{i}")
    out = kinesis.put_records(StreamName="m", Records=[
        {"Data": b"0123456789", "PartitionKey": "p"} for _ in range(10)])
    assert out["FailedRecordCount"] == 0
    shard_of_p = out["Records"][0]["ShardId"]
    # Within the model's bounds, over the stream's record size with its key: a failed call.
    with pytest.raises(ClientError):
        kinesis.put_record(StreamName="m", Data=b"x" * (1024 * 1024), PartitionKey="big")
    records = read_shard(kinesis, "m", shard_of_p)
    assert len(records) >= 10

    content_type, text = scrape(srv)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(text)
    s = {"StreamName": "m"}
    assert value(found, "kinesis_IncomingRecords_total", **s) == 13
    assert value(found, "kinesis_IncomingBytes_total", **s) == 3 * (4 + 2) + 10 * (10 + 1)
    assert value(found, "kinesis_PutRecord_Requests_total", **s) == 4
    assert value(found, "kinesis_PutRecord_Success_total", **s) == 3
    assert value(found, "kinesis_PutRecord_Bytes_total", **s) == 18
    assert value(found, "kinesis_PutRecords_TotalRecords_total", **s) == 10
    assert value(found, "kinesis_PutRecords_SuccessfulRecords_total", **s) == 10
    assert value(found, "kinesis_PutRecords_FailedRecords_total", **s) == 0
    assert value(found, "kinesis_PutRecords_ThrottledRecords_total", **s) == 0
    assert value(found, "kinesis_PutRecords_Latency_count", **s) == 1
    assert value(found, "kinesis_GetRecords_Records_total", **s) == len(records)
    assert value(found, "kinesis_GetRecords_Success_total", **s) >= 1
    assert value(found, "kinesis_WriteProvisionedThroughputExceeded_total", **s) == 0
    # No shard-level series until EnableEnhancedMonitoring asks.
    assert not [k for k in found if k[0].startswith("kinesis_shard_")]
    # The logs' own metrics: every acknowledged put was fsynced at least once.
    assert value(found, "freshet_log_fsync_latency_milliseconds_count", service="streams") >= 1
    assert value(found, "freshet_log_commit_records_sum", service="streams") >= 13
    assert value(found, "process_resident_memory_bytes") > 1e6
    assert value(found, "process_open_fds") > 3

    content_type, om = scrape(srv, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert om.endswith("# EOF\n")
    found = samples(om, openmetrics_families)
    assert value(found, "kinesis_IncomingRecords_total", StreamName="m") == 13


def test_video_calls_are_counted_per_stream(server_factory):
    srv = server_factory()
    kvs = make_client(srv.endpoint, service="kinesisvideo")
    kvs.create_stream(StreamName="cam", DataRetentionInHours=1)
    media = make_client(srv.endpoint, service="kinesis-video-archived-media")
    media.list_fragments(StreamName="cam")
    media.list_fragments(StreamName="cam")
    with pytest.raises(ClientError):
        media.get_hls_streaming_session_url(StreamName="cam", PlaybackMode="LIVE")
    found = samples(scrape(srv)[1])
    s = {"StreamName": "cam"}
    assert value(found, "kinesisvideo_ListFragments_Requests_total", **s) == 2
    assert value(found, "kinesisvideo_ListFragments_Success_total", **s) == 2
    assert value(found, "kinesisvideo_GetHLSStreamingSessionURL_Requests_total", **s) == 1
    assert value(found, "kinesisvideo_GetHLSStreamingSessionURL_Success_total", **s) == 0
    assert value(found, "kinesisvideo_PutMedia_IncomingFragments_total", **s) == 0


def test_shard_level_series_stay_bounded_with_ten_thousand_shards(server_factory):
    srv = server_factory(extra_args=["--shard-limit", "10000"])
    kinesis = srv.client()
    create_stream(kinesis, "wide", 10_000)

    def count() -> int:
        return sum(1 for line in scrape(srv)[1].splitlines() if line and not line.startswith("#"))

    base = count()
    # The stream-level series do not grow with the shard count.
    assert base < 500, base
    kinesis.enable_enhanced_monitoring(StreamName="wide", ShardLevelMetrics=["IncomingBytes"])
    assert count() == base + 10_000
    kinesis.disable_enhanced_monitoring(StreamName="wide", ShardLevelMetrics=["ALL"])
    assert count() == base


def throttled_message() -> str:
    return f"Rate exceeded for shard {SHARD0} in stream lim under account {ACCOUNT}."


def test_enforced_limits_throttle_at_the_documented_rates_and_sdk_retries_get_through(server_factory):
    srv = server_factory(extra_args=["--enforce-limits"])
    kinesis = srv.client()
    create_stream(kinesis, "lim", 1)
    # Under the limit: 100 records every 0.2 s is 500 a second; nothing is refused.
    for _ in range(10):
        out = kinesis.put_records(StreamName="lim", Records=[
            {"Data": b"x", "PartitionKey": "k"} for _ in range(100)])
        assert out["FailedRecordCount"] == 0
        time.sleep(0.2)
    time.sleep(1.0)
    # A burst of a thousand is the shard's second; what comes right after it is throttled.
    for _ in range(2):
        out = kinesis.put_records(StreamName="lim", Records=[{"Data": b"x", "PartitionKey": "k"}] * 500)
        assert out["FailedRecordCount"] == 0
    throttled = []
    for _ in range(3):
        out = kinesis.put_records(StreamName="lim", Records=[{"Data": b"x", "PartitionKey": "k"}] * 500)
        refused = [r for r in out["Records"] if "ErrorCode" in r]
        assert out["FailedRecordCount"] == len(refused)
        throttled += refused
    assert throttled
    assert {r["ErrorCode"] for r in throttled} == {"ProvisionedThroughputExceededException"}
    assert {r["ErrorMessage"] for r in throttled} == {throttled_message()}
    # Bytes: five records of a mebibyte, of which the shard takes one a second.
    mib = b"b" * (1024 * 1024 - 1)
    out = kinesis.put_records(StreamName="lim", Records=[{"Data": mib, "PartitionKey": "k"}] * 5)
    assert out["FailedRecordCount"] >= 4
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName="lim", Data=mib, PartitionKey="k")
    assert_error(e, "ProvisionedThroughputExceededException", throttled_message())

    # The SDK's standard retry mode backs off and gets such puts through.
    exceeded = value(samples(scrape(srv)[1]), "kinesis_WriteProvisionedThroughputExceeded_total",
                     StreamName="lim")
    retrying = boto3.session.Session().client(
        "kinesis", endpoint_url=srv.endpoint, region_name=REGION,
        aws_access_key_id="AKIDDUMMY", aws_secret_access_key="dummysecret",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    for _ in range(2):
        retrying.put_record(StreamName="lim", Data=mib, PartitionKey="k")
    retried = value(samples(scrape(srv)[1]), "kinesis_WriteProvisionedThroughputExceeded_total",
                    StreamName="lim")
    assert retried > exceeded

    # Reads: five GetRecords calls a second per shard; calls in a quick loop are refused soon
    # after the fifth, never before it.
    it = kinesis.get_shard_iterator(StreamName="lim", ShardId=SHARD0,
                                    ShardIteratorType="LATEST")["ShardIterator"]
    time.sleep(1.1)
    admitted = 0
    with pytest.raises(ClientError) as e:
        for _ in range(50):
            it = kinesis.get_records(ShardIterator=it)["NextShardIterator"]
            admitted += 1
    assert admitted >= 5
    assert_error(e, "ProvisionedThroughputExceededException",
                 f"Rate exceeded for Shard - {ACCOUNT}/lim/{SHARD0}")

    # Every record acknowledged is in the shard, and nothing refused is: the count the metrics
    # give is what a (retrying) reader finds.
    stored = read_shard(retrying, "lim", SHARD0)
    found = samples(scrape(srv)[1])
    s = {"StreamName": "lim"}
    assert value(found, "kinesis_IncomingRecords_total", **s) == len(stored)
    assert len(stored) >= 1000 + 1 + 2
    assert value(found, "kinesis_ReadProvisionedThroughputExceeded_total", **s) >= 1
    assert value(found, "kinesis_GetRecords_Records_total", **s) == len(stored)
