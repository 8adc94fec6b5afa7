"""Firehose processing end to end through boto3: dynamic partitioning with jq (jaq) keys and
multi-record de-aggregation, the active-partition limit, a Lambda processor invoked through
Lambda's Invoke REST API on a Lambda-compatible test server, CloudWatch Logs decompression and
message extraction, AWS's errors for bad configurations, and SIGKILL during partitioned
delivery."""

from __future__ import annotations

import base64
import gzip
import json
import random
import urllib.request

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, LambdaServer, local_objects, put_between_kills, wait_until
from freshet_e2e import error_of

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:transform"


def s3_config(bucket, **extra):
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", **extra}


def param(name, value):
    return {"ParameterName": name, "ParameterValue": value}


def jq(query):
    return {"Type": "MetadataExtraction", "Parameters": [
        param("MetadataExtractionQuery", query), param("JsonParsingEngine", "JQ-1.6")]}


def partitioned(bucket, prefix, processors, **extra):
    return s3_config(bucket, **{
        "Prefix": prefix, "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {"Enabled": True, "Processors": processors}, **extra})


def by_folder(objects: dict[str, bytes], depth: int) -> dict[str, bytes]:
    """Objects' bodies joined per leading folder path of `depth` parts, in key order."""
    out: dict[str, bytes] = {}
    for key, body in sorted(objects.items()):
        folder = "/".join(key.split("/")[:depth])
        out[folder] = out.get(folder, b"") + body
    return out


def error_lines(objects: dict[str, bytes], kind: str) -> list[dict]:
    return [json.loads(line) for key, body in sorted(objects.items())
            if key.startswith(f"err/{kind}/") for line in body.decode().splitlines()]


@pytest.fixture
def fh(server):
    return server.client(service="firehose")


def test_records_are_partitioned_by_jq_keys_after_de_aggregation(server, fh):
    name = f"dp-{random.randrange(1 << 30):x}"
    bucket = name
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=partitioned(
        bucket, "data/customer=!{partitionKeyFromQuery:customer}/year=!{partitionKeyFromQuery:year}/",
        [{"Type": "AppendDelimiterToRecord"},
         jq('{customer: .customer, year: .ts | strftime("%Y")}'),
         {"Type": "RecordDeAggregation", "Parameters": [param("SubRecordType", "JSON")]}]))
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert dest["DynamicPartitioningConfiguration"] == {"Enabled": True}
    assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 1}
    assert [p["Type"] for p in dest["ProcessingConfiguration"]["Processors"]] == [
        "AppendDelimiterToRecord", "MetadataExtraction", "RecordDeAggregation"]
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")

    def event(customer, n, ts=1_770_000_000):
        return json.dumps({"customer": customer, "n": n, "ts": ts}, separators=(",", ":"))

    # Aggregated records: several JSON objects back to back, or one per line.
    records = [
        event("a", 1) + event("b", 2) + event("a", 3),
        event("b", 4) + "\n" + event("c", 5, ts=1_600_000_000) + "\n",
        "not json at all",
        json.dumps({"n": 6, "ts": 0}),  # no customer: null names no partition
        event("a", 7),
    ]
    out = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r.encode()} for r in records])
    assert out["FailedPutCount"] == 0

    def delivered():
        objs = local_objects(server.data_dir, bucket)
        parts = by_folder({k: v for k, v in objs.items() if k.startswith("data/")}, 3)
        return (objs, parts) if len(parts) == 3 and len(error_lines(objs, "processing-failed")) == 2 else None

    objs, parts = wait_until(delivered, what="three partitions and two failed records")
    assert parts == {
        "data/customer=a/year=2026": (event("a", 1) + "\n" + event("a", 3) + "\n" + event("a", 7) + "\n").encode(),
        "data/customer=b/year=2026": (event("b", 2) + "\n" + event("b", 4) + "\n").encode(),
        "data/customer=c/year=2020": (event("c", 5, ts=1_600_000_000) + "\n").encode(),
    }
    failed = error_lines(objs, "processing-failed")
    assert sorted(base64.b64decode(f["rawData"]) for f in failed) == sorted(
        [b"not json at all", json.dumps({"n": 6, "ts": 0}).encode()])
    codes = {f["errorCode"] for f in failed}
    assert codes == {"RecordDeAggregation.Failed", "DynamicPartitioning.MetadataExtractionFailed"}, codes
    for f in failed:
        assert {"attemptsMade", "arrivalTimestamp", "attemptEndingTimestamp", "errorMessage"} <= set(f)
    # Every object is named as AWS names them, under its partition.
    for key in objs:
        if key.startswith("data/"):
            assert key.rsplit("/", 1)[1].startswith(f"{name}-1-"), key


