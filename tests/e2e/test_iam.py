"""Several principals with IAM policies, resource policies and STS, end to end through boto3.

The server gets a principals file (users with access keys, roles with trust policies) and the
account's root key. Messages are AWS's `AccessDeniedException` texts: "User: <arn> is not
authorized to perform: <action> on resource: <arn> because no identity-based policy allows the
<action> action" and its explicit-deny, resource-based and session-policy variants.
"""

from __future__ import annotations

import json
import os
import signal
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from freshet_e2e import (
    ACCOUNT, AUTH_ACCESS_KEY, AUTH_SECRET_KEY, REGION, create_stream, error_of, make_client, read_shard,
    stream_arn,
)

OTHER_ACCOUNT = "111111111111"


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources="*", **extra):
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(actions, resources="*", **extra):
    return {"Effect": "Deny", "Action": actions, "Resource": resources, **extra}


def user(name, key, policies, account=None):
    lines = ["[[users]]", f'name = "{name}"']
    if account:
        lines.append(f'account = "{account}"')
    lines.append(f'access_keys = [{{ id = "{key}", secret = "{key.lower()}-secret" }}]')
    lines.append("policies = [" + ", ".join(f"'''{p}'''" for p in policies) + "]")
    return "\n".join(lines) + "\n"


def role(name, trust, policies, max_session=None):
    lines = ["[[roles]]", f'name = "{name}"', f"trust_policy = '''{trust}'''"]
    lines.append("policies = [" + ", ".join(f"'''{p}'''" for p in policies) + "]")
    if max_session:
        lines.append(f"max_session_duration = {max_session}")
    return "\n".join(lines) + "\n"


APP = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/app-*"
WRITER = "AKIAWRITER000001"
ANALYST = "AKIAANALYST00001"
OUTSIDER = "AKIAOUTSIDER0001"
NOBODY = "AKIANOBODY000001"
LOCAL = "AKIALOCALONLY001"


