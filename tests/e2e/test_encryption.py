"""Encryption at rest with the local KMS, end to end through boto3 and the AWS CLI.

Each test that looks at files gets its own server, writes records with known markers and then
scans every file under the data directory: markers written before StartStreamEncryption (or after
StopStreamEncryption) are found in the clear, markers written while encrypted are found nowhere.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from freshet_e2e import ACCOUNT, REGION, create_stream, error_of, read_shard


def kms_client(server):
    return boto3.client("kms", endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id="AKIDDUMMY", aws_secret_access_key="dummysecret",
                        config=Config(retries={"max_attempts": 0}))


def marker(tag: str) -> bytes:
    return f"MARKER-{tag}-{uuid.uuid4().hex}".encode()


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


def keyring_doc(data_dir: Path, log: str = "streams") -> dict:
    db = sqlite3.connect(f"file:{data_dir / 'catalog.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (f"keyring/{log}",)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else {}


def shard0(kinesis, name) -> str:
    return kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]


def test_the_aws_cli_creates_describes_and_lists_keys(server):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDDUMMY", "AWS_SECRET_ACCESS_KEY": "dummysecret",
           "AWS_DEFAULT_REGION": REGION}
    base = ["aws", "--endpoint-url", server.endpoint, "--output", "json", "kms"]
    created = json.loads(subprocess.run(base + ["create-key", "--description", "cli key"], env=env,
                                        check=True, capture_output=True, text=True).stdout)
    meta = created["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{meta['KeyId']}"
    assert (meta["KeyState"], meta["Enabled"], meta["KeyManager"], meta["KeySpec"]) == \
        ("Enabled", True, "CUSTOMER", "SYMMETRIC_DEFAULT")
    alias = f"alias/cli-{uuid.uuid4().hex[:8]}"
    subprocess.run(base + ["create-alias", "--alias-name", alias, "--target-key-id", meta["KeyId"]],
                   env=env, check=True, capture_output=True)
    described = json.loads(subprocess.run(base + ["describe-key", "--key-id", alias], env=env,
                                          check=True, capture_output=True, text=True).stdout)
    assert described["KeyMetadata"]["KeyId"] == meta["KeyId"]
    listed = json.loads(subprocess.run(base + ["list-keys"], env=env, check=True,
                                       capture_output=True, text=True).stdout)
    assert {"KeyId": meta["KeyId"], "KeyArn": meta["Arn"]} in listed["Keys"]
    aliases = json.loads(subprocess.run(base + ["list-aliases", "--key-id", meta["KeyId"]], env=env,
                                        check=True, capture_output=True, text=True).stdout)
    assert [a["AliasName"] for a in aliases["Aliases"]] == [alias]
    missing = subprocess.run(base + ["describe-key", "--key-id", str(uuid.uuid4())], env=env,
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "NotFoundException" in missing.stderr


def test_encrypt_decrypt_and_data_keys_with_their_errors(server):
    kms = kms_client(server)
    key = kms.create_key(Description="crypto")["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    ctx = {"purpose": "test"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext=ctx)
    assert blob["KeyId"] == key["Arn"] and blob["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert b"secret" not in blob["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx)
    assert (out["Plaintext"], out["KeyId"]) == (b"secret", key["Arn"])
    # The context is authenticated: without it, or with another, the blob does not open.
    for wrong in ({}, {"purpose": "other"}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=wrong)
        assert error_of(e)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx, KeyId=other["KeyId"])
    assert error_of(e)[0] == "IncorrectKeyException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=b"\x01" + bytes(60))
    assert error_of(e)[0] == "InvalidCiphertextException"
    # ReEncrypt moves a blob to another key without showing the plaintext.
    moved = kms.re_encrypt(CiphertextBlob=blob["CiphertextBlob"], SourceEncryptionContext=ctx,
                           DestinationKeyId=other["Arn"], DestinationEncryptionContext=ctx)
    assert (moved["SourceKeyId"], moved["KeyId"]) == (key["Arn"], other["Arn"])
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == b"secret"
    data = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    assert len(data["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data["CiphertextBlob"])["Plaintext"] == data["Plaintext"]
    bare = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=16)
    assert "Plaintext" not in bare and len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16
    with pytest.raises(ClientError) as e:
        kms.generate_data_key(KeyId=key["KeyId"])
    assert error_of(e)[:2] == ("ValidationException", "Please specify either number of bytes or key spec.")
    assert len(kms.generate_random(NumberOfBytes=24)["Plaintext"]) == 24
    # Disabled and pending-deletion keys refuse every cryptographic operation.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx)
    assert error_of(e) == ("DisabledException", f"{key['Arn']} is disabled.", 400)
    deletion = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert (deletion["KeyState"], deletion["PendingWindowInDays"]) == ("PendingDeletion", 7)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.", 400)
    with pytest.raises(ClientError) as e:
        kms.enable_key(KeyId=key["KeyId"])
    assert error_of(e)[0] == "KMSInvalidStateException"
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == b"secret"


def test_alias_rules(server):
    kms = kms_client(server)
    key = kms.create_key()["KeyMetadata"]
    name = f"alias/rules-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert error_of(e) == ("AlreadyExistsException",
                           f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:{name} already exists", 400)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert error_of(e)[0] == "NotAuthorizedException"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/nothing-here")
    assert error_of(e) == ("NotFoundException",
                           f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/nothing-here is not found.", 400)
    # An AWS managed alias gets its key on first use.
    managed = kms.describe_key(KeyId="alias/aws/kinesis")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert kms.describe_key(KeyId="alias/aws/kinesis")["KeyMetadata"]["KeyId"] == managed["KeyId"]
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName=name)
    assert error_of(e)[0] == "NotFoundException"


def test_stream_encryption_seals_records_on_disk_and_reads_them_back(server_factory):
    srv = server_factory()
    kinesis, kms = srv.client(), kms_client(srv)
    key = kms.create_key()["KeyMetadata"]
    create_stream(kinesis, "sealed", 1)
    clear = marker("clear")
    kinesis.put_record(StreamName="sealed", Data=clear, PartitionKey="pk-clear")
    kinesis.start_stream_encryption(StreamName="sealed", EncryptionType="KMS", KeyId=key["Arn"])
    desc = kinesis.describe_stream_summary(StreamName="sealed")["StreamDescriptionSummary"]
    assert (desc["EncryptionType"], desc["KeyId"]) == ("KMS", key["Arn"])
    secret = [marker("secret") for _ in range(5)]
    secret_key = f"PK-{uuid.uuid4().hex}"
    one = kinesis.put_record(StreamName="sealed", Data=secret[0], PartitionKey=secret_key)
    assert one["EncryptionType"] == "KMS"
    batch = kinesis.put_records(StreamName="sealed",
                                Records=[{"Data": d, "PartitionKey": secret_key} for d in secret[1:]])
    assert batch["FailedRecordCount"] == 0 and batch["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName="sealed", EncryptionType="KMS", KeyId=key["Arn"])
    after = marker("after")
    assert kinesis.put_record(StreamName="sealed", Data=after, PartitionKey="pk-after")["EncryptionType"] == "NONE"
    records = read_shard(kinesis, "sealed", shard0(kinesis, "sealed"))
    assert [r["Data"] for r in records] == [clear, *secret, after]
    assert [r.get("EncryptionType") for r in records] == [None] + ["KMS"] * 5 + [None]
    assert {r["PartitionKey"] for r in records[1:6]} == {secret_key}
    srv.stop()
    assert files_containing(srv.data_dir, clear) and files_containing(srv.data_dir, after)
    for needle in [*secret, secret_key.encode()]:
        assert files_containing(srv.data_dir, needle) == [], needle
    # Readable after a restart: the data key is unwrapped from the catalog again.
    srv.start()
    kinesis = srv.client()
    assert [r["Data"] for r in read_shard(kinesis, "sealed", shard0(kinesis, "sealed"))] == \
        [clear, *secret, after]


def test_a_refused_key_fails_puts_and_reads_and_writes_nothing(server_factory):
    srv = server_factory()
    kinesis, kms = srv.client(), kms_client(srv)
    key = kms.create_key()["KeyMetadata"]
    create_stream(kinesis, "guarded", 1)
    with pytest.raises(ClientError) as e:
        kinesis.start_stream_encryption(StreamName="guarded", EncryptionType="KMS",
                                        KeyId=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}")
    assert error_of(e)[0] == "KMSNotFoundException"
    assert kinesis.describe_stream_summary(StreamName="guarded")["StreamDescriptionSummary"]["EncryptionType"] == "NONE"
    kinesis.start_stream_encryption(StreamName="guarded", EncryptionType="KMS", KeyId=key["KeyId"])
    kinesis.put_record(StreamName="guarded", Data=b"before", PartitionKey="k")
    kms.disable_key(KeyId=key["KeyId"])
    message = f"{key['Arn']} is disabled."
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName="guarded", Data=b"refused", PartitionKey="k")
    assert error_of(e) == ("KMSDisabledException", message, 400)
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName="guarded", Records=[{"Data": b"refused", "PartitionKey": "k"}])
    assert error_of(e) == ("KMSDisabledException", message, 400)
    it = kinesis.get_shard_iterator(StreamName="guarded", ShardId=shard0(kinesis, "guarded"),
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=it)
    assert error_of(e) == ("KMSDisabledException", message, 400)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName="guarded", Data=b"refused", PartitionKey="k")
    assert error_of(e)[0] == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    kms.enable_key(KeyId=key["KeyId"])
    kinesis.put_record(StreamName="guarded", Data=b"after", PartitionKey="k")
    # Nothing refused was written, half or whole.
    assert [r["Data"] for r in read_shard(kinesis, "guarded", shard0(kinesis, "guarded"))] == [b"before", b"after"]


def test_the_aws_managed_key_and_rotation_rewrap_data_keys_not_records(server_factory):
    srv = server_factory()
    kinesis, kms = srv.client(), kms_client(srv)
    create_stream(kinesis, "rotating", 1)
    kinesis.start_stream_encryption(StreamName="rotating", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    kinesis.put_record(StreamName="rotating", Data=b"under-managed", PartitionKey="k")
    key = kms.create_key()["KeyMetadata"]
    # Moving the stream to another key wraps its earlier data key under the new one too.
    kinesis.start_stream_encryption(StreamName="rotating", EncryptionType="KMS", KeyId=key["Arn"])
    kinesis.put_record(StreamName="rotating", Data=b"under-customer", PartitionKey="k")
    ring = keyring_doc(srv.data_dir)
    assert {k["key_arn"] for k in ring["keys"]} == {key["Arn"]}
    before = {k["key_ref"]: k["blob"] for k in ring["keys"]}
    segments = {p: p.read_bytes() for p in (srv.data_dir / "log").rglob("*.log")}
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyId"] == key["Arn"] and "OnDemandRotationStartDate" in status
    deadline = time.monotonic() + 10
    while True:
        after = {k["key_ref"]: k["blob"] for k in keyring_doc(srv.data_dir)["keys"]}
        if after.keys() == before.keys() and all(after[r] != before[r] for r in before):
            break
        assert time.monotonic() < deadline, "data keys were not wrapped anew"
        time.sleep(0.1)
    assert {p: p.read_bytes() for p in segments} == segments, "records were rewritten"
    srv.stop()
    srv.start()
    kinesis = srv.client()
    assert [r["Data"] for r in read_shard(kinesis, "rotating", shard0(kinesis, "rotating"))] == \
        [b"under-managed", b"under-customer"]


def test_the_master_key_rotates_and_a_wrong_one_refuses_to_start(server_factory, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    first, second = keys / "first.key", keys / "second.key"
    config = tmp_path / "freshet.toml"
    config.write_text(f'[encryption]\nmaster_key_file = "{first}"\n')
    srv = server_factory(extra_args=["--config", str(config)])
    assert len(first.read_text().strip()) == 64 and (first.stat().st_mode & 0o777) == 0o600
    kinesis, kms = srv.client(), kms_client(srv)
    key = kms.create_key()["KeyMetadata"]
    create_stream(kinesis, "mastered", 1)
    kinesis.start_stream_encryption(StreamName="mastered", EncryptionType="KMS", KeyId=key["KeyId"])
    secret = marker("mastered")
    kinesis.put_record(StreamName="mastered", Data=secret, PartitionKey="k")
    srv.stop()
    second.write_text(os.urandom(32).hex() + "\n")
    # A new master key without the old one: the KMS's material cannot be unwrapped.
    config.write_text(f'[encryption]\nmaster_key_file = "{second}"\n')
    srv.proc = None
    with pytest.raises(BaseException):
        srv.start()
    assert "wrapped under a master key that is not configured" in srv.log_path.read_text()
    # With the old one listed as previous, the start wraps everything anew under the new one.
    config.write_text(f'[encryption]\nmaster_key_file = "{second}"\nprevious_master_key_files = ["{first}"]\n')
    srv.start()
    kinesis = srv.client()
    assert [r["Data"] for r in read_shard(kinesis, "mastered", shard0(kinesis, "mastered"))] == [secret]
    srv.stop()
    first.unlink()
    config.write_text(f'[encryption]\nmaster_key_file = "{second}"\n')
    srv.start()
    kinesis = srv.client()
    assert [r["Data"] for r in read_shard(kinesis, "mastered", shard0(kinesis, "mastered"))] == [secret]
    assert files_containing(srv.data_dir, secret) == []


def test_firehose_encryption_seals_buffered_records_and_delivery_opens_them(server_factory):
    from firehose_helpers import ROLE, local_objects, wait_until

    srv = server_factory()
    fh, kms = srv.client(service="firehose"), kms_client(srv)
    key = kms.create_key()["KeyMetadata"]
    s3 = {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::sealed",
          "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}
    fh.create_delivery_stream(
        DeliveryStreamName="sealed-hose", ExtendedS3DestinationConfiguration=s3,
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "CUSTOMER_MANAGED_CMK",
                                                    "KeyARN": key["Arn"]})
    enc = fh.describe_delivery_stream(DeliveryStreamName="sealed-hose")[
        "DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyARN": key["Arn"], "KeyType": "CUSTOMER_MANAGED_CMK", "Status": "ENABLED"}
    secrets = [marker("hose") for _ in range(3)]
    out = fh.put_record_batch(DeliveryStreamName="sealed-hose", Records=[{"Data": s} for s in secrets])
    assert out["FailedPutCount"] == 0 and out["Encrypted"] is True
    for s in secrets:
        assert files_containing(srv.data_dir / "firehose-log", s) == []
    # A disabled key refuses puts; nothing is written.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName="sealed-hose", Record={"Data": b"refused"})
    assert error_of(e) == ("InvalidKMSResourceException", f"{key['Arn']} is disabled.", 400)
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(
            DeliveryStreamName="never-made", ExtendedS3DestinationConfiguration=s3,
            DeliveryStreamEncryptionConfigurationInput={"KeyType": "CUSTOMER_MANAGED_CMK",
                                                        "KeyARN": key["Arn"]})
    assert error_of(e)[0] == "InvalidKMSResourceException"
    assert "never-made" not in fh.list_delivery_streams()["DeliveryStreamNames"]
    kms.enable_key(KeyId=key["KeyId"])
    # Past the size threshold the buffer is delivered: delivery opened the sealed records.
    filler = [b"f" * 600_000, b"g" * 600_000]
    fh.put_record_batch(DeliveryStreamName="sealed-hose", Records=[{"Data": f} for f in filler])
    objects = wait_until(lambda: local_objects(srv.data_dir, "sealed") or None, what="a delivered object")
    delivered = b"".join(objects.values())
    assert all(s in delivered for s in secrets) and b"refused" not in delivered


def test_video_fragments_are_sealed_under_the_stream_key(server_factory, tmp_path):
    from video_helpers import make_media, needs_ffmpeg, put_media, unknown_size_clusters

    if needs_ffmpeg.args[0]:
        pytest.skip("needs ffmpeg")
    srv = server_factory()
    kvs = srv.client(service="kinesisvideo")
    archive = srv.client(service="kinesis-video-archived-media")
    kms = kms_client(srv)
    key = kms.create_key()["KeyMetadata"]
    media = unknown_size_clusters(make_media(tmp_path / "m.mkv", 4).read_bytes())
    # The codec id is in every stored fragment's header: a marker that must not reach the disk.
    codec = b"V_MPEG4/ISO/AVC"
    assert codec in media
    start = float(int(time.time() - 60))
    kvs.create_stream(StreamName="cam", DataRetentionInHours=24, KmsKeyId=key["Arn"])
    assert kvs.describe_stream(StreamName="cam")["StreamInfo"]["KmsKeyId"] == key["Arn"]
    kvs.create_stream(StreamName="cam-default", DataRetentionInHours=24)
    for name in ("cam", "cam-default"):
        pm = put_media(srv.endpoint, name, media, start=start)
        assert [a["EventType"] for _, a in pm.acks].count("PERSISTED") == 2, pm.acks
    assert files_containing(srv.data_dir / "video-log", codec) == []
    managed = kms.describe_key(KeyId="alias/aws/kinesisvideo")["KeyMetadata"]
    assert {k["key_arn"] for k in keyring_doc(srv.data_dir, "video")["keys"]} == {key["Arn"], managed["Arn"]}
    # Reads open the fragments, also after a restart (the index is rebuilt from sealed records).
    srv.stop()
    srv.start()
    archive = srv.client(service="kinesis-video-archived-media")
    kvs, kms = srv.client(service="kinesisvideo"), kms_client(srv)
    numbers = [f["FragmentNumber"] for f in archive.list_fragments(StreamName="cam")["Fragments"]]
    assert len(numbers) == 2
    payload = archive.get_media_for_fragment_list(StreamName="cam", Fragments=numbers)["Payload"].read()
    assert codec in payload
    # A disabled key: PutMedia's KMS_KEY_DISABLED acknowledgement, reads NotAuthorizedException.
    kms.disable_key(KeyId=key["KeyId"])
    pm = put_media(srv.endpoint, "cam", media, start=start + 10)
    errors = pm.events("ERROR")
    assert errors and (errors[0]["ErrorId"], errors[0]["ErrorCode"]) == (4501, "KMS_KEY_DISABLED")
    with pytest.raises(ClientError) as e:
        archive.get_media_for_fragment_list(StreamName="cam", Fragments=numbers)
    assert error_of(e)[:2] == ("NotAuthorizedException", f"{key['Arn']} is disabled.")
    kms.enable_key(KeyId=key["KeyId"])
    assert len(archive.list_fragments(StreamName="cam")["Fragments"]) == 2, "nothing refused was stored"
    # A key that cannot be used creates no stream.
    with pytest.raises(ClientError) as e:
        kvs.create_stream(StreamName="cam-bad", KmsKeyId=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}")
    assert error_of(e)[0] == "InvalidArgumentException"
    assert "cam-bad" not in [s["StreamName"] for s in kvs.list_streams()["StreamInfoList"]]


def test_a_kms_endpoint_wraps_the_data_keys_in_place_of_the_local_kms(server_factory, tmp_path):
    """A second Freshet's KMS serves as the KMS-compatible endpoint: GenerateDataKey, Decrypt and
    DescribeKey go to it over KMS's JSON API, signed."""
    keys = server_factory()
    kms = kms_client(keys)
    key = kms.create_key()["KeyMetadata"]
    config = tmp_path / "remote.toml"
    config.write_text(f'[encryption]\nkms_endpoint = "{keys.endpoint}"\nkms_check_secs = 1\n'
                      'kms_access_key_id = "AKIDREMOTE"\nkms_secret_access_key = "remote-secret"\n')
    srv = server_factory(extra_args=["--config", str(config)])
    kinesis = srv.client()
    with pytest.raises(ClientError) as e:
        kms_client(srv).list_keys()
    assert error_of(e)[0] == "UnknownOperationException", "the local KMS is not served"
    create_stream(kinesis, "remote", 1)
    kinesis.start_stream_encryption(StreamName="remote", EncryptionType="KMS", KeyId=key["Arn"])
    secret = marker("remote")
    kinesis.put_record(StreamName="remote", Data=secret, PartitionKey="k")
    assert [r["Data"] for r in read_shard(kinesis, "remote", shard0(kinesis, "remote"))] == [secret]
    assert files_containing(srv.data_dir, secret) == []
    assert {k["key_arn"] for k in keyring_doc(srv.data_dir)["keys"]} == {key["Arn"]}
    # Disabled at the endpoint: refused here within the check interval.
    kms.disable_key(KeyId=key["KeyId"])
    deadline = time.monotonic() + 10
    while True:
        try:
            kinesis.put_record(StreamName="remote", Data=b"late", PartitionKey="k")
        except ClientError as err:
            got = (err.response["Error"]["Code"], err.response["Error"]["Message"],
                   err.response["ResponseMetadata"]["HTTPStatusCode"])
            assert got == ("KMSDisabledException", f"{key['Arn']} is disabled.", 400)
            break
        assert time.monotonic() < deadline, "the endpoint's disabled key was never noticed"
        time.sleep(0.2)
    kms.enable_key(KeyId=key["KeyId"])
    srv.stop()
    srv.start()
    kinesis = srv.client()
    assert [r["Data"] for r in read_shard(kinesis, "remote", shard0(kinesis, "remote"))][0] == secret