def test_bad_partitioning_and_processing_configurations_get_aws_errors(fh):
    name = f"bad-{random.randrange(1 << 30):x}"
    good_prefix = "p/!{partitionKeyFromQuery:k}/"
    query = jq("{k: .k}")
    cases = [
        # (ExtendedS3DestinationConfiguration, words the message must hold)
        ({**partitioned("b", good_prefix, [query]), "ErrorOutputPrefix": None}, "ErrorOutputPrefix"),
        (partitioned("b", good_prefix, [query], BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 60}),
         "at least 64"),
        (partitioned("b", good_prefix, [query], BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 0}),
         "Zero buffering"),
        (partitioned("b", good_prefix, [{"Type": "AppendDelimiterToRecord"}]), "MetadataExtraction"),
        (partitioned("b", "p/!{partitionKeyFromLambda:k}/", [query]), "Lambda"),
        (partitioned("b", "static/", [query]), "at least one partitionKeyFromQuery"),
        (partitioned("b", good_prefix, [jq("{k: .k")]), "MetadataExtractionQuery"),
        (partitioned("b", good_prefix, [{"Type": "MetadataExtraction", "Parameters": [
            param("MetadataExtractionQuery", "{k: .k}"), param("JsonParsingEngine", "JQ-1.5")]}]),
         "JQ-1.6"),
        (partitioned("b", good_prefix, [query, {"Type": "RecordDeAggregation", "Parameters": [
            param("SubRecordType", "DELIMITED")]}]), "Delimiter"),
        (s3_config("b", Prefix=good_prefix, ErrorOutputPrefix="e/"), "dynamic partitioning"),
        (s3_config("b", ProcessingConfiguration={"Enabled": True, "Processors": [query]}),
         "requires dynamic partitioning"),
        (s3_config("b", ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "Lambda", "Parameters": [param("LambdaArn", FUNCTION),
                                              param("BufferIntervalInSeconds", "5")]}]}),
         "BufferIntervalInSeconds"),
    ]
    for config, words in cases:
        config = {k: v for k, v in config.items() if v is not None}
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=config)
        code, message, status = error_of(e)
        assert (code, status) == ("InvalidArgumentException", 400), (config, message)
        assert words in message, (words, message)
        with pytest.raises(ClientError) as e:
            fh.describe_delivery_stream(DeliveryStreamName=name)
        assert error_of(e)[0] == "ResourceNotFoundException", "nothing half-created"

    # A Lambda processor needs a Lambda endpoint, which this server has none of.
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            "b", ProcessingConfiguration={"Enabled": True, "Processors": [
                {"Type": "Lambda", "Parameters": [param("LambdaArn", FUNCTION)]}]}))
    assert error_of(e)[0] == "InvalidArgumentException" and "[firehose.lambda] endpoint" in error_of(e)[1]

    # Dynamic partitioning can be enabled only at creation.
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config("b"))
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")
    try:
        with pytest.raises(ClientError) as e:
            fh.update_destination(
                DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                DestinationId="destinationId-000000000001",
                ExtendedS3DestinationUpdate={
                    "Prefix": good_prefix, "ErrorOutputPrefix": "e/",
                    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
                    "DynamicPartitioningConfiguration": {"Enabled": True},
                    "ProcessingConfiguration": {"Enabled": True, "Processors": [query]}})
        assert error_of(e)[:1] == ("InvalidArgumentException",)
        assert "only when the delivery stream is created" in error_of(e)[1]
        desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        assert desc["VersionId"] == "1", "the refused update changed nothing"
    finally:
        fh.delete_delivery_stream(DeliveryStreamName=name)


