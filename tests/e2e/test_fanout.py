"""Enhanced fan-out end to end: registered consumers and SubscribeToShard through boto3.

boto3 speaks SubscribeToShard over HTTP/1.1: the answer is an `application/vnd.amazon.eventstream`
body that `resp["EventStream"]` iterates as `{"SubscribeToShardEvent": {...}}` items. What AWS
documents and these tests hold the server to
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SubscribeToShard.html,
https://docs.aws.amazon.com/streams/latest/dev/building-enhanced-consumers-api.html):
- a consumer is CREATING, then ACTIVE; only an ACTIVE consumer can subscribe; at most 20 per stream;
- events carry Records, ContinuationSequenceNumber (subscribe AFTER it to resume exactly there),
  MillisBehindLatest, and ChildShards once a closed shard is read to its end;
- a second SubscribeToShard for the same consumer and shard within 5 seconds is refused with
  ResourceInUseException; after that the new subscription takes over and the old one ends.
"""

from __future__ import annotations

import re
import socket
import statistics
import struct
import threading
import time
import zlib

import pytest
from botocore.exceptions import ClientError, EventStreamError

from freshet_e2e import (
    ACCOUNT,
    HASH_KEY_SPACE,
    REGION,
    assert_error,
    create_stream,
    make_client,
    raw_request,
    stream_arn,
    wait_for_deleted,
    wait_for_status,
)

SHARD0 = "shardId-000000000000"
# Longer than the 5 s heartbeat, so a healthy idle subscription never times out, and a dead one
# fails the test instead of hanging it.
SUBSCRIBE_READ_TIMEOUT_S = 8


# --------------------------------------------------------------------------- helpers


def consumer_arn_pattern(stream: str, consumer: str) -> re.Pattern:
    return re.compile(rf"^arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{re.escape(stream)}"
                      rf"/consumer/{re.escape(consumer)}:(\d+)$")


def register(client, stream: str, consumer: str, **kw) -> dict:
    return client.register_stream_consumer(StreamARN=stream_arn(stream), ConsumerName=consumer, **kw)["Consumer"]


