#!/usr/bin/env python3
"""Writes the checked-in seed corpora under fuzz/seeds/<target>/: small valid inputs from which
the fuzzers mutate. Rerun after a format change: python3 fuzz/seeds/make_seeds.py
Files named regress-* are inputs that once failed a target; they are kept by hand, not made here."""

import hashlib
import hmac
import json
import os
import struct
import base64
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "crates", "freshet-edge", "models", "kinesis-2013-12-02.json")

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
CONSUMER_ARN = ARN + "/consumer/app:1700000000"
DATA = b"hello, kinesis"

# One valid request per operation; blobs as bytes, timestamps as ("ts", epoch_ms).
REQUESTS = {
    "AddTagsToStream": {"StreamName": "orders", "Tags": {"team": "data"}},
    "CreateStream": {"StreamName": "orders", "ShardCount": 2, "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                     "Tags": {"env": "dev"}, "MaxRecordSizeInKiB": 1024},
    "DecreaseStreamRetentionPeriod": {"StreamName": "orders", "RetentionPeriodHours": 24},
    "DeleteResourcePolicy": {"ResourceARN": ARN},
    "DeleteStream": {"StreamName": "orders", "EnforceConsumerDeletion": True},
    "DeregisterStreamConsumer": {"StreamARN": ARN, "ConsumerName": "app"},
    "DescribeAccountSettings": {},
    "DescribeLimits": {},
    "DescribeStream": {"StreamName": "orders", "Limit": 10, "ExclusiveStartShardId": "shardId-000000000000"},
    "DescribeStreamConsumer": {"ConsumerARN": CONSUMER_ARN},
    "DescribeStreamSummary": {"StreamARN": ARN},
    "DisableEnhancedMonitoring": {"StreamName": "orders", "ShardLevelMetrics": ["IncomingBytes"]},
    "EnableEnhancedMonitoring": {"StreamName": "orders", "ShardLevelMetrics": ["ALL"]},
    "GetRecords": {"ShardIterator": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Limit": 100},
    "GetResourcePolicy": {"ResourceARN": ARN},
    "GetShardIterator": {"StreamName": "orders", "ShardId": "shardId-000000000001",
                         "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ("ts", 1700000000123)},
    "IncreaseStreamRetentionPeriod": {"StreamName": "orders", "RetentionPeriodHours": 48},
    "ListShards": {"StreamName": "orders", "MaxResults": 100,
                   "ShardFilter": {"Type": "AT_TIMESTAMP", "Timestamp": ("ts", 1700000000000)}},
    "ListStreamConsumers": {"StreamARN": ARN, "MaxResults": 10,
                            "StreamCreationTimestamp": ("ts", 1700000000000)},
    "ListStreams": {"Limit": 10, "ExclusiveStartStreamName": "a"},
    "ListTagsForResource": {"ResourceARN": ARN},
    "ListTagsForStream": {"StreamName": "orders", "Limit": 5},
    "MergeShards": {"StreamName": "orders", "ShardToMerge": "shardId-000000000000",
                    "AdjacentShardToMerge": "shardId-000000000001"},
    "PutRecord": {"StreamName": "orders", "Data": DATA, "PartitionKey": "user-1",
                  "ExplicitHashKey": "170141183460469231731687303715884105728",
                  "SequenceNumberForOrdering": "1"},
    "PutRecords": {"StreamName": "orders", "Records": [
        {"Data": DATA, "PartitionKey": "user-1"},
        {"Data": b"", "PartitionKey": "user-2", "ExplicitHashKey": "0"},
    ]},
    "PutResourcePolicy": {"ResourceARN": ARN, "Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"},
    "RegisterStreamConsumer": {"StreamARN": ARN, "ConsumerName": "app", "Tags": {"a": "b"}},
    "RemoveTagsFromStream": {"StreamName": "orders", "TagKeys": ["team"]},
    "SplitShard": {"StreamName": "orders", "ShardToSplit": "shardId-000000000000",
                   "NewStartingHashKey": "85070591730234615865843651857942052864"},
    "StartStreamEncryption": {"StreamName": "orders", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
    "StopStreamEncryption": {"StreamName": "orders", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
    "SubscribeToShard": {"ConsumerARN": CONSUMER_ARN, "ShardId": "shardId-000000000000",
                         "StartingPosition": {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "49590338271490256608559692538361571095921575989136588898"}},
    "TagResource": {"ResourceARN": ARN, "Tags": {"k": "v"}},
    "UntagResource": {"ResourceARN": ARN, "TagKeys": ["k"]},
    "UpdateAccountSettings": {"MinimumThroughputBillingCommitment": {"Status": "DISABLED"}},
    "UpdateMaxRecordSize": {"StreamARN": ARN, "MaxRecordSizeInKiB": 2048},
    "UpdateShardCount": {"StreamName": "orders", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"},
    "UpdateStreamMode": {"StreamARN": ARN, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
    "UpdateStreamWarmThroughput": {"StreamName": "orders", "WarmThroughputMiBps": 10},
}


def to_json(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, tuple):
        return v[1] / 1000.0
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for add, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | add]) + struct.pack(fmt, n)
    raise ValueError(n)


def to_cbor(v):
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return cbor_head(3, len(b)) + b
    if isinstance(v, tuple):  # tag 1 over epoch milliseconds, as the Java SDKs write it
        return b"\xc1" + to_cbor(v[1])
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(to_cbor(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(to_cbor(k) + to_cbor(x) for k, x in v.items())
    raise TypeError(v)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(offset, arrival_ms, pk, data, ehk=None, batch_end=True):
    """One log frame, format version 1 (crates/freshet-log/src/frame.rs)."""
    pk = pk.encode()
    flags = (1 if ehk is not None else 0) | (2 if batch_end else 0)
    body = struct.pack("<BQqH", 1, offset, arrival_ms, len(pk)) + pk + bytes([flags])
    if ehk is not None:
        body += ehk.to_bytes(16, "little")
    body += data
    return struct.pack("<II", len(body), crc32c(body)) + body


def iterator(name, uid, shard, offset, issued_ms, key=bytes([7] * 32)):
    """A shard iterator token (crates/freshet-streams/src/iterator.rs) under the fuzz key."""
    n = name.encode()
    body = bytes([1]) + struct.pack(">QIQq", uid, shard, offset, issued_ms) + bytes([len(n)]) + n
    tag = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return base64.b64encode(body + tag)


# The fuzz target iam_policy: policy documents of both kinds and principals files of both syntaxes.
POLICIES = {
    "identity": {"Version": "2012-10-17", "Statement": [
        {"Sid": "own", "Effect": "Allow", "Action": ["kinesis:Get*", "kinesis:PutRecord"],
         "Resource": "arn:aws:kinesis:*:${aws:PrincipalAccount}:stream/${aws:username}-*"},
        {"Effect": "Deny", "NotAction": "kinesis:Describe*", "NotResource": "arn:aws:kinesis:*:*:stream/public",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "::1/128"]},
                       "Bool": {"aws:SecureTransport": False}}},
    ]},
    "resource": {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow",
        "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root",
                              "arn:aws:sts::444455556666:assumed-role/ops/s"], "Service": "firehose.amazonaws.com"},
        "Action": "kinesis:*", "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["env*"]},
                      "DateLessThanIfExists": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                      "NumericGreaterThan": {"aws:EpochTime": 1700000000},
                      "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x*"},
                      "Null": {"aws:username": "false"}}}},
    "old-version": {"Version": "2008-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/${x}"}]},
}