def test_records_beyond_the_active_partition_limit_go_to_the_error_output(server_factory):
    srv = server_factory(env={"FRESHET_FIREHOSE__MAX_ACTIVE_PARTITIONS": "3"})
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="many", ExtendedS3DestinationConfiguration=partitioned(
        "many", "k=!{partitionKeyFromQuery:k}/", [jq("{k: .k}"), {"Type": "AppendDelimiterToRecord"}]))
    records = [json.dumps({"k": f"p{i % 5}", "n": i}).encode() for i in range(20)]
    fh.put_record_batch(DeliveryStreamName="many", Records=[{"Data": r} for r in records])

    def delivered():
        objs = local_objects(srv.data_dir, "many")
        partitions = {k.split("/")[0] for k in objs if k.startswith("k=")}
        return objs if len(error_lines(objs, "activePartitionExceeded")) == 8 and len(partitions) == 3 else None

    objs = wait_until(delivered, what="the records of partitions 4 and 5 in the error output")
    parts = by_folder({k: v for k, v in objs.items() if k.startswith("k=")}, 1)
    assert sorted(parts) == ["k=p0", "k=p1", "k=p2"]
    for i, folder in enumerate(sorted(parts)):
        assert parts[folder] == b"".join(r + b"\n" for r in records[i::5])
    exceeded = error_lines(objs, "activePartitionExceeded")
    assert {f["errorCode"] for f in exceeded} == {"DynamicPartitioning.ActivePartitionsLimitExceeded"}
    assert sorted(base64.b64decode(f["rawData"]) for f in exceeded) == sorted(
        r + b"\n" for i, r in enumerate(records) if i % 5 >= 3)
    metrics = urllib.request.urlopen(srv.endpoint + "/metrics").read().decode()
    assert 'firehose_PartitionCountExceeded{DeliveryStreamName="many"} 1' in metrics, metrics


def transform(event):
    """The test function: upper-cases records, drops `drop`, fails `fail`, keys by kind."""
    out = []
    for r in event["records"]:
        doc = json.loads(base64.b64decode(r["data"]))
        if doc["kind"] == "boom":
            raise RuntimeError("the function crashed")
        result = {"drop": "Dropped", "fail": "ProcessingFailed"}.get(doc["kind"], "Ok")
        data = (json.dumps(doc).upper() + "\n").encode()
        out.append({"recordId": r["recordId"], "result": result,
                    "data": base64.b64encode(data).decode(),
                    "metadata": {"partitionKeys": {"kind": doc["kind"]}}})
    return {"records": out}


def up_to_the_lambda_buffer(make) -> list[bytes]:
    """Records that fill a 0.2 MiB Lambda buffer with the last one, so that the function runs
    at once on all of them instead of waiting for the 60-second buffer interval."""
    records: list[bytes] = []
    while sum(map(len, records)) < 0.2 * (1 << 20):
        records.append(json.dumps(make(len(records))).encode())
    return records


def test_lambda_processor_transforms_drops_fails_partitions_and_backs_up(server_factory):
    fn = LambdaServer(transform)
    fn.fail_next = 1  # the first invocation fails and is retried
    try:
        srv = server_factory(env={"FRESHET_FIREHOSE__LAMBDA__ENDPOINT": fn.endpoint})
        fh = srv.client(service="firehose")
        lam = {"Type": "Lambda", "Parameters": [param("LambdaArn", FUNCTION),
                                                 param("BufferSizeInMBs", "0.2"),
                                                 param("NumberOfRetries", "2")]}
        fh.create_delivery_stream(DeliveryStreamName="lam", ExtendedS3DestinationConfiguration=partitioned(
            "lam", "kind=!{partitionKeyFromLambda:kind}/", [lam],
            S3BackupMode="Enabled", S3BackupConfiguration=s3_config("lam-backup", Prefix="raw/")))
        kinds = ["x", "y", "drop", "fail"]
        records = up_to_the_lambda_buffer(lambda i: {"kind": kinds[i % 4], "n": i, "pad": "p" * 1000})
        fails = sum(json.loads(r)["kind"] == "fail" for r in records)
        fh.put_record_batch(DeliveryStreamName="lam", Records=[{"Data": r} for r in records])

        def delivered():
            objs = local_objects(srv.data_dir, "lam")
            parts = by_folder({k: v for k, v in objs.items() if k.startswith("kind=")}, 1)
            failed = error_lines(objs, "processing-failed")
            return (parts, failed) if len(parts) == 2 and len(failed) == fails else None

        parts, failed = wait_until(delivered, what="two partitions and the failed records")
        for kind in ["x", "y"]:
            expected = [(json.dumps(json.loads(r)).upper() + "\n").encode()
                        for r in records if json.loads(r)["kind"] == kind]
            assert parts[f"kind={kind}"] == b"".join(expected)
        assert sorted(base64.b64decode(f["rawData"]) for f in failed) == sorted(
            r for r in records if json.loads(r)["kind"] == "fail")
        assert {(f["errorCode"], f["lambdaArn"]) for f in failed} == {("Lambda.ProcessingFailed", FUNCTION)}
        # The source records, untransformed, in the backup bucket.
        backup = wait_until(lambda: b"".join(local_objects(srv.data_dir, "lam-backup").values())
                            if sum(map(len, local_objects(srv.data_dir, "lam-backup").values()))
                            == sum(map(len, records)) else None, what="the source-record backup")
        assert backup == b"".join(records)
        # Dropped and transformed records leave no backlog behind (it counts what was put).
        wait_until(lambda: 'firehose_BacklogBytes{DeliveryStreamName="lam"} 0\n' in urllib.request.urlopen(
            srv.endpoint + "/metrics").read().decode(), what="an empty backlog")
        # The contract: one retried invocation, then one event with every record.
        assert len(fn.paths) == 2 and set(fn.paths) == {
            f"/2015-03-31/functions/{FUNCTION}/invocations"}
        [event] = fn.events
        assert event["deliveryStreamArn"].endswith(":deliverystream/lam")
        assert event["region"] == "us-east-1" and event["invocationId"]
        assert [base64.b64decode(r["data"]) for r in event["records"]] == records
        assert len({r["recordId"] for r in event["records"]}) == len(records)
        assert all(isinstance(r["approximateArrivalTimestamp"], int) for r in event["records"])

        # A function that fails every time: after NumberOfRetries, the records fail as a whole.
        fh.create_delivery_stream(DeliveryStreamName="boom", ExtendedS3DestinationConfiguration=s3_config(
            "boom", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0},
            ProcessingConfiguration={"Enabled": True, "Processors": [
                {"Type": "Lambda", "Parameters": [param("LambdaArn", FUNCTION), param("BufferSizeInMBs", "0.2"),
                                                  param("NumberOfRetries", "0")]}]}))
        boom = up_to_the_lambda_buffer(lambda i: {"kind": "boom", "n": i, "pad": "b" * 1000})
        fh.put_record_batch(DeliveryStreamName="boom", Records=[{"Data": r} for r in boom])
        lines = wait_until(lambda: [json.loads(line) for body in local_objects(srv.data_dir, "boom").values()
                                    for line in body.decode().splitlines()] or None,
                           what="the failed invocation's records")
        assert len(lines) == len(boom) and {line["errorCode"] for line in lines} == {"Lambda.FunctionError"}
        assert all(k.startswith("processing-failed/") for k in local_objects(srv.data_dir, "boom"))
    finally:
        fn.close()


