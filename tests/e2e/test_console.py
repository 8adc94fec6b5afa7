"""The web console: its read-only endpoints (per-shard counters, the live tail as server-sent
events, a delivery stream's recent deliveries, an application's errors) checked over HTTP, and
every page driven in headless Chromium (tests/browser/console.mjs): a record put from the form
shows in the live tail, a split shows in the shard picture, a delivery, an application's SQL and
output rows, a video plays with its fragment timeline and images, no console errors, a phone's
width. Screenshots go to $CONSOLE_SCREENSHOTS (default: the test's temporary directory)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import subprocess
import time
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from firehose_helpers import ROLE, local_objects, wait_until
from freshet_e2e import BROWSER_DIR, REGION, create_stream, needs_browser
from test_analytics_run import FILTER, Pipeline, tick
from video_helpers import make_media, needs_ffmpeg, put_media, unknown_size_clusters

ACCESS_KEY = "AKIDCONSOLETEST"
SECRET_KEY = "console-test-secret"


def get(server, path, *, sign=False, accept=None, timeout=10.0):
    """A GET of a console endpoint: (status, headers, body); signed like the console signs."""
    headers = {"Accept": accept} if accept else {}
    if sign:
        request = AWSRequest(method="GET", url=server.endpoint + path, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kinesis", REGION).add_auth(request)
        headers = dict(request.headers)
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def tail_events(server, path, count, *, timeout=10.0):
    """The first `count` server-sent events of a tail: [(event, data)]."""
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", path, headers={"Accept": "text/event-stream"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type") == "text/event-stream"
    events, event, data = [], "message", ""
    try:
        while len(events) < count:
            line = resp.fp.readline().decode()
            assert line, "the feed ended"
            line = line.rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].lstrip(" ")
            elif line == "" and data:
                events.append((event, data))
                event, data = "message", ""
    finally:
        conn.close()
    return events


def kpl_aggregate(payloads: list[bytes]) -> bytes:
    """A KPL aggregated record (protobuf by hand): one partition key, `payloads` as records."""
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    def field(number, wire, payload):
        return varint(number << 3 | wire) + (varint(len(payload)) + payload if wire == 2 else payload)

    body = field(1, 2, b"pk")
    for p in payloads:
        body += field(3, 2, field(1, 0, varint(0)) + field(3, 2, p))
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body).digest()


def test_the_root_sends_a_browser_to_the_console(server):
    status, headers, _ = get(server, "/")
    assert status == 302 and headers["location"] == "/console/"
    status, headers, body = get(server, "/console/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'src="/console/assets/app.js"' in body
    for asset in ("app.js", "pages/stream.js", "vendor/uPlot.esm.js", "vendor/htm-preact-standalone.mjs"):
        status, headers, _ = get(server, f"/console/assets/{asset}")
        assert (status, headers["content-type"]) == (200, "text/javascript; charset=utf-8"), asset
    assert get(server, "/console/assets/nothing.js")[0] == 404
    assert json.loads(get(server, "/console/api/config")[2]) == {"region": REGION, "auth": False}


def test_shard_counters_count_a_known_workload_exactly(server, kinesis, stream_name):
    create_stream(kinesis, stream_name, 2)
    shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
    for i in range(5):
        kinesis.put_record(StreamName=stream_name, Data=b"x" * 10, PartitionKey="k",
                           ExplicitHashKey=shards[1]["HashKeyRange"]["StartingHashKey"])
    it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shards[1]["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(kinesis.get_records(ShardIterator=it)["Records"]) == 5
    status, _, body = get(server, f"/console/api/streams/{stream_name}/shards")
    assert status == 200
    counters = {c["ShardId"]: c for c in json.loads(body)}
    assert counters[shards[0]["ShardId"]] == {
        "ShardId": shards[0]["ShardId"], "IncomingBytes": 0, "IncomingRecords": 0, "OutgoingBytes": 0,
        "OutgoingRecords": 0, "IteratorAgeMilliseconds": None}
    busy = counters[shards[1]["ShardId"]]
    # A record's size is its data and its partition key, as AWS counts it: 10 + 1 bytes.
    assert (busy["IncomingBytes"], busy["IncomingRecords"], busy["OutgoingBytes"], busy["OutgoingRecords"]) == (
        55, 5, 55, 5)
    assert isinstance(busy["IteratorAgeMilliseconds"], int)
    status, _, body = get(server, "/console/api/streams/no-such-stream/shards")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def test_the_tail_sends_each_record_once_with_kpl_user_records(server, kinesis, stream_name):
    create_stream(kinesis, stream_name)
    sent = [kinesis.put_record(StreamName=stream_name, Data=f"r{i}".encode(), PartitionKey=f"p{i}")
            for i in range(3)]
    aggregate = kpl_aggregate([b"user-1", b"user-2"])
    sent.append(kinesis.put_record(StreamName=stream_name, Data=aggregate, PartitionKey="agg"))
    events = tail_events(server, f"/console/api/streams/{stream_name}/tail?position=TRIM_HORIZON", 4)
    records = [json.loads(data) for event, data in events]
    assert [e for e, _ in events] == ["message"] * 4
    assert [r["SequenceNumber"] for r in records] == [s["SequenceNumber"] for s in sent]
    assert [base64.b64decode(r["Data"]) for r in records[:3]] == [b"r0", b"r1", b"r2"]
    assert [r["PartitionKey"] for r in records] == ["p0", "p1", "p2", "agg"]
    assert all("UserRecords" not in r for r in records[:3])
    assert [base64.b64decode(u) for u in records[3]["UserRecords"]] == [b"user-1", b"user-2"]
    now_ms = time.time() * 1000
    assert all(now_ms - 60_000 < r["ApproximateArrivalTimestamp"] <= now_ms + 1000 for r in records)

    # AFTER_SEQUENCE_NUMBER starts past the named record.
    path = (f"/console/api/streams/{stream_name}/tail?position=AFTER_SEQUENCE_NUMBER"
            f"&sequence={sent[1]['SequenceNumber']}")
    after = [json.loads(d)["SequenceNumber"] for _, d in tail_events(server, path, 2)]
    assert after == [sent[2]["SequenceNumber"], sent[3]["SequenceNumber"]]


def test_a_latest_tail_shows_only_what_is_put_after_it_opened(server, kinesis, stream_name):
    create_stream(kinesis, stream_name)
    kinesis.put_record(StreamName=stream_name, Data=b"before", PartitionKey="k")
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", f"/console/api/streams/{stream_name}/tail")
    resp = conn.getresponse()
    assert resp.status == 200
    kinesis.put_record(StreamName=stream_name, Data=b"after", PartitionKey="k")
    line = ""
    while not line.startswith("data:"):
        line = resp.fp.readline().decode()
    conn.close()
    assert base64.b64decode(json.loads(line[5:])["Data"]) == b"after"


@pytest.mark.parametrize("query,message", [
    ("position=SIDEWAYS", "unknown position SIDEWAYS"),
    ("position=AT_SEQUENCE_NUMBER", "sequence is required for this position"),
    ("position=AT_TIMESTAMP&timestamp=soon", "timestamp (epoch milliseconds) is required"),
])
def test_a_tail_with_a_bad_position_is_refused(server, kinesis, stream_name, query, message):
    create_stream(kinesis, stream_name)
    status, _, body = get(server, f"/console/api/streams/{stream_name}/tail?{query}")
    assert status == 400
    assert json.loads(body) == {"__type": "InvalidArgumentException", "message": message}


def test_a_tail_of_a_missing_stream_is_refused(server):
    status, _, body = get(server, "/console/api/streams/no-such-stream/tail")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def test_console_endpoints_are_signed_when_the_server_checks_signatures(server_factory):
    srv = server_factory(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    kinesis = srv.client(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    create_stream(kinesis, "signed")
    assert json.loads(get(srv, "/console/api/config")[2]) == {"region": REGION, "auth": True}
    for path in ("/console/api/streams/signed/shards", "/console/api/streams/signed/tail",
                 "/console/api/deliverystreams/d/deliveries", "/console/api/applications/a/errors"):
        status, _, body = get(srv, path)
        assert (status, json.loads(body)) == (400, {
            "__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}), path
    status, _, body = get(srv, "/console/api/streams/signed/shards", sign=True)
    assert status == 200 and [c["ShardId"] for c in json.loads(body)] == ["shardId-000000000000"]
    # The pages themselves are public: they hold no data.
    assert get(srv, "/console/")[0] == 200


def test_recent_deliveries_name_each_object_written(server, stream_name):
    fh = server.client(service="firehose")
    name, bucket = stream_name, f"console-{stream_name.lower()}"[:60]
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"one\n"})
    objects = wait_until(lambda: local_objects(server.data_dir, bucket), what="the object")
    deliveries = wait_until(
        lambda: json.loads(get(server, f"/console/api/deliverystreams/{name}/deliveries")[2]), what="deliveries")
    [key] = objects
    assert deliveries == [{"AtMs": deliveries[0]["AtMs"], "Destination": "S3", "Target": f"s3://{bucket}/{key}",
                           "Bytes": 4, "Error": None}]
    status, _, body = get(server, "/console/api/deliverystreams/nothing-here/deliveries")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def test_application_errors_answer_for_an_application_and_refuse_an_unknown_one(server, name_factory):
    p = Pipeline(server, name_factory)
    p.create(FILTER)
    p.start()
    status, _, body = get(server, f"/console/api/applications/{p.app}/errors")
    assert (status, json.loads(body)) == (200, [])
    # Its input stream deleted under it: each step fails, and the error shows once.
    p.kinesis.delete_stream(StreamName=p.input)
    errors = wait_until(lambda: json.loads(get(server, f"/console/api/applications/{p.app}/errors")[2]),
                        what="an application error")
    assert len(errors) == 1 and p.input in errors[0]["Message"], errors
    p.stop()
    status, _, body = get(server, "/console/api/applications/nothing-here/errors")
    assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"


def console(config: dict) -> dict:
    out = subprocess.run(["node", str(BROWSER_DIR / "console.mjs"), json.dumps(config)], capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def screenshots(tmp_path, under=""):
    path = os.path.join(os.environ.get("CONSOLE_SCREENSHOTS") or str(tmp_path / "screenshots"), under)
    os.makedirs(path, exist_ok=True)
    return path


@needs_browser
@needs_ffmpeg
def test_every_console_page_in_a_browser(server, name_factory, tmp_path):
    kinesis = server.client()
    stream = name_factory("tail")
    create_stream(kinesis, stream, 2)

    fh = server.client(service="firehose")
    delivery, bucket = name_factory("fh"), f"console-{int(time.time() * 1000)}"
    fh.create_delivery_stream(DeliveryStreamName=delivery, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record_batch(DeliveryStreamName=delivery, Records=[{"Data": b'{"n":%d}\n' % i} for i in range(3)])
    wait_until(lambda: local_objects(server.data_dir, bucket), what="a delivery")

    app = Pipeline(server, name_factory)
    app.create(FILTER)
    app.start()

    kvs = server.client(service="kinesisvideo")
    camera = name_factory("cam")
    kvs.create_stream(StreamName=camera, DataRetentionInHours=24)
    media = unknown_size_clusters(make_media(tmp_path / "clip.mkv", 6).read_bytes())
    now = float(int(time.time()))
    for start in (now - 120, now - 60):  # two recordings a minute apart: a gap between them
        assert put_media(server.endpoint, camera, media, start=start).status == 200

    result = console({
        "url": server.endpoint, "stream": stream, "split": True, "delivery": delivery,
        "application": app.app, "applicationInput": app.input,
        "applicationRow": tick("AMZN", "TECHNOLOGY", 1.5, 100.0).decode(),
        "video": camera, "shots": screenshots(tmp_path)})

    assert [s for s in result["steps"] if not s["ok"]] == [], result["steps"]
    assert result["consoleErrors"] == [] and result["pageErrors"] == [], result
    assert result["failedRequests"] == [], result["failedRequests"]
    assert result["landed"] == "/console/"
    assert result["overview"] == {"stream": True, "delivery": True, "application": True, "video": True}
    assert result["firstTabStop"] == "Freshet"
    # Put from the form, shown by the tail within a second; decoded three ways.
    assert result["tailMs"] < 1000, result["tailMs"]
    assert result["prettyJson"].startswith('{\n  "console": ')
    assert result["hex"].startswith("7b 22 63 6f 6e 73 6f 6c 65 22")
    tail_shards = result["tailShards"]
    assert tail_shards["shown"] == [tail_shards["put"].removeprefix("shardId-")], tail_shards
    assert result["charts"] == 3
    assert result["unlabelled"] == []
    # The split: the parent closed, two children below it, a line to each.
    assert result["shardsBefore"] == 2
    assert result["split"] == {"shards": 4, "closed": 1, "lineage": 2}
    [target] = [t for t in result["deliveryTargets"] if t.startswith("s3://")]
    assert target.startswith(f"s3://{bucket}/")
    assert json.loads(result["deliveryConfig"])["DeliveryStreamName"] == delivery
    assert "STREAM_PUMP" in result["sql"] and result["applicationStatus"] == "RUNNING"
    row = json.loads(result["outputRow"])
    assert (row["TICKER_SYMBOL"], row["PRICE"]) == ("AMZN", 100.0)
    # Two 6-s recordings of 2-s fragments, a minute apart.
    assert (result["fragments"], result["gaps"]) == (6, 1)
    playback = result["playback"]
    assert playback["mode"] == "ON_DEMAND" and playback["engine"] == "hls.js" and playback["errors"] == []
    assert playback["samples"][-1] > 1.0 and playback["samples"] == sorted(playback["samples"]), playback
    assert result["images"] > 0 and all(w == 240 for w in result["imageSizes"]), result["imageSizes"]
    # A phone's width: nothing wider than the screen.
    assert result["phone"] == {"overview": 390, "stream": 390}
    app.stop()


@needs_browser
def test_the_console_signs_in_and_signs_its_calls(server_factory, tmp_path):
    srv = server_factory(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    kinesis = srv.client(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    stream = "signed-tail"
    create_stream(kinesis, stream)
    result = console({"url": srv.endpoint, "stream": stream, "split": True,
                      "keys": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY},
                      "shots": screenshots(tmp_path, "signed")})
    assert [s for s in result["steps"] if not s["ok"]] == [], result["steps"]
    assert result["consoleErrors"] == [] and result["pageErrors"] == [] and result["failedRequests"] == [], result
    assert result["overview"]["stream"] is True
    assert result["tailMs"] < 1000
    assert result["split"] == {"shards": 3, "closed": 1, "lineage": 2}
    # What the browser put went through the signed API.
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert b'"console"' in kinesis.get_records(ShardIterator=it)["Records"][0]["Data"]
