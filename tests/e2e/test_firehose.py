"""Firehose end to end: the Firehose_20150804 API through boto3, and real delivery into the
embedded S3 target, a real S3-compatible server (moto_server) and an HTTPS endpoint written to
Firehose's HTTP delivery contract."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import time
import urllib.request

import pytest
import snappy_check
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, FirehoseEndpoint, MotoS3, local_objects, put_between_kills, wait_until
from freshet_e2e import error_of


def s3_config(bucket="bkt", **extra):
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", **extra}


@pytest.fixture
def fh(server):
    return server.client(service="firehose")


@pytest.fixture
def fh_nv(server):
    return server.client(service="firehose", validate=False)


@pytest.fixture
def ds_name(request, fh):
    names = []

    def make(suffix=""):
        name = f"ds-{request.node.name[:30]}-{random.randrange(1 << 30):x}{suffix}"
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)[:64]
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            fh.delete_delivery_stream(DeliveryStreamName=name)
        except ClientError:
            pass


# --------------------------------------------------------------------------- control plane


def test_create_describe_list_delete(fh, ds_name):
    a, b = ds_name("a"), ds_name("b")
    arn = fh.create_delivery_stream(DeliveryStreamName=a, ExtendedS3DestinationConfiguration=s3_config(
        Prefix="logs/", CompressionFormat="GZIP",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}),
        Tags=[{"Key": "team", "Value": "data"}])["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{a}"
    d = fh.describe_delivery_stream(DeliveryStreamName=a)["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] == "ACTIVE"
    assert d["DeliveryStreamType"] == "DirectPut"
    assert d["VersionId"] == "1"
    assert d["HasMoreDestinations"] is False
    assert d["DeliveryStreamEncryptionConfiguration"] == {"Status": "DISABLED"}
    [dest] = d["Destinations"]
    assert dest["DestinationId"] == "destinationId-000000000001"
    s3 = dest["ExtendedS3DestinationDescription"]
    assert s3["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["Prefix"] == "logs/"
    assert s3["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    assert s3["S3BackupMode"] == "Disabled"

    fh.create_delivery_stream(DeliveryStreamName=b, S3DestinationConfiguration=s3_config())
    d = fh.describe_delivery_stream(DeliveryStreamName=b)["DeliveryStreamDescription"]
    # The deprecated S3DestinationConfiguration is described under both names, as AWS does.
    assert set(d["Destinations"][0]) >= {"S3DestinationDescription", "ExtendedS3DestinationDescription"}
    assert d["Destinations"][0]["S3DestinationDescription"]["BufferingHints"] == {
        "SizeInMBs": 5, "IntervalInSeconds": 300}

    names = fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert a in names and b in names and names == sorted(names)
    first = fh.list_delivery_streams(Limit=1, ExclusiveStartDeliveryStreamName=min(a, b))
    assert first["DeliveryStreamNames"] == [max(a, b)] or first["HasMoreDeliveryStreams"]
    assert a not in fh.list_delivery_streams(Limit=10000, DeliveryStreamType="KinesisStreamAsSource")[
        "DeliveryStreamNames"]

    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=a, ExtendedS3DestinationConfiguration=s3_config())
    assert error_of(e)[0] == "ResourceInUseException"

    fh.delete_delivery_stream(DeliveryStreamName=a)
    with pytest.raises(ClientError) as e:
        fh.describe_delivery_stream(DeliveryStreamName=a)
    code, message, status = error_of(e)
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert a in message


def test_status_is_creating_then_active(server_factory):
    srv = server_factory(create_delay_ms=400)
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="slow", ExtendedS3DestinationConfiguration=s3_config())
    assert fh.describe_delivery_stream(DeliveryStreamName="slow")[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "CREATING"
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName="slow")[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def test_bad_input_gets_aws_errors(fh, fh_nv, ds_name):
    name = ds_name()
    cases = [
        (dict(DeliveryStreamName=name), "InvalidArgumentException"),
        (dict(DeliveryStreamName=name, RedshiftDestinationConfiguration={
            "RoleARN": ROLE, "ClusterJDBCURL": "jdbc:redshift://x.redshift.amazonaws.com:5439/d",
            "CopyCommand": {"DataTableName": "t"}, "S3Configuration": s3_config()}),
         "InvalidArgumentException"),
        (dict(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            Prefix="!{timestamp:yyyy}/")), "InvalidArgumentException"),
        (dict(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            ProcessingConfiguration={"Enabled": True, "Processors": []})), "InvalidArgumentException"),
        (dict(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
              ExtendedS3DestinationConfiguration=s3_config()), "InvalidArgumentException"),
        (dict(DeliveryStreamName="bad name!", ExtendedS3DestinationConfiguration=s3_config()),
         "ValidationException"),
        (dict(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            BufferingHints={"SizeInMBs": 500})), "ValidationException"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(ClientError) as e:
            fh_nv.create_delivery_stream(**kwargs)
        code, message, status = error_of(e)
        assert (code, status) == (expected, 400), (kwargs, message)
    with pytest.raises(ClientError) as e:
        fh_nv.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            Prefix="!{timestamp:yyyy}/"))
    assert error_of(e)[1] == ("The supplied prefix(es) do not satisfy the following constraint: "
                              "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions")
    with pytest.raises(ClientError) as e:
        fh_nv.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            BufferingHints={"SizeInMBs": 500}))
    assert error_of(e)[1] == ("1 validation error detected: Value '500' at "
                              "'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' failed to "
                              "satisfy constraint: Member must have value less than or equal to 128")
    # Nothing was half-created by any refused request.
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]


def test_update_destination_is_optimistic_and_bumps_the_version(fh, ds_name):
    name = ds_name()
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        Prefix="a/", CompressionFormat="GZIP"))
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"Prefix": "b/"})
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["VersionId"] == "2"
    assert "LastUpdateTimestamp" in d
    s3 = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert (s3["Prefix"], s3["CompressionFormat"]) == ("b/", "GZIP")  # merged, not replaced
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "c/"})
    assert error_of(e)[0] == "ConcurrentModificationException"
    assert fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["VersionId"] == "2"


def test_tags_and_encryption(fh, ds_name):
    name = ds_name()
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(),
                              Tags=[{"Key": "b", "Value": "2"}])
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "c"}])
    out = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, Limit=2)
    assert out["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert out["HasMoreTags"] is True
    fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["a", "c"])
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        fh.tag_delivery_stream(DeliveryStreamName=name,
                               Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error_of(e)[0] == "LimitExceededException"

    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["Encrypted"] is False
    fh.start_delivery_stream_encryption(DeliveryStreamName=name)
    enc = fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"}
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["Encrypted"] is True
    with pytest.raises(ClientError) as e:
        fh.start_delivery_stream_encryption(
            DeliveryStreamName=name,
            DeliveryStreamEncryptionConfigurationInput={"KeyType": "CUSTOMER_MANAGED_CMK"})
    assert error_of(e)[0] == "InvalidArgumentException"
    fh.stop_delivery_stream_encryption(DeliveryStreamName=name)
    assert fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
        "DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"


def test_put_limits_and_errors(fh, fh_nv, ds_name):
    name = ds_name()
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config())
    out = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"r%d" % i} for i in range(500)])
    assert out["FailedPutCount"] == 0
    ids = [r["RecordId"] for r in out["RequestResponses"]]
    assert len(set(ids)) == 500
    with pytest.raises(ClientError) as e:
        fh_nv.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"r"}] * 501)
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        fh_nv.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x" * 1_000_000}] * 5)
    assert error_of(e)[:1] == ("InvalidArgumentException",)
    with pytest.raises(ClientError) as e:
        fh_nv.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1_024_001})
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name + "-missing", Record={"Data": b"x"})
    assert error_of(e)[0] == "ResourceNotFoundException"


# --------------------------------------------------------------------------- delivery


def deliver_and_collect(server, fh, name, payloads, bucket, expected_objects=None):
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": p} for p in payloads])

    def done():
        objs = local_objects(server.data_dir, bucket)
        return objs if (expected_objects is None and objs) or len(objs) == expected_objects else None

    return wait_until(done, what="objects in the embedded S3 target")


@pytest.mark.parametrize("compression,ext", [("UNCOMPRESSED", ""), ("GZIP", ".gz"), ("ZIP", ".zip"),
                                            ("Snappy", ".snappy"), ("HADOOP_SNAPPY", ".hsnappy")])
def test_delivery_compresses_and_names_objects_like_aws(server, fh, ds_name, compression, ext):
    name = ds_name()
    bucket = f"b-{name.lower()}"[:60]
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        bucket, Prefix="in/", CompressionFormat=compression,
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
    payloads = [json.dumps({"n": i}).encode() + b"\n" for i in range(200)]
    objs = deliver_and_collect(server, fh, name, payloads, bucket)
    data = b""
    for key, body in sorted(objs.items()):
        y = time.strftime("%Y", time.gmtime())
        assert key.startswith(f"in/{y}/"), key
        file = key.rsplit("/", 1)[1]
        assert file.startswith(f"{name}-1-{y}-") and file.endswith(ext), file
        data += snappy_check.decompress(compression, body)
    assert data == b"".join(payloads)


def test_size_threshold_makes_one_object_per_buffer(server, fh, ds_name):
    name = ds_name()
    bucket = f"b-{name.lower()}"[:60]
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
        bucket, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    record = b"z" * 100_000
    for _ in range(3):  # 3 x 4 x 100 kB: crosses 1 MiB once; the rest waits for the 900 s interval
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": record}] * 4)
    objs = wait_until(lambda: local_objects(server.data_dir, bucket), what="the size-triggered object")
    time.sleep(0.5)
    objs = local_objects(server.data_dir, bucket)
    assert len(objs) == 1, list(objs)
    [body] = objs.values()
    assert len(body) == 11 * 100_000  # 11 records reach 1 MiB (1,048,576 bytes) first


def test_custom_prefixes_and_error_output_of_an_unreachable_http_endpoint(server_factory, tmp_path):
    endpoint = FirehoseEndpoint(tmp_path)
    endpoint.fail_always = True
    try:
        srv = server_factory(env={"FRESHET_FIREHOSE__HTTP_CA_FILE": str(endpoint.cert)})
        fh = srv.client(service="firehose")
        fh.create_delivery_stream(DeliveryStreamName="dead", HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {"Url": endpoint.url, "AccessKey": "k"},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "RetryOptions": {"DurationInSeconds": 0},
            "S3Configuration": s3_config("errors", ErrorOutputPrefix=(
                "failed/!{firehose:error-output-type}/!{timestamp:yyyy'-'MM}/"))})
        fh.put_record_batch(DeliveryStreamName="dead", Records=[{"Data": b"lost?"}, {"Data": b"no"}])
        objs = wait_until(lambda: local_objects(srv.data_dir, "errors"), what="error output")
        [(key, body)] = objs.items()
        assert key.startswith("failed/http-endpoint-failed/" + time.strftime("%Y-%m", time.gmtime()) + "/")
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert [base64.b64decode(line["rawData"]) for line in lines] == [b"lost?", b"no"]
        for line in lines:
            assert line["errorCode"] == "HttpEndpoint.DestinationException"
            assert line["attemptsMade"] >= 1
            assert {"arrivalTimestamp", "attemptEndingTimestamp", "errorMessage"} <= set(line)
    finally:
        endpoint.close()


def test_http_endpoint_contract_retries_with_the_same_request_id(server_factory, tmp_path):
    endpoint = FirehoseEndpoint(tmp_path)
    endpoint.fail_next = 1
    try:
        srv = server_factory(env={"FRESHET_FIREHOSE__HTTP_CA_FILE": str(endpoint.cert)})
        fh = srv.client(service="firehose")
        arn = fh.create_delivery_stream(DeliveryStreamName="http", HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {"Url": endpoint.url, "Name": "test", "AccessKey": "secret-key"},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "RequestConfiguration": {"ContentEncoding": "GZIP", "CommonAttributes": [
                {"AttributeName": "env", "AttributeValue": "ci"}]},
            "RetryOptions": {"DurationInSeconds": 60},
            "S3BackupMode": "AllData",
            "S3Configuration": s3_config("backup")})["DeliveryStreamARN"]
        d = fh.describe_delivery_stream(DeliveryStreamName="http")["DeliveryStreamDescription"]
        assert "AccessKey" not in d["Destinations"][0]["HttpEndpointDestinationDescription"][
            "EndpointConfiguration"]
        payloads = [b"event-%d" % i for i in range(50)]
        fh.put_record_batch(DeliveryStreamName="http", Records=[{"Data": p} for p in payloads])
        wait_until(lambda: endpoint.delivered() == payloads, what="HTTP delivery")
        first, second = endpoint.requests[0], endpoint.requests[1]
        assert first["ok"] is False and second["ok"] is True
        assert first["body"]["requestId"] == second["body"]["requestId"]
        h = second["headers"]
        assert h["x-amz-firehose-protocol-version"] == "1.0"
        assert h["x-amz-firehose-access-key"] == "secret-key"
        assert h["x-amz-firehose-source-arn"] == arn
        assert h["x-amz-firehose-request-id"] == second["body"]["requestId"]
        assert h["content-encoding"] == "gzip"
        assert json.loads(h["x-amz-firehose-common-attributes"]) == {"commonAttributes": {"env": "ci"}}
        assert isinstance(second["body"]["timestamp"], int)
        # AllData: the same records also land in the S3 backup bucket.
        backup = wait_until(lambda: local_objects(srv.data_dir, "backup"), what="S3 backup")
        assert b"".join(backup.values()) == b"".join(payloads)
    finally:
        endpoint.close()


def test_delivery_to_a_real_s3_compatible_server(server_factory, tmp_path):
    moto = MotoS3(tmp_path)
    try:
        moto.s3.create_bucket(Bucket="landing")
        srv = server_factory(env={"FRESHET_FIREHOSE__S3__ENDPOINT": moto.endpoint,
                                  "FRESHET_FIREHOSE__S3__ACCESS_KEY_ID": "testing",
                                  "FRESHET_FIREHOSE__S3__SECRET_ACCESS_KEY": "testing"})
        fh = srv.client(service="firehose")
        fh.create_delivery_stream(DeliveryStreamName="to-s3", ExtendedS3DestinationConfiguration=s3_config(
            "landing", Prefix="year=!{timestamp:yyyy}/", ErrorOutputPrefix="err/!{firehose:error-output-type}/",
            CompressionFormat="GZIP", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
        payloads = [b"line %d\n" % i for i in range(1000)]
        for i in range(0, 1000, 250):
            fh.put_record_batch(DeliveryStreamName="to-s3", Records=[{"Data": p} for p in payloads[i:i + 250]])

        def all_there():
            objs = moto.objects("landing")
            data = b"".join(gzip.decompress(objs[k]) for k in sorted(objs))
            return objs if sorted(data.splitlines()) == sorted(p.rstrip(b"\n") for p in payloads) else None

        objs = wait_until(all_there, what="all records in moto S3")
        year = time.strftime("%Y", time.gmtime())
        for key in objs:
            assert key.startswith(f"year={year}/to-s3-1-{year}-") and key.endswith(".gz"), key
        assert len(objs) <= 4  # one object per buffer, never one per record
    finally:
        moto.close()


def kinesis_source(srv, stream: str, shards: int, delivery: str, bucket: str):
    """A Kinesis stream and a delivery stream reading it into the embedded S3 target (objects as
    soon as records come: IntervalInSeconds 0); answers the clients and the stream's ARN."""
    kinesis, fh = srv.client(), srv.client(service="firehose")
    kinesis.create_stream(StreamName=stream, ShardCount=shards)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName=delivery, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_config(bucket, BufferingHints={"SizeInMBs": 1,
                                                                              "IntervalInSeconds": 0}))
    return kinesis, fh, arn