def cloudwatch_envelope(message_type, messages):
    return gzip.compress(json.dumps({
        "messageType": message_type, "owner": "000000000000", "logGroup": "/app", "logStream": "s",
        "subscriptionFilters": ["to-firehose"],
        "logEvents": [{"id": str(i), "timestamp": 1_770_000_000_000 + i, "message": m}
                      for i, m in enumerate(messages)]}).encode())


def test_cloudwatch_logs_records_are_decompressed_and_their_messages_extracted(server, fh):
    name = f"cwl-{random.randrange(1 << 30):x}"
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        name, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "Decompression", "Parameters": [param("CompressionFormat", "GZIP")]},
            {"Type": "CloudWatchLogProcessing", "Parameters": [param("DataMessageExtraction", "true")]},
            {"Type": "AppendDelimiterToRecord"}]}))
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")
    fh.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": cloudwatch_envelope("CONTROL_MESSAGE", ["CWL CONTROL MESSAGE: Checking health"])},
        {"Data": cloudwatch_envelope("DATA_MESSAGE", ["GET /a 200", "GET /b 404"])},
        {"Data": cloudwatch_envelope("DATA_MESSAGE", ["POST /c 201"])},
    ])
    body = wait_until(lambda: b"".join(local_objects(server.data_dir, name).values()) or None,
                      what="extracted messages")
    assert body == b"GET /a 200\nGET /b 404\nPOST /c 201\n"


def test_sigkill_during_partitioned_delivery_loses_nothing_acknowledged(server_factory):
    srv = server_factory()
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="crash", ExtendedS3DestinationConfiguration=partitioned(
        "crash", "k=!{partitionKeyFromQuery:k}/", [jq("{k: .k}"), {"Type": "AppendDelimiterToRecord"}]))
    acked = put_between_kills(srv, "crash", 5, 11, (0.5, 1.5),
                              lambda _, n: json.dumps({"k": f"p{n % 7}", "n": n}).encode())
    assert len(acked) > 500

    def everything():
        objs = local_objects(srv.data_dir, "crash")
        seen = {(key.split("/")[0], line) for key, body in objs.items() for line in body.splitlines()}
        return all((f"k={json.loads(r)['k']}", r) in seen for r in acked)

    wait_until(everything, timeout=60, what="every acknowledged record in its partition after 5 SIGKILLs")