def wait_consumer(client, arn: str, status: str = "ACTIVE", timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = client.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        if last["ConsumerStatus"] == status:
            return last
        time.sleep(0.02)
    raise AssertionError(f"consumer {arn} not {status} within {timeout}s; last: {last}")


def wait_consumer_gone(client, arn: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.describe_stream_consumer(ConsumerARN=arn)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException", e
            return
        time.sleep(0.02)
    raise AssertionError(f"consumer {arn} still there after {timeout}s")


def list_consumers(client, stream: str, page_size: int | None = None) -> tuple[list[dict], int]:
    """Every consumer through ListStreamConsumers pages; also returns the number of pages."""
    args = {"StreamARN": stream_arn(stream)}
    if page_size:
        args["MaxResults"] = page_size
    out, pages = [], 0
    while True:
        resp = client.list_stream_consumers(**args)
        pages += 1
        out += resp["Consumers"]
        if "NextToken" not in resp:
            return out, pages
        args["NextToken"] = resp["NextToken"]


class Subscription:
    """A SubscribeToShard call whose events a background thread collects as they arrive."""

    def __init__(self, client, consumer_arn: str, shard_id: str, position: dict):
        resp = client.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=shard_id, StartingPosition=position)
        self.stream = resp["EventStream"]
        self.events: list[tuple[float, dict]] = []  # (monotonic receipt time, SubscribeToShardEvent)
        self.error: BaseException | None = None
        self.ended = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for item in self.stream:
                now = time.monotonic()
                with self._cond:
                    self.events.append((now, item["SubscribeToShardEvent"]))
                    self._cond.notify_all()
        except BaseException as e:  # kept for the test to inspect
            self.error = e
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait(self, predicate, timeout: float = 5.0, what: str = "condition") -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self) or self.ended, timeout):
                raise AssertionError(f"{what} not reached within {timeout}s; {len(self.events)} events")
            if not predicate(self):
                raise AssertionError(f"subscription ended before {what}: {self.error!r}")

    def wait_records(self, n: int, timeout: float = 5.0) -> list[dict]:
        self.wait(lambda s: len(s.records()) >= n, timeout, f"{n} records")
        return self.records()

    def wait_end(self, timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.ended, timeout), f"subscription did not end within {timeout}s"

    def records(self) -> list[dict]:
        return [r for _, e in list(self.events) for r in e["Records"]]

    def close(self):
        """Ends the call from this side. A plain close would wait for the reading thread, which
        holds the response's buffer lock until the next event (up to a 5 s heartbeat), so the
        socket is shut down first to wake it."""
        raw = getattr(self.stream, "_raw_stream", None)
        conn = getattr(raw, "_connection", None)
        sock = getattr(conn, "sock", None)
        if sock is None:  # urllib3 releases the connection while the body is still streaming
            fp = getattr(getattr(raw, "_fp", None), "fp", None)
            sock = getattr(getattr(fp, "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self.stream.close()


@pytest.fixture
def sub_client(server):
    return make_client(server.endpoint, timeout=SUBSCRIBE_READ_TIMEOUT_S)


@pytest.fixture
def subscriptions():
    made: list[Subscription] = []
    yield made
    for s in made:
        try:
            s.close()
        except Exception:
            pass


@pytest.fixture
def subscribe(sub_client, subscriptions):
    def make(consumer_arn, shard_id=SHARD0, position=None, client=None) -> Subscription:
        s = Subscription(client or sub_client, consumer_arn, shard_id, position or {"Type": "TRIM_HORIZON"})
        subscriptions.append(s)
        return s
    return make


def put(client, stream: str, data: bytes, key: str = "k", **kw) -> dict:
    return client.put_record(StreamName=stream, PartitionKey=key, Data=data, **kw)


# --------------------------------------------------------------------------- consumers


def test_consumer_lifecycle_with_delays(server_factory):
    srv = server_factory(create_delay_ms=300, delete_delay_ms=300)
    client = srv.client()
    create_stream(client, "s", 1)
    t0 = time.time()
    c = register(client, "s", "app", Tags={"team": "e2e"})
    assert c["ConsumerName"] == "app"
    assert c["ConsumerStatus"] == "CREATING"
    m = consumer_arn_pattern("s", "app").match(c["ConsumerARN"])
    assert m, c["ConsumerARN"]
    created = c["ConsumerCreationTimestamp"].timestamp()
    assert int(m.group(1)) == int(created)
    assert abs(created - t0) < 5

    desc = client.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    assert desc["ConsumerStatus"] == "CREATING"
    assert desc["StreamARN"] == stream_arn("s")
    with pytest.raises(ClientError) as e:
        client.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId=SHARD0,
                                  StartingPosition={"Type": "LATEST"})
    assert_error(e, "ResourceInUseException")

    desc = wait_consumer(client, c["ConsumerARN"])
    by_name = client.describe_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="app")["ConsumerDescription"]
    assert by_name == desc
    assert {k: desc[k] for k in ("ConsumerName", "ConsumerARN", "ConsumerCreationTimestamp")} == \
        {k: c[k] for k in ("ConsumerName", "ConsumerARN", "ConsumerCreationTimestamp")}
    assert [x["ConsumerStatus"] for x in list_consumers(client, "s")[0]] == ["ACTIVE"]

    client.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
    assert client.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] \
        == "DELETING"
    wait_consumer_gone(client, c["ConsumerARN"])
    assert list_consumers(client, "s")[0] == []
    assert client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["ConsumerCount"] == 0

    # Deregistering by stream ARN and name, with no delay on the way in this time.
    c2 = register(client, "s", "app2")
    wait_consumer(client, c2["ConsumerARN"])
    client.deregister_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="app2")
    wait_consumer_gone(client, c2["ConsumerARN"])