PRINCIPALS_TOML = """[[users]]
name = "alice"
access_keys = [{ id = "AKIAALICE0000000", secret = "s3cret" }]
policies = ['{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}']

[[users]]
name = "bob"
account = "222222222222"
access_keys = [{ id = "AKIABOB000000000", secret = "b" }]
policies = [{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Resource = "*" }] }]

[[roles]]
name = "reader"
trust_policy = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Principal = { AWS = "222222222222" }, Action = "sts:AssumeRole" }] }
max_session_duration = 7200
"""

PRINCIPALS_JSON = {
    "users": [{"name": "carol", "account": "333333333333",
               "access_keys": [{"id": "AKIACAROL0000000", "secret": "c"}],
               "policies": [POLICIES["identity"]]}],
    "roles": [{"name": "writer", "trust_policy": POLICIES["resource"], "policies": []}],
}

# The fuzz target sigv4_request: requests written like HTTP/1, signed with the secret and at the
# time the target's lookup and clock give (those of AWS's documented SigV4 example).
SIGV4_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGV4_DATE = "20150830T123600Z"


def uri_encode(s, slash=True):
    return urllib.parse.quote(s, safe="-_.~" if slash else "-_.~/")


def signed_request(method, path, params, headers, body=b"", service="kinesis", region="us-east-1",
                   access_key="AKIDEXAMPLE", token=None, expires=None):
    """A request signed as SigV4 says: in the Authorization header, or presigned when `expires`."""
    scope = f"{SIGV4_DATE[:8]}/{region}/{service}/aws4_request"
    headers = [(n.lower(), v) for n, v in headers]
    params = list(params)
    if expires is None:
        headers.append(("x-amz-date", SIGV4_DATE))
        if token:
            headers.append(("x-amz-security-token", token))
    names = sorted({n for n, _ in headers})
    if expires is not None:
        params += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", f"{access_key}/{scope}"),
                   ("X-Amz-Date", SIGV4_DATE), ("X-Amz-Expires", str(expires)),
                   ("X-Amz-SignedHeaders", ";".join(names))]
        if token:
            params.append(("X-Amz-Security-Token", token))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((uri_encode(k), uri_encode(v)) for k, v in params))
    canonical_headers = "".join(
        n + ":" + ",".join(" ".join(v.split()) for m, v in headers if m == n) + "\n" for n in names)
    canonical = "\n".join([method, uri_encode(path, slash=False), canonical_query, canonical_headers,
                           ";".join(names), hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", SIGV4_DATE, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SIGV4_SECRET).encode()
    for part in (SIGV4_DATE[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in params)
    if expires is None:
        headers.append(("authorization", f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                         f"SignedHeaders={';'.join(names)}, Signature={signature}"))
    else:
        query += ("&" if query else "") + "X-Amz-Signature=" + signature
    head = f"{method} {path}{'?' + query if query else ''}\n" + "".join(f"{n}: {v}\n" for n, v in headers)
    return head.encode() + b"\n" + body, signature


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    with open(MODEL) as f:
        ops = sorted(json.load(f)["operations"])
    assert sorted(REQUESTS) == ops, set(ops) ^ set(REQUESTS)
    for i, op in enumerate(ops):
        write("json_request", op, bytes([i]) + json.dumps(to_json(REQUESTS[op])).encode())
        write("cbor_request", op, bytes([i]) + to_cbor(REQUESTS[op]))
    write("shard_iterator", "short", iterator("orders", 1, 0, 0, 1700000000000))
    write("shard_iterator", "long", iterator("a" * 128, 2**64 - 1, 2**32 - 1, 2**63, 2**62))
    write("shard_iterator", "name", b"orders.v2-east_1")
    one = frame(0, 1700000000000, "user-1", DATA)
    batch = (frame(5, 1700000000001, "k", b"a", batch_end=False)
             + frame(6, 1700000000001, "k\u00e9", b"", ehk=2**127)
             + frame(7, 1700000000002, "", b"xyz" * 20, ehk=1, batch_end=True))
    write("log_frame", "one", one)
    write("log_frame", "batch", batch)
    write("log_frame", "torn_tail", batch + frame(8, 1700000000003, "k", b"lost", batch_end=False))
    write("log_frame", "zeroes", bytes(64))
    for name, doc in POLICIES.items():
        write("iam_policy", name, json.dumps(doc, indent=1).encode())
    write("iam_policy", "principals-toml", PRINCIPALS_TOML.encode())
    write("iam_policy", "principals-json", json.dumps(PRINCIPALS_JSON).encode())

    example, signature = signed_request(
        "GET", "/", [("Action", "ListUsers"), ("Version", "2010-05-08")],
        [("host", "iam.amazonaws.com"), ("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
        service="iam")
    # The signature the AWS documentation gives for its example.
    assert signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", signature
    write("sigv4_request", "aws-example", example)
    body = json.dumps({"StreamName": "orders", "Data": base64.b64encode(DATA).decode(), "PartitionKey": "user-1"})
    write("sigv4_request", "put-record", signed_request(
        "POST", "/", [], [("host", "localhost:4567"), ("content-type", "application/x-amz-json-1.1"),
                          ("x-amz-target", "Kinesis_20131202.PutRecord"), ("x-amz-user-agent", "a  b ")],
        body=body.encode(), token="FQoGZXIvYXdzEXAMPLE")[0])
    write("sigv4_request", "presigned", signed_request(
        "GET", "/", [("X-Amz-ChannelARN", "arn:aws:kinesisvideo:us-east-1:000000000000:channel/c/1"),
                     ("a", ""), ("a", "x y+z")],
        [("host", "localhost:4567")], service="kinesisvideo", expires=300, token="tok/en=")[0])


if __name__ == "__main__":
    main()
