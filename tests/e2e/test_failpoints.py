"""Injected failures at the storage and delivery boundaries, through the binary's failpoints
(built with `cargo build -p freshet --features failpoints`; armed by the FAILPOINTS environment
variable at start): a failed log write or fsync is never acknowledged and leaves nothing readable,
a failed catalog commit leaves no half-created stream, and failed Firehose destination writes are
retried until delivered without advancing the delivery checkpoint.

Skipped when the binary was built without the feature: such a binary ignores FAILPOINTS, and
every assertion about a failure would then be about nothing."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, FirehoseEndpoint, local_objects, wait_until
from freshet_e2e import assert_error, create_stream, not_found_message, read_shard

# What a binary built with the feature says at start (crates/freshet/src/failpoints.rs).
ENABLED_LINE = "failpoints enabled"
SHARD = "shardId-000000000000"


def start(server_factory, failpoints=None, env=None, **kw):
    """A server with `failpoints` armed (None: a start without FAILPOINTS, e.g. a clean restart)."""
    env = dict(env or {})
    if failpoints is not None:
        env["FAILPOINTS"] = failpoints
    srv = server_factory(env=env, **kw)
    if ENABLED_LINE not in srv.log_path.read_text(errors="replace"):
        srv.kill()
        pytest.skip("the freshet binary was built without the `failpoints` feature "
                    "(cargo build -p freshet --features failpoints)")
    return srv


def hits(srv, point: str) -> int:
    """How often the server logged a failure injected at `point`."""
    return srv.log_path.read_text(errors="replace").count(f"failpoint {point}")


def s3_destination(bucket: str) -> dict:
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}


# --------------------------------------------------------------------------- the log


def test_failed_fsync_refuses_the_put_and_nothing_becomes_readable(server_factory):
    srv = start(server_factory, "log::fsync=return")
    c = srv.client()
    create_stream(c, "s", 1)
    with pytest.raises(ClientError) as e:
        c.put_record(StreamName="s", Data=b"never acknowledged", PartitionKey="k")
    assert_error(e, "InternalFailure", status=500)
    assert hits(srv, "log::fsync") >= 1
    # The shard takes no more writes (its file's durable state is unknown) and serves no part of
    # what was written before the failed fsync.
    with pytest.raises(ClientError) as e:
        c.put_record(StreamName="s", Data=b"after", PartitionKey="k")
    assert_error(e, "InternalFailure", status=500)
    assert read_shard(c, "s", SHARD) == []
    assert c.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"


def test_failed_write_refuses_only_that_put_and_leaves_no_trace(server_factory):
    srv = start(server_factory, "log::write=1*return")
    c = srv.client()
    create_stream(c, "s", 1)
    with pytest.raises(ClientError) as e:
        c.put_record(StreamName="s", Data=b"refused", PartitionKey="k")
    assert_error(e, "InternalFailure", status=500)
    assert hits(srv, "log::write") >= 1
    ack = c.put_record(StreamName="s", Data=b"kept", PartitionKey="k")
    got = [(r["SequenceNumber"], r["Data"]) for r in read_shard(c, "s", SHARD)]
    assert got == [(ack["SequenceNumber"], b"kept")]
    # The refused append is gone from the file too, not just hidden from readers.
    srv.stop()
    srv = start(server_factory, data_dir=srv.data_dir)
    assert [r["Data"] for r in read_shard(srv.client(), "s", SHARD)] == [b"kept"]


# --------------------------------------------------------------------------- the catalog


def test_failed_catalog_commit_creates_no_stream(server_factory):
    # A first start without failures writes the data dir's settings (the iterator secret).
    srv = start(server_factory)
    srv.stop()
    srv = start(server_factory, "catalog::commit=return", data_dir=srv.data_dir)
    c = srv.client()
    with pytest.raises(ClientError) as e:
        c.create_stream(StreamName="s", ShardCount=2)
    assert_error(e, "InternalFailure", status=500)
    assert hits(srv, "catalog::commit") >= 1
    with pytest.raises(ClientError) as e:
        c.describe_stream_summary(StreamName="s")
    assert_error(e, "ResourceNotFoundException", not_found_message("s"))
    assert c.list_streams()["StreamNames"] == []

    # Nothing half-created surfaces at the next start, and the name is free.
    srv.stop()
    srv = start(server_factory, data_dir=srv.data_dir)
    c = srv.client()
    assert c.list_streams()["StreamNames"] == []
    create_stream(c, "s", 2)
    assert c.put_record(StreamName="s", Data=b"x", PartitionKey="k")["ShardId"].startswith("shardId-")


# --------------------------------------------------------------------------- Firehose


def test_failed_s3_writes_are_retried_and_deliver_the_records_once(server_factory):
    srv = start(server_factory, "firehose::s3_put=3*return")
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=s3_destination("b"))
    payloads = [b"record %d\n" % i for i in range(20)]
    fh.put_record_batch(DeliveryStreamName="d", Records=[{"Data": p} for p in payloads])
    # Three failures back off 1 + 2 + 4 s before the fourth attempt.
    objs = wait_until(lambda: local_objects(srv.data_dir, "b"), timeout=40, what="the object")
    assert hits(srv, "firehose::s3_put") == 3
    assert list(objs.values()) == [b"".join(payloads)]
    # Delivered means checkpointed: after a restart the next object holds only the next record.
    srv.stop()
    srv = start(server_factory, data_dir=srv.data_dir)
    srv.client(service="firehose").put_record(DeliveryStreamName="d", Record={"Data": b"next\n"})
    after = wait_until(lambda: len(local_objects(srv.data_dir, "b")) == 2 and local_objects(srv.data_dir, "b"),
                       what="the object after restart")
    assert sorted(after.values()) == sorted([b"".join(payloads), b"next\n"])


def test_s3_writes_that_never_succeed_keep_the_records_for_the_next_start(server_factory):
    srv = start(server_factory, "firehose::s3_put=return")
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=s3_destination("b"))
    payloads = [b"kept %d\n" % i for i in range(20)]
    fh.put_record_batch(DeliveryStreamName="d", Records=[{"Data": p} for p in payloads])
    wait_until(lambda: hits(srv, "firehose::s3_put") >= 2, what="failed delivery attempts")
    assert local_objects(srv.data_dir, "b") == {}
    # A failed write never advanced the checkpoint: the next start delivers every record.
    srv.kill()
    srv = start(server_factory, data_dir=srv.data_dir)
    objs = wait_until(lambda: local_objects(srv.data_dir, "b"), what="delivery after restart")
    assert b"".join(objs[k] for k in sorted(objs)) == b"".join(payloads)


def test_failed_http_posts_are_retried_until_the_endpoint_has_the_records(server_factory, tmp_path):
    endpoint = FirehoseEndpoint(tmp_path)
    try:
        srv = start(server_factory, "firehose::http_post=2*return",
                    env={"FRESHET_FIREHOSE__HTTP_CA_FILE": str(endpoint.cert)})
        fh = srv.client(service="firehose")
        fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {"Url": endpoint.url, "AccessKey": "secret-key"},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "RetryOptions": {"DurationInSeconds": 60},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::errors"}})
        payloads = [b"event-%d" % i for i in range(10)]
        fh.put_record_batch(DeliveryStreamName="h", Records=[{"Data": p} for p in payloads])
        wait_until(lambda: endpoint.delivered() == payloads, timeout=40, what="HTTP delivery")
        assert hits(srv, "firehose::http_post") == 2
        # The injected failures stood in for the request: only the successful one was sent.
        assert [r["ok"] for r in endpoint.requests] == [True]
        assert local_objects(srv.data_dir, "errors") == {}
    finally:
        endpoint.close()