def test_consumer_names_are_unique_and_limited_to_twenty(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    names = [f"c{i:02d}" for i in range(20)]
    arns = [register(kinesis, stream_name, n)["ConsumerARN"] for n in names]
    assert len(set(arns)) == 20
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    assert summary["ConsumerCount"] == 20

    with pytest.raises(ClientError) as e:
        register(kinesis, stream_name, "c00")
    assert_error(e, "ResourceInUseException")
    with pytest.raises(ClientError) as e:
        register(kinesis, stream_name, "one-too-many")
    assert_error(e, "LimitExceededException")

    # Paging: 20 consumers, 7 a page -> 7, 7, 6, every one once, in a stable order.
    listed, pages = list_consumers(kinesis, stream_name, page_size=7)
    assert pages == 3
    assert sorted(c["ConsumerName"] for c in listed) == names
    assert sorted(c["ConsumerARN"] for c in listed) == sorted(arns)
    assert list_consumers(kinesis, stream_name)[0] == listed
    assert all(c["ConsumerStatus"] == "ACTIVE" for c in listed)
    exact, pages = list_consumers(kinesis, stream_name, page_size=20)
    assert pages == 1 and exact == listed

    # Room again after one goes.
    kinesis.deregister_stream_consumer(ConsumerARN=arns[0])
    wait_consumer_gone(kinesis, arns[0])
    register(kinesis, stream_name, "one-too-many")


def test_consumer_errors(kinesis, kinesis_nv, stream_name):
    missing_stream = stream_arn(stream_name + "-missing")
    with pytest.raises(ClientError) as e:
        kinesis.register_stream_consumer(StreamARN=missing_stream, ConsumerName="c")
    assert_error(e, "ResourceNotFoundException")
    with pytest.raises(ClientError) as e:
        kinesis.list_stream_consumers(StreamARN=missing_stream)
    assert_error(e, "ResourceNotFoundException")

    create_stream(kinesis, stream_name, 1)
    unknown_arn = f"{stream_arn(stream_name)}/consumer/nobody:1700000000"
    for call in (lambda: kinesis.describe_stream_consumer(ConsumerARN=unknown_arn),
                 lambda: kinesis.describe_stream_consumer(StreamARN=stream_arn(stream_name), ConsumerName="nobody"),
                 lambda: kinesis.deregister_stream_consumer(ConsumerARN=unknown_arn),
                 lambda: kinesis.deregister_stream_consumer(StreamARN=stream_arn(stream_name), ConsumerName="nobody")):
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, "ResourceNotFoundException")

    # A consumer ARN is checked to its creation time: a stale one names no consumer.
    c = register(kinesis, stream_name, "c")
    stale = c["ConsumerARN"].rsplit(":", 1)[0] + ":1"
    with pytest.raises(ClientError) as e:
        kinesis.describe_stream_consumer(ConsumerARN=stale)
    assert_error(e, "ResourceNotFoundException")

    for args in ({}, {"StreamARN": stream_arn(stream_name)}, {"ConsumerName": "c"}):
        for op in (kinesis_nv.describe_stream_consumer, kinesis_nv.deregister_stream_consumer):
            with pytest.raises(ClientError) as e:
                op(**args)
            assert_error(e, "InvalidArgumentException")
    assert wait_consumer(kinesis, c["ConsumerARN"])["ConsumerName"] == "c"


def test_delete_stream_with_consumers_needs_enforce_consumer_deletion(kinesis, stream_name):
    create_stream(kinesis, stream_name, 1)
    c = register(kinesis, stream_name, "c")
    with pytest.raises(ClientError) as e:
        kinesis.delete_stream(StreamName=stream_name)
    assert_error(e, "ResourceInUseException")
    with pytest.raises(ClientError) as e:
        kinesis.delete_stream(StreamName=stream_name, EnforceConsumerDeletion=False)
    assert_error(e, "ResourceInUseException")
    assert wait_consumer(kinesis, c["ConsumerARN"])

    kinesis.delete_stream(StreamName=stream_name, EnforceConsumerDeletion=True)
    wait_for_deleted(kinesis, stream_name)
    with pytest.raises(ClientError) as e:
        kinesis.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])
    assert_error(e, "ResourceNotFoundException")

    # A new stream of the same name starts without consumers.
    create_stream(kinesis, stream_name, 1)
    assert list_consumers(kinesis, stream_name)[0] == []
    kinesis.delete_stream(StreamName=stream_name)  # no consumers: no flag needed
    wait_for_deleted(kinesis, stream_name)


# --------------------------------------------------------------------------- SubscribeToShard


def decode_event_stream(body: bytes) -> list[tuple[dict, bytes]]:
    """Splits an event-stream body into (string headers, payload), checking both CRC-32s."""
    out = []
    while body:
        total, headers_len, prelude_crc = struct.unpack(">III", body[:12])
        assert zlib.crc32(body[:8]) == prelude_crc, "bad prelude CRC"
        message, body = body[:total], body[total:]
        assert zlib.crc32(message[:-4]) == struct.unpack(">I", message[-4:])[0], "bad message CRC"
        raw, headers = message[12:12 + headers_len], {}
        while raw:
            n = raw[0]
            name = raw[1:1 + n].decode()
            assert raw[1 + n] == 7, f"header {name} is not a string"
            (length,) = struct.unpack(">H", raw[2 + n:4 + n])
            headers[name] = raw[4 + n:4 + n + length].decode()
            raw = raw[4 + n + length:]
        out.append((headers, message[12 + headers_len:-4]))
    return out


