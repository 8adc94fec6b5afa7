"""Firehose delivery into a real OpenSearch-compatible server (osmem-server, behind an HTTPS
proxy): `_bulk` with rotated index names and Firehose document ids, per-document failures
retried and then written to the S3 error output in AWS's shape, whole-request retries without
duplicates, S3 backup modes, the Elasticsearch and Serverless variants, and AWS's errors for bad
configurations."""

from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, OpenSearch, local_objects, wait_until


@pytest.fixture
def search(tmp_path):
    engine = OpenSearch(tmp_path)
    yield engine
    engine.close()


@pytest.fixture
def srv(server_factory, search):
    return server_factory(env={"FRESHET_FIREHOSE__HTTP_CA_FILE": str(search.cert)})


def s3(bucket):
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}"}


def active(fh, name):
    wait_until(lambda: fh.describe_delivery_stream(DeliveryStreamName=name)
               ["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE", what="ACTIVE")


def error_lines(objects: dict[str, bytes], folder: str) -> list[dict]:
    return [json.loads(line) for key, body in sorted(objects.items())
            if key.startswith(folder) for line in body.decode().splitlines()]


def test_documents_are_indexed_into_rotated_indexes_and_refusals_go_to_s3(srv, search):
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="os", AmazonopensearchserviceDestinationConfiguration={
        "RoleARN": ROLE, "ClusterEndpoint": search.url, "IndexName": "logs",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        "RetryOptions": {"DurationInSeconds": 0}, "S3Configuration": s3("os-failed")})
    active(fh, "os")
    desc = fh.describe_delivery_stream(DeliveryStreamName="os")["DeliveryStreamDescription"]
    dest = desc["Destinations"][0]["AmazonopensearchserviceDestinationDescription"]
    assert dest["IndexRotationPeriod"] == "OneDay"
    assert dest["S3BackupMode"] == "FailedDocumentsOnly"
    assert dest["DocumentIdOptions"] == {"DefaultDocumentIdFormat": "FIREHOSE_DEFAULT"}
    assert dest["RetryOptions"] == {"DurationInSeconds": 0}
    assert dest["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::os-failed"

    docs = [{"n": i, "msg": f"event {i}"} for i in range(20)]
    fh.put_record_batch(DeliveryStreamName="os", Records=[{"Data": json.dumps(d).encode()} for d in docs])
    index = "logs-" + time.strftime("%Y-%m-%d", time.gmtime())
    hits = wait_until(lambda: (h := search.documents(index)) and len(h) == 20 and h, what="20 documents")
    assert sorted(h["_source"]["n"] for h in hits) == list(range(20))
    assert all(len(h["_id"]) == 36 for h in hits), "Firehose-generated document ids"

    # A document whose field no longer fits the index's mapping is refused by the engine.
    fh.put_record(DeliveryStreamName="os", Record={"Data": b'{"n": "not a number"}'})
    objs = wait_until(lambda: local_objects(srv.data_dir, "os-failed") or None, what="the refused document in S3")
    [line] = error_lines(objs, "AmazonOpenSearchService-failed/")
    assert line["errorCode"] == "400" and "mapper_parsing_exception" in line["errorMessage"]
    assert base64.b64decode(line["rawData"]) == b'{"n": "not a number"}'
    assert line["esIndexName"] == index and len(line["esDocumentId"]) == 36
    assert {"attemptsMade", "arrivalTimestamp", "attemptEndingTimestamp", "esTypeName"} <= set(line)
    assert len(search.documents(index)) == 20


def test_failed_requests_are_retried_without_duplicates_and_all_documents_backed_up(srv, search):
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="retry", AmazonopensearchserviceDestinationConfiguration={
        "RoleARN": ROLE, "ClusterEndpoint": search.url, "IndexName": "orders",
        "IndexRotationPeriod": "NoRotation", "S3BackupMode": "AllDocuments",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        "RetryOptions": {"DurationInSeconds": 60}, "S3Configuration": {**s3("orders-all"), "Prefix": "all/"}})
    active(fh, "retry")
    search.fail_next = 2
    records = [json.dumps({"order": i}).encode() for i in range(30)]
    fh.put_record_batch(DeliveryStreamName="retry", Records=[{"Data": r} for r in records])
    hits = wait_until(lambda: (h := search.documents("orders")) and len(h) >= 30 and h, timeout=60,
                      what="30 documents after two 503s")
    assert sorted(h["_source"]["order"] for h in hits) == list(range(30))
    bulk_requests = [r for r in search.requests if b'"_index"' in r]
    assert len(bulk_requests) == 3, "two refused requests, then one that indexed everything"
    assert bulk_requests[0] == bulk_requests[2], "a retry sends the same documents with the same ids"
    backup = wait_until(lambda: b"".join(v for k, v in local_objects(srv.data_dir, "orders-all").items()
                                         if k.startswith("all/")) or None, what="the backup of all documents")
    assert backup == b"".join(records)