def principals_text(writer_extra=()) -> str:
    trust_auditor = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/writer"},
                            "Action": "sts:AssumeRole"},
                           {"Effect": "Allow", "Principal": {"AWS": OTHER_ACCOUNT}, "Action": "sts:AssumeRole"})
    trust_chained = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/auditor"},
                            "Action": "sts:AssumeRole"})
    return "".join([
        user("writer", WRITER, [policy(
            allow(["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary",
                   "kinesis:ListShards"], APP), *writer_extra)]),
        user("analyst", ANALYST, [policy(
            allow("kinesis:*"),
            deny(["kinesis:GetShardIterator", "kinesis:GetRecords"],
                 f"arn:aws:kinesis:*:*:stream/secret-*"))]),
        user("outsider", OUTSIDER, [policy(allow(["kinesis:*", "sts:AssumeRole"]))], account=OTHER_ACCOUNT),
        user("nobody", NOBODY, []),
        user("local", LOCAL, [policy(allow("kinesis:ListStreams", Condition={
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
            policy(allow("kinesis:DescribeLimits", Condition={
                "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}, "Bool": {"aws:SecureTransport": "false"}}))]),
        role("auditor", trust_auditor, [policy(allow(["kinesis:Describe*", "kinesis:List*", "sts:AssumeRole"]))],
             max_session=7200),
        role("chained", trust_chained, [policy(allow("kinesis:ListStreams"))]),
    ])


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory):
    from freshet_e2e import FreshetServer
    root = tmp_path_factory.mktemp("freshet-iam")
    path = root / "principals.toml"
    path.write_text(principals_text())
    srv = FreshetServer(root / "data", root / "run", access_key_id=AUTH_ACCESS_KEY,
                        secret_access_key=AUTH_SECRET_KEY,
                        env={"FRESHET_AUTH__PRINCIPALS_FILE": str(path)}).start()
    srv.principals_path = path
    admin = make_client(srv.endpoint, access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    for name in ("app-orders", "secret-ledger"):
        create_stream(admin, name)
    yield srv
    if srv.running():
        srv.stop()


def client(srv, key, service="kinesis", token=None, secret=None, validate=True):
    return boto3.session.Session().client(
        service, endpoint_url=srv.endpoint, region_name=REGION,
        aws_access_key_id=key, aws_secret_access_key=secret or f"{key.lower()}-secret",
        aws_session_token=token,
        config=Config(retries={"max_attempts": 0}, parameter_validation=validate))


def admin(srv):
    return make_client(srv.endpoint, access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)


def denied(who, action, resource, why):
    on = f" on resource: {resource}" if resource != "*" else ""
    reasons = {
        "no-identity": f"because no identity-based policy allows the {action} action",
        "identity-deny": "with an explicit deny in an identity-based policy",
        "no-resource": f"because no resource-based policy allows the {action} action",
        "no-session": f"because no session policy allows the {action} action",
    }
    return f"User: {who} is not authorized to perform: {action}{on} {reasons[why]}"


def user_arn(name, account=ACCOUNT):
    return f"arn:aws:iam::{account}:user/{name}"


def test_identity_policy_allows_only_its_resources(iam_server):
    w = client(iam_server, WRITER)
    w.put_record(StreamName="app-orders", Data=b"allowed", PartitionKey="k")
    with pytest.raises(ClientError) as e:
        w.put_record(StreamName="secret-ledger", Data=b"refused", PartitionKey="k")
    assert error_of(e) == ("AccessDeniedException", denied(
        user_arn("writer"), "kinesis:PutRecord", stream_arn("secret-ledger"), "no-identity"), 400)
    # Nothing of the refused call was written.
    a = admin(iam_server)
    shard = a.list_shards(StreamName="secret-ledger")["Shards"][0]["ShardId"]
    assert read_shard(a, "secret-ledger", shard) == []
    got = [r["Data"] for r in read_shard(a, "app-orders",
                                          a.list_shards(StreamName="app-orders")["Shards"][0]["ShardId"])]
    assert b"allowed" in got
    # An action the policy does not name, on an allowed resource.
    with pytest.raises(ClientError) as e:
        w.delete_stream(StreamName="app-orders")
    assert error_of(e)[1] == denied(user_arn("writer"), "kinesis:DeleteStream", stream_arn("app-orders"),
                                    "no-identity")


def test_explicit_deny_wins_over_allow(iam_server):
    a = client(iam_server, ANALYST)
    shard = a.list_shards(StreamName="secret-ledger")["Shards"][0]["ShardId"]
    with pytest.raises(ClientError) as e:
        a.get_shard_iterator(StreamName="secret-ledger", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert error_of(e) == ("AccessDeniedException", denied(
        user_arn("analyst"), "kinesis:GetShardIterator", stream_arn("secret-ledger"), "identity-deny"), 400)
    a.get_shard_iterator(StreamName="app-orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")


def test_a_principal_without_policies_may_do_nothing_in_any_service(iam_server):
    cases = [("kinesis", lambda c: c.list_streams(), "kinesis:ListStreams", "AccessDeniedException", 400),
             ("firehose", lambda c: c.list_delivery_streams(), "firehose:ListDeliveryStreams",
              "AccessDeniedException", 400),
             ("cloudwatch", lambda c: c.list_metrics(), "cloudwatch:ListMetrics", "AccessDenied", 403),
             ("kinesisvideo", lambda c: c.list_streams(), "kinesisvideo:ListStreams", "AccessDeniedException", 401),
             ("kinesisanalyticsv2", lambda c: c.list_applications(), "kinesisanalytics:ListApplications",
              "AccessDeniedException", 400),
             ("glue", lambda c: c.get_databases(), "glue:GetDatabases", "AccessDeniedException", 400)]
    for service, call, action, code, status in cases:
        with pytest.raises(ClientError) as e:
            call(client(iam_server, NOBODY, service))
        got = error_of(e)
        assert got[0] == code and got[2] == status, (service, got)
        assert got[1].startswith(f"User: {user_arn('nobody')} is not authorized to perform: {action}"), got


def test_cross_account_needs_the_resource_policy(iam_server):
    o = client(iam_server, OUTSIDER)
    arn = stream_arn("app-orders")
    with pytest.raises(ClientError) as e:
        o.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")
    assert error_of(e) == ("AccessDeniedException", denied(
        user_arn("outsider", OTHER_ACCOUNT), "kinesis:PutRecord", arn, "no-resource"), 400)
    a = admin(iam_server)
    a.put_resource_policy(ResourceARN=arn, Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": OTHER_ACCOUNT},
        "Action": ["kinesis:PutRecord", "kinesis:DescribeStreamSummary"], "Resource": arn}))
    try:
        o.put_record(StreamARN=arn, Data=b"from-outside", PartitionKey="k")
        assert o.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["StreamARN"] == arn
        # The policy grants only what it names.
        with pytest.raises(ClientError) as e:
            o.list_shards(StreamARN=arn)
        assert error_of(e)[1] == denied(user_arn("outsider", OTHER_ACCOUNT), "kinesis:ListShards", arn,
                                        "no-resource")
        # A resource policy naming a principal lets them in without an identity policy of theirs.
        a.put_resource_policy(ResourceARN=stream_arn("secret-ledger"), Policy=policy({
            "Effect": "Allow", "Principal": {"AWS": user_arn("nobody")},
            "Action": "kinesis:DescribeStreamSummary", "Resource": stream_arn("secret-ledger")}))
        client(iam_server, NOBODY).describe_stream_summary(StreamName="secret-ledger")
        # An explicit deny in a resource policy beats an identity policy's allow.
        a.put_resource_policy(ResourceARN=stream_arn("secret-ledger"), Policy=policy({
            "Effect": "Deny", "Principal": "*", "Action": "kinesis:ListShards",
            "Resource": stream_arn("secret-ledger")}))
        with pytest.raises(ClientError) as e:
            client(iam_server, ANALYST).list_shards(StreamName="secret-ledger")
        assert error_of(e)[1].endswith("with an explicit deny in a resource-based policy")
    finally:
        a.delete_resource_policy(ResourceARN=arn)
        a.delete_resource_policy(ResourceARN=stream_arn("secret-ledger"))
    with pytest.raises(ClientError):
        o.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")


def test_other_accounts_cannot_act_on_the_account_itself(iam_server):
    # The outsider's own policy allows kinesis:*, but calls on no stream act in this account.
    with pytest.raises(ClientError) as e:
        client(iam_server, OUTSIDER).list_streams()
    assert error_of(e) == ("AccessDeniedException", denied(
        user_arn("outsider", OTHER_ACCOUNT), "kinesis:ListStreams", "*", "no-resource"), 400)


def signed_post(srv, key, op, doc):
    import http.client

    from freshet_e2e import JSON_CONTENT_TYPE, RawResponse, sign_headers
    body = json.dumps(doc).encode()
    hdrs = sign_headers("POST", srv.address, "/", {"Content-Type": JSON_CONTENT_TYPE,
                                                   "X-Amz-Target": f"Kinesis_20131202.{op}"}, body,
                        access_key=key, secret_key=f"{key.lower()}-secret")
    host, port = srv.host_port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=hdrs)
        r = conn.getresponse()
        return RawResponse(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def test_members_the_operation_does_not_take_name_nothing(iam_server):
    # The writer may put to app-*; a stray ResourceARN naming app-orders must not let a put to
    # secret-ledger through (the operation ignores the member; authorization must too).
    w = client(iam_server, WRITER, validate=False)
    with pytest.raises(ClientError) as e:
        w.put_record(StreamName="secret-ledger", Data=b"x", PartitionKey="k")
    resp = signed_post(iam_server, WRITER, "PutRecord", {
        "StreamName": "secret-ledger", "ResourceARN": stream_arn("app-orders"), "Data": "eA==", "PartitionKey": "k"})
    assert resp.status == 400 and resp.error_type == "AccessDeniedException", resp
    # An ARN written with another partition is the same stream to authorization.
    resp = signed_post(iam_server, WRITER, "PutRecord", {
        "StreamARN": stream_arn("secret-ledger").replace("arn:aws:", "arn:aws-x:"), "Data": "eA==", "PartitionKey": "k"})
    assert resp.status == 400 and resp.error_type in ("AccessDeniedException", "ResourceNotFoundException"), resp


def test_malformed_resource_policy_is_refused(iam_server):
    a = admin(iam_server)
    with pytest.raises(ClientError) as e:
        a.put_resource_policy(ResourceARN=stream_arn("app-orders"),
                              Policy=policy({"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}))
    assert error_of(e) == ("InvalidArgumentException",
                           "Invalid policy document: Missing required field Principal", 400)
    assert a.get_resource_policy(ResourceARN=stream_arn("app-orders"))["Policy"] == "{}"


def test_conditions_on_source_ip_and_transport(iam_server):
    c = client(iam_server, LOCAL)
    with pytest.raises(ClientError) as e:
        c.list_streams()
    assert error_of(e)[1] == denied(user_arn("local"), "kinesis:ListStreams", "*", "no-identity")
    assert c.describe_limits()["ShardLimit"] > 0


def test_caller_identity_and_session_tokens(iam_server):
    sts = client(iam_server, WRITER, "sts")
    me = sts.get_caller_identity()
    assert me["Arn"] == user_arn("writer") and me["Account"] == ACCOUNT and me["UserId"].startswith("AIDA")
    assert client(iam_server, OUTSIDER, "sts").get_caller_identity()["Account"] == OTHER_ACCOUNT
    root = make_client(iam_server.endpoint, access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY,
                       service="sts").get_caller_identity()
    assert root["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    temp = client(iam_server, creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    temp.put_record(StreamName="app-orders", Data=b"temp", PartitionKey="k")
    with pytest.raises(ClientError) as e:
        temp.put_record(StreamName="secret-ledger", Data=b"x", PartitionKey="k")
    assert error_of(e)[0] == "AccessDeniedException"
    temp_sts = client(iam_server, creds["AccessKeyId"], "sts", secret=creds["SecretAccessKey"],
                      token=creds["SessionToken"])
    with pytest.raises(ClientError) as e:
        temp_sts.get_session_token()
    assert error_of(e) == ("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    # A token altered, or used with another key, is not accepted.
    token = creds["SessionToken"]
    middle = len(token) // 2
    altered = token[:middle] + ("B" if token[middle] == "A" else "A") + token[middle + 1:]
    assert altered != token
    forged = client(iam_server, creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=altered)
    with pytest.raises(ClientError) as e:
        forged.list_shards(StreamName="app-orders")
    assert error_of(e) == ("UnrecognizedClientException",
                           "The security token included in the request is invalid.", 400)
    with pytest.raises(ClientError) as e:
        client(iam_server, WRITER, "sts", validate=False).get_session_token(DurationSeconds=60)
    assert error_of(e) == ("ValidationError", "1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", 400)


def assume(sts_client, role_name, session="s1", **kw):
    return sts_client.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
                                  RoleSessionName=session, **kw)


def session_client(srv, creds, service="kinesis"):
    return client(srv, creds["AccessKeyId"], service, secret=creds["SecretAccessKey"], token=creds["SessionToken"])


def test_assume_role_and_chain(iam_server):
    sts = client(iam_server, WRITER, "sts")
    out = assume(sts, "auditor", "audit-1")
    role_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/auditor/audit-1"
    assert out["AssumedRoleUser"]["Arn"] == role_arn
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":audit-1")
    k = session_client(iam_server, out["Credentials"])
    assert k.describe_stream_summary(StreamName="secret-ledger")["StreamDescriptionSummary"]["StreamName"] == "secret-ledger"
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName="app-orders", Data=b"x", PartitionKey="k")
    assert error_of(e)[1] == denied(role_arn, "kinesis:PutRecord", stream_arn("app-orders"), "no-identity")
    assert session_client(iam_server, out["Credentials"], "sts").get_caller_identity()["Arn"] == role_arn
    # Role chaining: at most an hour.
    chain_sts = session_client(iam_server, out["Credentials"], "sts")
    with pytest.raises(ClientError) as e:
        assume(chain_sts, "chained", DurationSeconds=7200)
    assert error_of(e) == ("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", 400)
    chained = assume(chain_sts, "chained")
    assert session_client(iam_server, chained["Credentials"]).list_streams()["StreamNames"]
    # Someone the trust policy does not name.
    with pytest.raises(ClientError) as e:
        assume(client(iam_server, ANALYST, "sts"), "auditor")
    assert error_of(e)[0] == "AccessDenied" and error_of(e)[2] == 403
    assert "sts:AssumeRole" in error_of(e)[1]
    # Across accounts: the trust names the account, and the outsider's own policy allows it.
    assume(client(iam_server, OUTSIDER, "sts"), "auditor", "from-outside")
    # A role that does not exist answers as one that may not be assumed.
    with pytest.raises(ClientError) as e:
        assume(sts, "no-such-role")
    assert error_of(e)[0] == "AccessDenied"


def test_session_policy_limits_the_role(iam_server):
    out = assume(client(iam_server, WRITER, "sts"), "auditor", "narrow",
                 Policy=policy(allow("kinesis:ListShards")))
    assert out["PackedPolicySize"] >= 1
    k = session_client(iam_server, out["Credentials"])
    k.list_shards(StreamName="app-orders")
    with pytest.raises(ClientError) as e:
        k.describe_stream_summary(StreamName="app-orders")
    role_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/auditor/narrow"
    assert error_of(e)[1] == denied(role_arn, "kinesis:DescribeStreamSummary", stream_arn("app-orders"),
                                    "no-session")
    with pytest.raises(ClientError) as e:
        assume(client(iam_server, WRITER, "sts"), "auditor",
               Policy='{"Version": "2012-10-17", "Statement": {"Effect": "Allow"}}')
    assert error_of(e) == ("MalformedPolicyDocument", "Missing required field Action", 400)
    with pytest.raises(ClientError) as e:
        assume(client(iam_server, WRITER, "sts"), "auditor", DurationSeconds=10800)
    assert error_of(e) == ("ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", 400)


def test_sdk_role_profile_assumes_through_freshet(iam_server, tmp_path):
    config = tmp_path / "config"
    creds = tmp_path / "credentials"
    creds.write_text(f"[base]\naws_access_key_id = {WRITER}\naws_secret_access_key = {WRITER.lower()}-secret\n")
    config.write_text(
        f"[profile base]\nregion = {REGION}\nendpoint_url = {iam_server.endpoint}\n\n"
        f"[profile auditor]\nregion = {REGION}\nrole_arn = arn:aws:iam::{ACCOUNT}:role/auditor\n"
        f"source_profile = base\nrole_session_name = from-profile\nendpoint_url = {iam_server.endpoint}\n")
    saved = {k: os.environ.get(k) for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(creds))
    try:
        session = boto3.session.Session(profile_name="auditor")
        who = session.client("sts", endpoint_url=iam_server.endpoint).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/auditor/from-profile"
        assert "app-orders" in session.client("kinesis", endpoint_url=iam_server.endpoint).list_streams()["StreamNames"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_principals_file_reloads_on_change_and_sighup(iam_server):
    w = client(iam_server, WRITER)
    with pytest.raises(ClientError):
        w.put_record(StreamName="secret-ledger", Data=b"x", PartitionKey="k")
    path = iam_server.principals_path
    original = path.read_text()
    try:
        path.write_text(principals_text(writer_extra=[allow("kinesis:PutRecord", stream_arn("secret-ledger"))]))
        deadline = time.monotonic() + 10
        while True:
            try:
                w.put_record(StreamName="secret-ledger", Data=b"after-reload", PartitionKey="k")
                break
            except ClientError:
                assert time.monotonic() < deadline, "the changed principals file was not picked up"
                time.sleep(0.2)
        # A broken file is refused and the last good one stays.
        path.write_text("[[users]]\nname = \n")
        os.kill(iam_server.proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        w.put_record(StreamName="secret-ledger", Data=b"still", PartitionKey="k")
        assert "principals file not reloaded" in iam_server.log_tail(200)
    finally:
        path.write_text(original)
        os.kill(iam_server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            w.put_record(StreamName="secret-ledger", Data=b"x", PartitionKey="k")
        except ClientError as e:
            assert error_of_exc(e) == "AccessDeniedException"
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)


def error_of_exc(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def test_anonymous_server_answers_sts(server):
    sts = make_client(server.endpoint, service="sts")
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    out = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/any/path/app", RoleSessionName="s1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
    with pytest.raises(ClientError) as e:
        make_client(server.endpoint, service="sts", validate=False).assume_role(
            RoleArn="arn:aws:iam::000000000000:role/x", RoleSessionName="bad name!")
    assert error_of(e)[0] == "ValidationError"


def signed_get(srv, key, path):
    import http.client

    from freshet_e2e import RawResponse, sign_headers
    hdrs = sign_headers("GET", srv.address, path, {}, b"", access_key=key, secret_key=f"{key.lower()}-secret")
    host, port = srv.host_port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        return RawResponse(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def test_console_and_iceberg_endpoints_are_authorized(iam_server):
    # The console's shard counters are kinesis:ListShards on the stream.
    ok = signed_get(iam_server, WRITER, "/console/api/streams/app-orders/shards")
    assert ok.status == 200, ok
    refused = signed_get(iam_server, WRITER, "/console/api/streams/secret-ledger/shards")
    assert refused.status == 400
    assert refused.json() == {"__type": "AccessDeniedException", "message": denied(
        user_arn("writer"), "kinesis:ListShards", stream_arn("secret-ledger"), "no-identity")}
    # The Iceberg catalog is Glue's: a principal without Glue permissions is forbidden.
    refused = signed_get(iam_server, NOBODY, f"/iceberg/v1/catalogs/{ACCOUNT}/namespaces")
    assert refused.status == 403
    error = refused.json()["error"]
    assert error["type"] == "ForbiddenException" and error["code"] == 403
    assert error["message"].startswith(f"User: {user_arn('nobody')} is not authorized to perform: glue:GetDatabases")