def test_subscribe_wire_form_starts_with_initial_response(server, kinesis, stream_name):
    import http.client
    import json

    create_stream(kinesis, stream_name, 1)
    put(kinesis, stream_name, b"wire")
    c = register(kinesis, stream_name, "c")
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=SUBSCRIBE_READ_TIMEOUT_S)
    try:
        conn.request("POST", "/", body=json.dumps({
            "ConsumerARN": c["ConsumerARN"], "ShardId": SHARD0, "StartingPosition": {"Type": "TRIM_HORIZON"}}),
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "Kinesis_20131202.SubscribeToShard"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "application/vnd.amazon.eventstream"
        # The first two messages: initial-response, then the event with the record.
        buf = b""
        while len(decode_complete(buf)) < 2:
            chunk = resp.read1(65536)
            assert chunk, "body ended early"
            buf += chunk
    finally:
        conn.close()
    (h0, p0), (h1, p1) = decode_complete(buf)[:2]
    assert h0[":message-type"] == "event" and h0[":event-type"] == "initial-response"
    assert json.loads(p0 or b"{}") == {}
    assert h1[":message-type"] == "event" and h1[":event-type"] == "SubscribeToShardEvent"
    event = json.loads(p1)
    assert [r["PartitionKey"] for r in event["Records"]] == ["k"]
    assert "ContinuationSequenceNumber" in event and "MillisBehindLatest" in event


def decode_complete(buf: bytes) -> list[tuple[dict, bytes]]:
    """The complete messages at the start of `buf`."""
    end = 0
    while len(buf) - end >= 4:
        (total,) = struct.unpack(">I", buf[end:end + 4])
        if len(buf) - end < total:
            break
        end += total
    return decode_event_stream(buf[:end])


def test_subscribe_trim_horizon_then_live_records_with_latency(kinesis, stream_name, subscribe):
    create_stream(kinesis, stream_name, 1)
    earlier = [put(kinesis, stream_name, f"early-{i}".encode())["SequenceNumber"] for i in range(5)]
    c = register(kinesis, stream_name, "c")
    sub = subscribe(c["ConsumerARN"])
    got = sub.wait_records(5)
    assert [r["SequenceNumber"] for r in got] == earlier
    assert [r["Data"] for r in got] == [f"early-{i}".encode() for i in range(5)]
    first = sub.events[0][1]
    assert first["MillisBehindLatest"] >= 0 and first["ContinuationSequenceNumber"]

    sent: dict[bytes, float] = {}
    for i in range(100):
        data = f"live-{i}".encode()
        sent[data] = time.monotonic()
        put(kinesis, stream_name, data)
    sub.wait_records(105, timeout=10)
    received = {}
    for at, event in sub.events:
        for r in event["Records"]:
            received.setdefault(r["Data"], at)
    records = sub.records()
    assert [r["Data"] for r in records[5:]] == [f"live-{i}".encode() for i in range(100)], "lost, duplicated or reordered"
    lat_ms = sorted((received[d] - t) * 1000 for d, t in sent.items())
    p50 = statistics.median(lat_ms)
    p99 = lat_ms[98]
    print(f"\nSubscribeToShard put->receipt latency over HTTP/1.1 (boto3), 100 single puts: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat_ms[-1]:.1f} ms")
    # Pushed when durable, not found by the 5-second heartbeat.
    assert p50 < 500 and lat_ms[-1] < 2500, lat_ms
    assert sub.error is None and not sub.ended


def test_continuation_sequence_number_resumes_exactly(kinesis, stream_name, subscribe):
    create_stream(kinesis, stream_name, 1)
    batch1 = [put(kinesis, stream_name, f"a{i}".encode())["SequenceNumber"] for i in range(3)]
    c1 = register(kinesis, stream_name, "first")
    c2 = register(kinesis, stream_name, "second")
    c3 = register(kinesis, stream_name, "third")

    sub = subscribe(c1["ConsumerARN"])
    sub.wait_records(3)
    after_batch1 = [e for _, e in sub.events if e["Records"]][-1]["ContinuationSequenceNumber"]
    batch2 = [put(kinesis, stream_name, f"b{i}".encode())["SequenceNumber"] for i in range(4)]
    sub.wait_records(7)
    assert [r["SequenceNumber"] for r in sub.records()] == batch1 + batch2
    # The continuation of every event resumes right after it: each one lies between the
    # event's last record and the next record.
    for _, e in sub.events:
        if e["Records"]:
            assert int(e["ContinuationSequenceNumber"]) >= int(e["Records"][-1]["SequenceNumber"])

    # Another consumer resumes after batch 1: exactly batch 2, nothing lost, nothing twice.
    resumed = subscribe(c2["ConsumerARN"], position={"Type": "AFTER_SEQUENCE_NUMBER",
                                                     "SequenceNumber": after_batch1})
    assert [r["SequenceNumber"] for r in resumed.wait_records(4)] == batch2

    # Resuming from the very last continuation (an idle event's included) gets only new records.
    last = sub.events[-1][1]["ContinuationSequenceNumber"]
    tail = subscribe(c3["ConsumerARN"], position={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last})
    tail.wait(lambda s: len(s.events) >= 1, what="the first event")
    assert tail.events[0][1]["Records"] == []
    new = put(kinesis, stream_name, b"c0")["SequenceNumber"]
    assert [r["SequenceNumber"] for r in tail.wait_records(1)] == [new]
    assert [r["SequenceNumber"] for r in resumed.wait_records(5)] == batch2 + [new]


def test_continuation_lies_between_records_so_at_and_after_both_resume_exactly(kinesis, stream_name, subscribe):
    """AWS's ContinuationSequenceNumber is not a delivered record's number (LocalStack's
    test_subscribe_to_shard snapshot, recorded against AWS in 2025, gives it a placeholder of its
    own); API_SubscribeToShardEvent says to resubscribe with it AT_SEQUENCE_NUMBER or
    AFTER_SEQUENCE_NUMBER, and the KCL renews AFTER it. So it lies strictly between the last
    record delivered and the next, and either type resumes at the next record: nothing repeated,
    nothing skipped. An event without records carries one too."""
    create_stream(kinesis, stream_name, 1)
    consumers = [register(kinesis, stream_name, f"c{i}")["ConsumerARN"] for i in range(5)]
    first = subscribe(consumers[0])
    first.wait(lambda s: len(s.events) >= 1, what="the first event")
    empty = first.events[0][1]
    assert empty["Records"] == [] and empty["ContinuationSequenceNumber"]
    batch1 = [put(kinesis, stream_name, f"a{i}".encode())["SequenceNumber"] for i in range(3)]
    first.wait_records(3)
    cont = [e for _, e in first.events if e["Records"]][-1]["ContinuationSequenceNumber"]
    assert cont not in batch1 and int(batch1[-1]) < int(cont)
    batch2 = [put(kinesis, stream_name, f"b{i}".encode())["SequenceNumber"] for i in range(2)]
    assert int(cont) < int(batch2[0])

    for arn, kind, start, want in ((consumers[1], "AT_SEQUENCE_NUMBER", cont, batch2),
                                   (consumers[2], "AFTER_SEQUENCE_NUMBER", cont, batch2),
                                   (consumers[3], "AT_SEQUENCE_NUMBER", empty["ContinuationSequenceNumber"], batch1 + batch2),
                                   (consumers[4], "AFTER_SEQUENCE_NUMBER", empty["ContinuationSequenceNumber"], batch1 + batch2)):
        again = subscribe(arn, position={"Type": kind, "SequenceNumber": start})
        got = again.wait_records(len(want))
        assert [r["SequenceNumber"] for r in got] == want, (kind, start)
    # GetShardIterator reads the same numbers the same way.
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=SHARD0, ShardIteratorType=kind,
                                        StartingSequenceNumber=cont)["ShardIterator"]
        assert [r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == batch2


def test_the_last_event_of_a_closed_shard_has_no_continuation(kinesis, stream_name, subscribe):
    """The KCL (DataRetrievalUtil.isValidResult, FanOutRecordsPublisher) takes a null
    ContinuationSequenceNumber with non-empty ChildShards as the shard's end, as AWS sends it,
    and rejects any other combination: every earlier event has a continuation and no children."""
    create_stream(kinesis, stream_name, 1)
    c = register(kinesis, stream_name, "c")
    sub = subscribe(c["ConsumerARN"])
    put(kinesis, stream_name, b"x")
    sub.wait_records(1)
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=SHARD0, NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    sub.wait_end(timeout=5)
    assert sub.error is None, repr(sub.error)
    events = [e for _, e in sub.events]
    assert events[-1]["ChildShards"] and "ContinuationSequenceNumber" not in events[-1]
    assert all(e["ContinuationSequenceNumber"] and not e.get("ChildShards") for e in events[:-1])


def test_subscribe_at_timestamp_in_the_future_is_refused(kinesis, stream_name, subscribe):
    """SubscribeToShard positions readers as GetShardIterator does (kinesalite's recorded message)."""
    create_stream(kinesis, stream_name, 1)
    c = register(kinesis, stream_name, "c")
    with pytest.raises(ClientError) as e:
        subscribe(c["ConsumerARN"], position={"Type": "AT_TIMESTAMP", "Timestamp": time.time() + 120})
    assert_error(e, "InvalidArgumentException", re.compile(
        r"^The timestampInMillis parameter cannot be greater than the currentTimestampInMillis\. "))


def test_subscription_on_a_split_shard_ends_with_child_shards(kinesis, stream_name, subscribe):
    create_stream(kinesis, stream_name, 1)
    c = register(kinesis, stream_name, "c")
    before = [put(kinesis, stream_name, f"x{i}".encode(), key=f"k{i}")["SequenceNumber"] for i in range(10)]
    sub = subscribe(c["ConsumerARN"])
    sub.wait_records(10)
    late = [put(kinesis, stream_name, f"y{i}".encode(), key=f"k{i}")["SequenceNumber"] for i in range(5)]
    kinesis.split_shard(StreamName=stream_name, ShardToSplit=SHARD0, NewStartingHashKey=str(HASH_KEY_SPACE // 2))
    sub.wait_end(timeout=5)
    assert sub.error is None, f"subscription failed instead of ending: {sub.error!r}"
    assert [r["SequenceNumber"] for r in sub.records()] == before + late
    events = [e for _, e in sub.events]
    assert all("ChildShards" not in e or not e["ChildShards"] for e in events[:-1])
    children = sorted(events[-1]["ChildShards"], key=lambda c: c["ShardId"])
    assert children == [
        {"ShardId": "shardId-000000000001", "ParentShards": [SHARD0],
         "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(HASH_KEY_SPACE // 2 - 1)}},
        {"ShardId": "shardId-000000000002", "ParentShards": [SHARD0],
         "HashKeyRange": {"StartingHashKey": str(HASH_KEY_SPACE // 2), "EndingHashKey": str(HASH_KEY_SPACE - 1)}},
    ]
    assert events[-1]["MillisBehindLatest"] == 0

    # Subscribing to the closed shard afterwards: what it holds, then the same end at once.
    for consumer, position, want in (("late", {"Type": "TRIM_HORIZON"}, before + late),
                                     ("latest", {"Type": "LATEST"}, [])):
        arn = register(kinesis, stream_name, consumer)["ConsumerARN"]
        again = subscribe(arn, position=position)
        again.wait_end(timeout=5)
        assert again.error is None, repr(again.error)
        assert [r["SequenceNumber"] for r in again.records()] == want
        assert sorted(again.events[-1][1]["ChildShards"], key=lambda c: c["ShardId"]) == children


def test_second_subscription_is_refused_then_takes_over_after_five_seconds(kinesis, stream_name, subscribe):
    create_stream(kinesis, stream_name, 2)
    c = register(kinesis, stream_name, "c")
    started = time.monotonic()
    old = subscribe(c["ConsumerARN"])
    old.wait(lambda s: s.events, what="the first event")

    with pytest.raises(ClientError) as e:
        subscribe(c["ConsumerARN"], position={"Type": "LATEST"})
    assert_error(e, "ResourceInUseException")
    # Another shard, or another consumer on the same shard, is a different subscription.
    other_shard = subscribe(c["ConsumerARN"], shard_id="shardId-000000000001")
    c2 = register(kinesis, stream_name, "c2")
    other_consumer = subscribe(c2["ConsumerARN"])

    time.sleep(max(0.0, started + 5.2 - time.monotonic()))
    new = subscribe(c["ConsumerARN"], position={"Type": "LATEST"})
    old.wait_end(timeout=3)
    assert isinstance(old.error, EventStreamError), f"old subscription ended with {old.error!r}"
    assert old.error.response["Error"]["Code"] == "ResourceInUseException"

    seq = put(kinesis, stream_name, b"after-takeover", ExplicitHashKey="0")["SequenceNumber"]
    assert [r["SequenceNumber"] for r in new.wait_records(1)] == [seq]
    assert [r["SequenceNumber"] for r in other_consumer.wait_records(1)] == [seq]
    assert not other_shard.ended and not other_consumer.ended and other_shard.records() == []


@pytest.mark.parametrize("delete_delay_ms", [300, 0], ids=["delete-delay-300ms", "delete-delay-0"])
def test_deregistering_the_consumer_ends_its_subscriptions(server_factory, delete_delay_ms, subscriptions):
    srv = server_factory(delete_delay_ms=delete_delay_ms)
    client = srv.client()
    sub_client = make_client(srv.endpoint, timeout=SUBSCRIBE_READ_TIMEOUT_S)
    create_stream(client, "s", 2)
    c = register(client, "s", "c")
    subs = [Subscription(sub_client, c["ConsumerARN"], s, {"Type": "LATEST"})
            for s in (SHARD0, "shardId-000000000001")]
    subscriptions.extend(subs)
    for s in subs:
        s.wait(lambda x: x.events, what="the first event")
    client.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
    # The subscriptions end at once (well before the next 5 s heartbeat would notice).
    for s in subs:
        s.wait_end(timeout=1)
        assert isinstance(s.error, EventStreamError), repr(s.error)
        assert s.error.response["Error"]["Code"] == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        sub_client.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId=SHARD0,
                                      StartingPosition={"Type": "LATEST"})
    assert_error(e, "ResourceInUseException" if delete_delay_ms else "ResourceNotFoundException")


def test_subscribe_errors(kinesis, kinesis_nv, stream_name, subscribe):
    create_stream(kinesis, stream_name, 1)
    seq = put(kinesis, stream_name, b"x")["SequenceNumber"]
    c = register(kinesis, stream_name, "c")
    arn = c["ConsumerARN"]

    cases = [
        # (consumer ARN, shard, starting position, error)
        (f"{stream_arn(stream_name)}/consumer/nobody:1700000000", SHARD0, {"Type": "LATEST"},
         "ResourceNotFoundException"),
        (f"{stream_arn(stream_name + '-gone')}/consumer/c:1700000000", SHARD0, {"Type": "LATEST"},
         "ResourceNotFoundException"),
        (arn, "shardId-000000000009", {"Type": "LATEST"}, "ResourceNotFoundException"),
        (arn, SHARD0, {"Type": "AT_SEQUENCE_NUMBER"}, "InvalidArgumentException"),
        (arn, SHARD0, {"Type": "AFTER_SEQUENCE_NUMBER"}, "InvalidArgumentException"),
        (arn, SHARD0, {"Type": "AT_TIMESTAMP"}, "InvalidArgumentException"),
    ]
    for consumer, shard, position, code in cases:
        with pytest.raises(ClientError) as e:
            kinesis_nv.subscribe_to_shard(ConsumerARN=consumer, ShardId=shard, StartingPosition=position)
        assert_error(e, code)

    # None of the refused calls counted as a subscription: a valid one still starts at once.
    sub = subscribe(arn, position={"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": seq})
    assert [r["SequenceNumber"] for r in sub.wait_records(1)] == [seq]


def test_subscribe_raw_error_is_plain_json(server, kinesis, stream_name):
    """A refused SubscribeToShard is an ordinary JSON error response, not an event stream."""
    create_stream(kinesis, stream_name, 1)
    resp = raw_request(server, "SubscribeToShard", {
        "ConsumerARN": f"{stream_arn(stream_name)}/consumer/nobody:1700000000",
        "ShardId": SHARD0, "StartingPosition": {"Type": "LATEST"}})
    assert resp.status == 400, resp
    assert resp.headers["content-type"].startswith("application/x-amz-json-1.1")
    assert resp.error_type == "ResourceNotFoundException"
