"""Firehose delivery to Splunk through the HTTP Event Collector protocol (a HEC server written
to Splunk's documented protocol, with indexer acknowledgement): the event and raw endpoints,
acks polled per channel, retries, the `splunk-failed` error output (an invalid token; an ack
timeout, injected through a failpoint since AWS's shortest timeout is 180 seconds), AllEvents
backup and the defaults DescribeDeliveryStream reports."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, HecServer, local_objects, wait_until
from test_failpoints import start


@pytest.fixture
def hec():
    server = HecServer()
    yield server
    server.close()


def splunk(hec_url, endpoint_type="Event", bucket="splunk-s3", **extra):
    return {"HECEndpoint": hec_url, "HECEndpointType": endpoint_type, "HECToken": "hec-token",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}"}, **extra}


def active(fh, name):
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def failed_lines(srv, bucket):
    return [json.loads(line) for key, body in sorted(local_objects(srv.data_dir, bucket).items())
            if key.startswith("splunk-failed/") for line in body.decode().splitlines()]


def test_events_are_acknowledged_per_channel(server, hec):
    fh = server.client(service="firehose")
    hec.ack_after_polls = 2
    fh.create_delivery_stream(DeliveryStreamName="hec-events", SplunkDestinationConfiguration=splunk(hec.url))
    active(fh, "hec-events")
    dest = fh.describe_delivery_stream(DeliveryStreamName="hec-events")[
        "DeliveryStreamDescription"]["Destinations"][0]["SplunkDestinationDescription"]
    assert dest["HECAcknowledgmentTimeoutInSeconds"] == 180
    assert dest["RetryOptions"] == {"DurationInSeconds": 3600}
    assert dest["S3BackupMode"] == "FailedEventsOnly"
    assert dest["HECEndpointType"] == "Event"
    events = [{"event": {"n": i}, "sourcetype": "firehose"} for i in range(25)]
    fh.put_record_batch(DeliveryStreamName="hec-events",
                        Records=[{"Data": json.dumps(e).encode()} for e in events])
    wait_until(lambda: len(hec.events) == 25, what="25 events at the collector")
    assert hec.events == events
    assert len(hec.channels) == 1
    [(channel, ack)] = list(hec.polls)
    wait_until(lambda: hec.polls[(channel, ack)] >= 3, what="the ack polled until indexed")
    metrics = __import__("urllib.request").request.urlopen(server.endpoint + "/metrics").read().decode()
    wait_until(lambda: 'firehose_DeliveryToSplunk_Records_total{DeliveryStreamName="hec-events"} 25' in
               __import__("urllib.request").request.urlopen(server.endpoint + "/metrics").read().decode(),
               what="DeliveryToSplunk.Records")
    assert "firehose_DeliveryToSplunk" in metrics


def test_raw_events_are_retried_and_all_backed_up(server, hec):
    fh = server.client(service="firehose")
    hec.fail_next = 1
    fh.create_delivery_stream(DeliveryStreamName="hec-raw", SplunkDestinationConfiguration=splunk(
        hec.url, "Raw", "hec-raw-backup", S3BackupMode="AllEvents"))
    active(fh, "hec-raw")
    lines = [b"line %d\n" % i for i in range(10)]
    fh.put_record_batch(DeliveryStreamName="hec-raw", Records=[{"Data": line} for line in lines])
    wait_until(lambda: hec.raw, timeout=30, what="raw data after a 503")
    assert hec.raw == [b"".join(lines)]
    backup = wait_until(lambda: b"".join(local_objects(server.data_dir, "hec-raw-backup").values()) or None,
                        what="the AllEvents backup")
    assert backup == b"".join(lines)


def test_refused_events_go_to_the_s3_error_output(server, hec):
    fh = server.client(service="firehose")
    config = splunk(hec.url, bucket="hec-bad-token", RetryOptions={"DurationInSeconds": 0})
    config["HECToken"] = "wrong"
    fh.create_delivery_stream(DeliveryStreamName="hec-bad", SplunkDestinationConfiguration=config)
    active(fh, "hec-bad")
    fh.put_record(DeliveryStreamName="hec-bad", Record={"Data": b'{"event": "x"}'})
    [line] = wait_until(lambda: failed_lines(server, "hec-bad-token") or None, what="splunk-failed output")
    assert line["errorCode"] == "Splunk.InvalidToken" and "Invalid token" in line["errorMessage"]
    assert base64.b64decode(line["rawData"]) == b'{"event": "x"}'
    assert hec.events == []


def test_an_ack_timeout_sends_the_events_to_the_error_output(server_factory, hec):
    srv = start(server_factory, "firehose::splunk_ack_timeout=return")
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="hec-slow", SplunkDestinationConfiguration=splunk(
        hec.url, bucket="hec-slow", RetryOptions={"DurationInSeconds": 0}))
    active(fh, "hec-slow")
    fh.put_record(DeliveryStreamName="hec-slow", Record={"Data": b'{"event": "late"}'})
    [line] = wait_until(lambda: failed_lines(srv, "hec-slow") or None, what="splunk-failed output")
    assert line["errorCode"] == "Splunk.AckTimeout"
    assert hec.events == [{"event": "late"}], "sent, but never acknowledged"


def test_bad_splunk_and_snowflake_configurations_get_aws_errors(server, hec):
    fh = server.client(service="firehose")
    for config, words in [
        ({**splunk(hec.url), "HECToken": ""}, "HECToken"),
        ({**splunk(hec.url), "HECEndpoint": "not a url"}, "HECEndpoint"),
    ]:
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName="hec-bad-config", SplunkDestinationConfiguration=config)
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgumentException", 400)
        assert words in err["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="snow", SnowflakeDestinationConfiguration={
            "AccountUrl": "https://acct.snowflakecomputing.com", "Database": "d", "Schema": "s",
            "Table": "t", "RoleARN": ROLE, "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b"}})
    err = e.value.response
    assert err["Error"]["Code"] == "InvalidArgumentException" and "Snowflake" in err["Error"]["Message"]
    names = fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert "hec-bad-config" not in names and "snow" not in names
