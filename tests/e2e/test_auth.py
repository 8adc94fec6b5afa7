"""SigV4 verification on a server started with --access-key-id/--secret-access-key.

Error types and texts are AWS's: kinesalite index.js ("Missing Authentication
Token") and the messages every AWS JSON service returns for bad signatures and
unknown keys.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import (
    AUTH_ACCESS_KEY, AUTH_SECRET_KEY, JSON_CONTENT_TYPE, RawResponse, assert_error, assert_raw_error,
    create_stream, make_client, presign_query, raw_request, sign_headers,
)

SIGNATURE_MISMATCH = re.compile(r"^The request signature we calculated does not match the signature you provided\.")
INVALID_TOKEN = "The security token included in the request is invalid."


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    from freshet_e2e import FreshetServer
    root = tmp_path_factory.mktemp("freshet-auth")
    srv = FreshetServer(root / "data", root / "run", access_key_id=AUTH_ACCESS_KEY,
                        secret_access_key=AUTH_SECRET_KEY).start()
    yield srv
    if srv.running():
        srv.stop()


def send(server, method, path, headers, body) -> RawResponse:
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return RawResponse(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def base_headers(op: str) -> dict:
    return {"Content-Type": JSON_CONTENT_TYPE, "X-Amz-Target": f"Kinesis_20131202.{op}"}


def test_good_signature_passes(auth_server, stream_name):
    c = make_client(auth_server.endpoint, access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    create_stream(c, stream_name, 1)
    c.put_record(StreamName=stream_name, Data=b"signed", PartitionKey="k")
    assert stream_name in c.list_streams()["StreamNames"]


def test_own_header_signer_passes(auth_server):
    body = b'{"Limit": 5}'
    hdrs = sign_headers("POST", auth_server.address, "/", base_headers("ListStreams"), body,
                        access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    resp = send(auth_server, "POST", "/", hdrs, body)
    assert resp.status == 200, resp
    assert "StreamNames" in resp.json()


def test_bad_secret_is_invalid_signature(auth_server, stream_name):
    c = make_client(auth_server.endpoint, access_key=AUTH_ACCESS_KEY, secret_key="wrong-secret")
    with pytest.raises(ClientError) as e:
        c.create_stream(StreamName=stream_name, ShardCount=1)
    # AWS's text continues "Check your AWS Secret Access Key and signing method. Consult the
    # service documentation for details." (and may include the canonical string); prefix only.
    assert_error(e, "InvalidSignatureException", SIGNATURE_MISMATCH)
    good = make_client(auth_server.endpoint, access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    assert stream_name not in good.list_streams()["StreamNames"]


def test_unknown_access_key_is_unrecognized_client(auth_server):
    c = make_client(auth_server.endpoint, access_key="AKIDUNKNOWN", secret_key=AUTH_SECRET_KEY)
    with pytest.raises(ClientError) as e:
        c.list_streams()
    assert_error(e, "UnrecognizedClientException", INVALID_TOKEN)


def test_unsigned_request_is_missing_token(auth_server):
    resp = raw_request(auth_server, "ListStreams", {})
    assert_raw_error(resp, "MissingAuthenticationTokenException", "Missing Authentication Token")
    # The same through boto3 with signing turned off.
    c = make_client(auth_server.endpoint, unsigned=True)
    with pytest.raises(ClientError) as e:
        c.list_streams()
    assert_error(e, "MissingAuthenticationTokenException", "Missing Authentication Token")


def test_body_tampered_after_signing(auth_server, stream_name):
    body = json.dumps({"StreamName": stream_name, "ShardCount": 1}).encode()
    hdrs = sign_headers("POST", auth_server.address, "/", base_headers("CreateStream"), body,
                        access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    tampered = body.replace(b'"ShardCount": 1', b'"ShardCount": 9')
    assert_raw_error(send(auth_server, "POST", "/", hdrs, tampered), "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_signed_header_tampered_after_signing(auth_server):
    body = b"{}"
    hdrs = sign_headers("POST", auth_server.address, "/", base_headers("ListStreams"), body,
                        access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    hdrs["X-Amz-Target"] = "Kinesis_20131202.DescribeLimits"  # x-amz-target is a signed header
    assert_raw_error(send(auth_server, "POST", "/", hdrs, body), "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_stale_request_date_rejected(auth_server):
    body = b"{}"
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)
    hdrs = sign_headers("POST", auth_server.address, "/", base_headers("ListStreams"), body,
                        access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY, when=old)
    # AWS allows 15 minutes of skew: "Signature expired: <date> is now earlier than <date> (<date> - 15 min.)"
    assert_raw_error(send(auth_server, "POST", "/", hdrs, body), "InvalidSignatureException",
                     re.compile(r"^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$"))


def test_clock_skew_window_is_fifteen_minutes_either_way(auth_server):
    body = b"{}"
    now = dt.datetime.now(dt.timezone.utc)
    for offset, ok in ((-14, True), (14, True), (16, False), (-16, False)):
        hdrs = sign_headers("POST", auth_server.address, "/", base_headers("ListStreams"), body,
                            access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY,
                            when=now + dt.timedelta(minutes=offset))
        resp = send(auth_server, "POST", "/", hdrs, body)
        if ok:
            assert resp.status == 200, (offset, resp)
        else:
            # The same request replayed later than the window, or signed ahead of it, is refused.
            pattern = r"^Signature not yet current: .* \+ 15 min\.\)$" if offset > 0 else r"^Signature expired: .* - 15 min\.\)$"
            assert_raw_error(resp, "InvalidSignatureException", re.compile(pattern))


def test_presigned_url_expires(auth_server):
    body = b"{}"
    headers = base_headers("ListStreams")
    signed_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=120)
    path = presign_query("POST", auth_server.address, "/", headers, body, access_key=AUTH_ACCESS_KEY,
                         secret_key=AUTH_SECRET_KEY, expires=60, when=signed_at)
    assert_raw_error(send(auth_server, "POST", path, headers, body), "InvalidSignatureException",
                     "Signature expired: the presigned request has expired.")
    # Still valid long after the skew window while its expiry lasts.
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)
    path = presign_query("POST", auth_server.address, "/", headers, body, access_key=AUTH_ACCESS_KEY,
                         secret_key=AUTH_SECRET_KEY, expires=3600, when=old)
    assert send(auth_server, "POST", path, headers, body).status == 200
    for expires, message in (("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
                             ("soon", "X-Amz-Expires should be a number"),
                             ("0", "X-Amz-Expires must be non-negative")):
        path = presign_query("POST", auth_server.address, "/", headers, body, access_key=AUTH_ACCESS_KEY,
                             secret_key=AUTH_SECRET_KEY, expires=expires)
        assert_raw_error(send(auth_server, "POST", path, headers, body), "IncompleteSignatureException", message)


def test_host_must_be_signed(auth_server):
    body = b"{}"
    hdrs = sign_headers("POST", auth_server.address, "/", base_headers("ListStreams"), body,
                        access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    auth = hdrs["Authorization"]
    signed = re.search(r"SignedHeaders=([^,]+)", auth).group(1)
    without = ";".join(h for h in signed.split(";") if h != "host")
    hdrs["Authorization"] = auth.replace(f"SignedHeaders={signed}", f"SignedHeaders={without}")
    assert_raw_error(send(auth_server, "POST", "/", hdrs, body), "InvalidSignatureException",
                     "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")


def test_presigned_query_string_request_passes(auth_server):
    body = b'{"Limit": 3}'
    headers = base_headers("ListStreams")
    path = presign_query("POST", auth_server.address, "/", headers, body,
                         access_key=AUTH_ACCESS_KEY, secret_key=AUTH_SECRET_KEY)
    assert "Authorization" not in headers
    resp = send(auth_server, "POST", path, headers, body)
    assert resp.status == 200, resp
    assert "StreamNames" in resp.json()


def test_presigned_query_string_with_wrong_secret(auth_server):
    body = b"{}"
    headers = base_headers("ListStreams")
    path = presign_query("POST", auth_server.address, "/", headers, body,
                         access_key=AUTH_ACCESS_KEY, secret_key="not-the-secret")
    assert_raw_error(send(auth_server, "POST", path, headers, body), "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_anonymous_server_accepts_any_credentials(server):
    # Without configured keys the server does not check signatures at all.
    for c in (make_client(server.endpoint, access_key="anything", secret_key="whatever"),
              make_client(server.endpoint, unsigned=True)):
        assert isinstance(c.list_streams(Limit=1)["StreamNames"], list)
