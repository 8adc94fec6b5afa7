"""Transports: HTTP/2 with prior knowledge (h2c, as the Java and Rust SDKs can use), TLS with ALPN
h2 and http/1.1, and that boto3 works over TLS. curl (built with nghttp2) is the HTTP/2 client."""

import json
import shutil
import subprocess

import boto3
import pytest
import urllib3
from botocore.config import Config

from freshet_e2e import JSON_CONTENT_TYPE, REGION, TARGET_PREFIX

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def curl(url: str, target: str, body: dict, *extra: str) -> tuple[str, dict]:
    """POSTs one operation; returns (HTTP version curl negotiated, JSON body)."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", *extra, "-X", "POST", url,
         "-H", f"Content-Type: {JSON_CONTENT_TYPE}", "-H", f"X-Amz-Target: {TARGET_PREFIX}.{target}",
         "--data-binary", json.dumps(body), "-w", "\n%{http_version}"],
        check=True, capture_output=True, text=True).stdout
    payload, version = out.rsplit("\n", 1)
    return version, json.loads(payload)


def test_h2c_prior_knowledge(server, stream_name):
    url = f"http://{server.address}/"
    version, body = curl(url, "CreateStream", {"StreamName": stream_name, "ShardCount": 1},
                         "--http2-prior-knowledge")
    assert (version, body) == ("2", {})
    version, body = curl(url, "DescribeStreamSummary", {"StreamName": stream_name}, "--http2-prior-knowledge")
    assert version == "2"
    assert body["StreamDescriptionSummary"]["OpenShardCount"] == 1


def test_http1_still_served_on_the_same_port(server, stream_name):
    version, body = curl(f"http://{server.address}/", "ListStreams", {}, "--http1.1")
    assert version == "1.1"
    assert "StreamNames" in body


@pytest.fixture
def tls_server(server_factory):
    return server_factory(extra_args=["--tls-self-signed"])


def test_tls_alpn_negotiates_h2_and_http1(tls_server):
    url = f"https://{tls_server.address}/"
    version, body = curl(url, "CreateStream", {"StreamName": "tls-stream", "ShardCount": 1}, "-k", "--http2")
    assert (version, body) == ("2", {})
    version, body = curl(url, "ListStreams", {}, "-k", "--http1.1")
    assert version == "1.1"
    assert body["StreamNames"] == ["tls-stream"]


def test_plain_http_to_tls_port_fails(tls_server):
    result = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://{tls_server.address}/health"],
                            capture_output=True, text=True)
    assert result.returncode != 0 or "ok" not in result.stdout


def test_boto3_over_tls(tls_server):
    client = boto3.session.Session().client(
        "kinesis", endpoint_url=f"https://{tls_server.address}", region_name=REGION,
        aws_access_key_id="AKIDDUMMY", aws_secret_access_key="dummysecret",
        verify=False,  # the server's certificate is self-signed
        config=Config(retries={"max_attempts": 0}))
    client.create_stream(StreamName="tls-boto", ShardCount=1)
    put = client.put_record(StreamName="tls-boto", Data=b"over tls", PartitionKey="k")
    it = client.get_shard_iterator(StreamName="tls-boto", ShardId=put["ShardId"],
                                   ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=put["SequenceNumber"])["ShardIterator"]
    assert client.get_records(ShardIterator=it)["Records"][0]["Data"] == b"over tls"