def test_elasticsearch_without_document_ids_and_serverless(srv, search):
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="es", ElasticsearchDestinationConfiguration={
        "RoleARN": ROLE, "ClusterEndpoint": search.url, "IndexName": "legacy",
        "IndexRotationPeriod": "OneMonth", "DocumentIdOptions": {"DefaultDocumentIdFormat": "NO_DOCUMENT_ID"},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}, "S3Configuration": s3("es-failed")})
    fh.create_delivery_stream(DeliveryStreamName="aoss", AmazonOpenSearchServerlessDestinationConfiguration={
        "RoleARN": ROLE, "CollectionEndpoint": search.url, "IndexName": "coll",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}, "S3Configuration": s3("aoss-failed")})
    active(fh, "es")
    active(fh, "aoss")
    dest = fh.describe_delivery_stream(DeliveryStreamName="aoss")["DeliveryStreamDescription"]["Destinations"][0]
    assert "IndexRotationPeriod" not in dest["AmazonOpenSearchServerlessDestinationDescription"]
    fh.put_record(DeliveryStreamName="es", Record={"Data": b'{"v": 1}'})
    fh.put_record(DeliveryStreamName="aoss", Record={"Data": b'{"v": 2}'})
    month = time.strftime("%Y-%m", time.gmtime())
    [es] = wait_until(lambda: search.documents(f"legacy-{month}") or None, what="the Elasticsearch document")
    assert len(es["_id"]) != 36, "the engine chose the id"
    [aoss] = wait_until(lambda: search.documents("coll") or None, what="the Serverless document")
    assert aoss["_source"] == {"v": 2}


def test_bad_search_configurations_get_aws_errors(server):
    fh = server.client(service="firehose")
    base = {"RoleARN": ROLE, "IndexName": "i", "S3Configuration": s3("b")}
    cases = [
        ({**base, "ClusterEndpoint": "https://127.0.0.1:1", "DomainARN": "arn:aws:es:us-east-1:000000000000:domain/logs"},
         "Only one of DomainARN and ClusterEndpoint"),
        (base, "One of DomainARN and ClusterEndpoint"),
        ({**base, "DomainARN": "arn:aws:es:us-east-1:000000000000:domain/logs"}, "firehose.search_domains"),
        ({**base, "ClusterEndpoint": "https://127.0.0.1:1",
          "VpcConfiguration": {"SubnetIds": ["s"], "RoleARN": ROLE, "SecurityGroupIds": ["g"]}},
         "VpcConfiguration"),
    ]
    for config, words in cases:
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(DeliveryStreamName="bad-os",
                                      AmazonopensearchserviceDestinationConfiguration=config)
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgumentException", 400), err["Error"]
        assert words in err["Error"]["Message"], err["Error"]["Message"]
    assert "bad-os" not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]


def test_a_domain_arn_is_reached_through_the_configured_domain_endpoint(server_factory, search):
    srv = server_factory(env={"FRESHET_FIREHOSE__HTTP_CA_FILE": str(search.cert),
                              "FRESHET_FIREHOSE__SEARCH_DOMAINS__LOGS": search.url})
    fh = srv.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName="by-arn", AmazonopensearchserviceDestinationConfiguration={
        "RoleARN": ROLE, "DomainARN": "arn:aws:es:us-east-1:000000000000:domain/logs", "IndexName": "arn",
        "IndexRotationPeriod": "NoRotation", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        "S3Configuration": s3("arn-failed")})
    active(fh, "by-arn")
    dest = fh.describe_delivery_stream(DeliveryStreamName="by-arn")[
        "DeliveryStreamDescription"]["Destinations"][0]["AmazonopensearchserviceDestinationDescription"]
    assert dest["DomainARN"].endswith("domain/logs") and "ClusterEndpoint" not in dest
    fh.put_record(DeliveryStreamName="by-arn", Record={"Data": b'{"via": "arn"}'})
    [doc] = wait_until(lambda: search.documents("arn") or None, what="the document")
    assert doc["_source"] == {"via": "arn"}
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="unknown-domain", AmazonopensearchserviceDestinationConfiguration={
            "RoleARN": ROLE, "DomainARN": "arn:aws:es:us-east-1:000000000000:domain/other", "IndexName": "i",
            "S3Configuration": s3("b")})
    assert "firehose.search_domains" in e.value.response["Error"]["Message"]