def test_kinesis_stream_as_source_delivers_across_resharding(server_factory):
    srv = server_factory()
    kinesis, fh, arn = kinesis_source(srv, "src", 2, "from-kds", "kds")
    d = fh.describe_delivery_stream(DeliveryStreamName="from-kds")["DeliveryStreamDescription"]
    assert d["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == arn
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName="from-kds", Record={"Data": b"x"})
    assert error_of(e)[:2] == ("InvalidArgumentException",
                               "This operation is not permitted on KinesisStreamAsSource delivery stream type.")
    sent = []
    for i in range(100):
        data = b"k%03d\n" % i
        kinesis.put_record(StreamName="src", Data=data, PartitionKey=str(i))
        sent.append(data)
    kinesis.split_shard(StreamName="src", ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(2 ** 126))
    wait_until(lambda: kinesis.describe_stream_summary(StreamName="src")[
        "StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE", what="split")
    for i in range(100, 200):
        data = b"k%03d\n" % i
        kinesis.put_record(StreamName="src", Data=data, PartitionKey=str(i))
        sent.append(data)

    def got():
        lines = b"".join(local_objects(srv.data_dir, "kds").values()).splitlines(keepends=True)
        return set(lines) == set(sent)

    wait_until(got, timeout=60, what="all Kinesis records delivered")
    metrics = urllib.request.urlopen(srv.endpoint + "/metrics").read().decode()
    read = [line for line in metrics.splitlines()
            if line.startswith('firehose_DataReadFromKinesisStream_Records_total{DeliveryStreamName="from-kds"}')]
    assert read and int(read[0].split()[-1]) >= 200


def kpl_aggregate(records: list[bytes]) -> bytes:
    """A Kinesis record as the Kinesis Producer Library aggregates user records: magic bytes, a
    protobuf AggregatedRecord (partition key table, records with key index and data), its MD5."""
    def varint(v: int) -> bytes:
        out = bytearray()
        while True:
            byte, v = v & 0x7F, v >> 7
            out.append(byte | (0x80 if v else 0))
            if not v:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    message = field(1, b"pk")
    for data in records:
        message += field(3, varint(1 << 3) + varint(0) + field(3, data))
    return b"\xf3\x89\x9a\xc2" + message + hashlib.md5(message).digest()


def test_kinesis_source_de_aggregates_kpl_records(server_factory):
    srv = server_factory()
    kinesis, _, _ = kinesis_source(srv, "kpl-src", 1, "from-kpl", "kpl")
    users = [b"user-%03d\n" % i for i in range(50)]
    aggregated = kpl_aggregate(users)
    # An aggregated record, an ordinary one, and one with the magic but a wrong digest (an
    # ordinary record too, delivered as it is).
    broken = aggregated[:-1] + bytes([aggregated[-1] ^ 1])
    for data in (aggregated, b"plain\n", broken):
        kinesis.put_record(StreamName="kpl-src", Data=data, PartitionKey="p")
    expected = b"".join(users) + b"plain\n" + broken
    assert aggregated[:4] == broken[:4] == b"\xf3\x89\x9a\xc2"

    def delivered():
        return b"".join(v for _, v in sorted(local_objects(srv.data_dir, "kpl").items()))

    wait_until(lambda: len(delivered()) >= len(expected), timeout=60, what="KPL records delivered")
    # Objects may split the records; their order across objects is by key, not by time.
    out = delivered()
    assert len(out) == len(expected), out
    assert b"".join(users) in out and b"plain\n" in out and broken in out, out
    assert aggregated not in out


def test_sigkill_during_delivery_loses_nothing_acknowledged(server_factory, tmp_path):
    srv = server_factory()
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="crash", ExtendedS3DestinationConfiguration=s3_config(
        "crash", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
    acked = put_between_kills(srv, "crash", 6, 7, (0.2, 0.8), lambda cycle, n: b"c%02d-%06d\n" % (cycle, n))
    assert len(acked) > 1000

    def everything():
        seen = set(b"".join(local_objects(srv.data_dir, "crash").values()).splitlines(keepends=True))
        return not (set(acked) - seen)

    wait_until(everything, timeout=60, what="every acknowledged record in S3 after 6 SIGKILLs")