def test_decrypt_is_authorized_on_the_key_its_ciphertext_names(server_factory, tmp_path):
    from freshet_e2e import AUTH_ACCESS_KEY, AUTH_SECRET_KEY
    from test_iam import allow, client, deny, policy, user

    principals = tmp_path / "principals.toml"
    principals.write_text("")
    srv = server_factory(access_key_id=AUTH_ACCESS_KEY, secret_access_key=AUTH_SECRET_KEY,
                         env={"FRESHET_AUTH__PRINCIPALS_FILE": str(principals)})
    root = boto3.client("kms", endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id=AUTH_ACCESS_KEY, aws_secret_access_key=AUTH_SECRET_KEY,
                        config=Config(retries={"max_attempts": 0}))
    open_key = root.create_key()["KeyMetadata"]
    closed_key = root.create_key()["KeyMetadata"]
    principals.write_text(user("reader", "AKIAKMSREADER001",
                               [policy(allow("kms:*"), deny("kms:Decrypt", closed_key["Arn"]))]))
    os.kill(srv.proc.pid, signal.SIGHUP)
    reader = client(srv, "AKIAKMSREADER001", service="kms")
    deadline = time.monotonic() + 10
    while True:  # until the reloaded principals file knows the key
        try:
            reader.list_keys()
            break
        except ClientError:
            assert time.monotonic() < deadline, "the principals file was not reloaded"
            time.sleep(0.1)
    for key, allowed in ((open_key, True), (closed_key, False)):
        blob = root.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        if allowed:
            assert reader.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
            continue
        with pytest.raises(ClientError) as e:
            reader.decrypt(CiphertextBlob=blob)
        code, message, _ = error_of(e)
        assert code == "AccessDeniedException"
        assert f"kms:Decrypt on resource: {key['Arn']} with an explicit deny" in message
