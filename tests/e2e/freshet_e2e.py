"""Shared helpers for Freshet's end-to-end tests.

Everything here talks to a real `freshet serve` process over HTTP: the server
lifecycle (start, SIGTERM, SIGKILL, restart on the same data dir), boto3 client
construction, a raw AWS JSON 1.1 request helper for checking error envelopes
byte for byte, a small SigV4 signer (header and query-string forms) for the
auth tests, and assertion helpers for AWS-shaped errors.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

BROWSER_DIR = Path(__file__).resolve().parent.parent / "browser"
# Browser checks run headless Chromium from Node (Playwright with the system Chromium).
needs_browser = pytest.mark.skipif(
    shutil.which("node") is None or not Path("/usr/bin/chromium").exists()
    or not (BROWSER_DIR / "node_modules" / "playwright-core").exists(),
    reason="node, /usr/bin/chromium and tests/browser/node_modules (scripts/test.sh installs them)")

FRESHET_BIN = os.environ.get("FRESHET_BIN", "/var/tmp/freshet-target/debug/freshet")
REGION = "us-east-1"
ACCOUNT = "000000000000"
TARGET_PREFIX = "Kinesis_20131202"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
HASH_KEY_SPACE = 2**128
READY_TIMEOUT_S = 30.0

# Credentials the auth-enabled servers are started with.
AUTH_ACCESS_KEY = "AKIDFRESHETE2E"
AUTH_SECRET_KEY = "freshet-e2e-secret-key"

_ADDR_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$")


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


def not_found_message(name: str) -> str:
    # AWS's wording, recorded by kinesalite (db/index.js getStream; actions/putRecord.js).
    return f"Stream {name} under account {ACCOUNT} not found."


# --------------------------------------------------------------------------- server


class FreshetServer:
    """One `freshet serve` process bound to an ephemeral port on 127.0.0.1."""

    def __init__(self, data_dir: Path, work_dir: Path, *, create_delay_ms=0, delete_delay_ms=0,
                 update_delay_ms=0, access_key_id=None, secret_access_key=None, extra_args=(),
                 env=None):
        self.data_dir = Path(data_dir)
        self.work_dir = Path(work_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file = self.work_dir / "ready"
        self.log_path = self.work_dir / "server.log"
        self.delays = (create_delay_ms, delete_delay_ms, update_delay_ms)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.extra_args = list(extra_args)
        # Firehose delivery streams become ACTIVE at once unless a test asks otherwise.
        self.env = {"FRESHET_FIREHOSE__CREATE_DELAY_MS": str(create_delay_ms), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None
        self.starts = 0

    # -- lifecycle

    def command(self) -> list[str]:
        create, delete, update = self.delays
        cmd = [
            FRESHET_BIN, "serve",
            "--listen", "127.0.0.1:0",
            "--data-dir", str(self.data_dir),
            "--ready-file", str(self.ready_file),
            "--create-delay-ms", str(create),
            "--delete-delay-ms", str(delete),
            "--update-delay-ms", str(update),
        ]
        if self.access_key_id is not None:
            cmd += ["--access-key-id", self.access_key_id,
                    "--secret-access-key", self.secret_access_key]
        return cmd + self.extra_args

    def start(self, wait: bool = True) -> "FreshetServer":
        """Starts the server and, unless `wait` is false, waits until it listens."""
        if not os.path.exists(FRESHET_BIN):
            pytest.fail(f"freshet binary not found at {FRESHET_BIN} (set FRESHET_BIN)")
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        if self.ready_file.exists():
            self.ready_file.unlink()
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env={**os.environ, "RUST_BACKTRACE": "1", **self.env})
        log.close()
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> "FreshetServer":
        """Waits until the server has written its address to the ready file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"freshet exited with {self.proc.returncode} before becoming ready\n{self.log_tail()}")
            try:
                text = self.ready_file.read_text().strip()
            except FileNotFoundError:
                text = ""
            if _ADDR_RE.match(text):
                self.address = text
                return self
            time.sleep(0.02)
        self.kill()
        pytest.fail(f"freshet did not write {self.ready_file} within {timeout}s\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"freshet did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything that was not already durable."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> "FreshetServer":
        if self.proc is not None and self.proc.poll() is None:
            code = self.stop()
            assert code == 0, f"SIGTERM exit status {code}\n{self.log_tail()}"
        return self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no server log)"
        return "----- server log tail -----\n" + "\n".join(lines[-n:])

    # -- access

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.address.rsplit(":", 1)
        return host, int(port)

    def client(self, **kw):
        return make_client(self.endpoint, **kw)

    def raw(self, target, body=b"", **kw) -> "RawResponse":
        return raw_request(self, target, body, **kw)


# --------------------------------------------------------------------------- clients


def make_client(endpoint: str, *, access_key: str = "AKIDDUMMY", secret_key: str = "dummysecret",
                validate: bool = True, timeout: float = 30.0, unsigned: bool = False,
                service: str = "kinesis"):
    cfg = dict(retries={"max_attempts": 0}, parameter_validation=validate,
               connect_timeout=5, read_timeout=timeout)
    if unsigned:
        from botocore import UNSIGNED
        cfg["signature_version"] = UNSIGNED
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=Config(**cfg),
    )


# --------------------------------------------------------------------------- raw HTTP


class RawResponse:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def error_type(self) -> str:
        """`__type` with any `namespace#` prefix removed, as botocore does."""
        return self.json()["__type"].rsplit("#", 1)[-1]

    @property
    def error_message(self):
        doc = self.json()
        return doc.get("message", doc.get("Message"))

    def __repr__(self):
        return f"RawResponse({self.status}, {self.body[:500]!r})"


def raw_request(server: FreshetServer, target, body=b"", *, headers=None, content_type=JSON_CONTENT_TYPE,
                method="POST", path="/", sign=False, timeout=30.0) -> RawResponse:
    """POST an arbitrary body. `target` is the operation name ("PutRecord"), a full
    X-Amz-Target value (contains a '.'), or None to omit the header."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    hdrs = {}
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    if target is not None:
        hdrs["X-Amz-Target"] = target if "." in target else f"{TARGET_PREFIX}.{target}"
    hdrs.update(headers or {})
    if sign:
        hdrs = sign_headers(method, server.address, path, hdrs, body,
                            access_key=server.access_key_id or "AKIDDUMMY",
                            secret_key=server.secret_access_key or "dummysecret")
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return RawResponse(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()


# --------------------------------------------------------------------------- SigV4


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _canonical_query(params: dict) -> str:
    q = lambda s: urllib.parse.quote(str(s), safe="-_.~")  # noqa: E731
    return "&".join(f"{q(k)}={q(v)}" for k, v in sorted(params.items()))


def sign_headers(method, host, path, headers, body, *, access_key, secret_key, region=REGION,
                 service="kinesis", when: _dt.datetime | None = None) -> dict:
    """Return `headers` plus X-Amz-Date and an AWS4-HMAC-SHA256 Authorization header."""
    when = when or _dt.datetime.now(_dt.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    hdrs = dict(headers)
    hdrs["Host"] = host
    hdrs["X-Amz-Date"] = amz_date
    canon = {k.lower(): " ".join(str(v).split()) for k, v in hdrs.items()}
    signed = ";".join(sorted(canon))
    canonical_headers = "".join(f"{k}:{canon[k]}\n" for k in sorted(canon))
    payload_hash = hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, path, "", canonical_headers, signed, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(_signing_key(secret_key, date, region, service), sts.encode(), hashlib.sha256).hexdigest()
    hdrs["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                             f"SignedHeaders={signed}, Signature={sig}")
    return hdrs  # http.client sends this Host header instead of adding its own


def presign_query(method, host, path, headers, body, *, access_key, secret_key, region=REGION,
                  service="kinesis", expires=300, when: _dt.datetime | None = None) -> str:
    """Return `path?query` carrying a SigV4 query-string signature (X-Amz-Signature).

    The signed headers are host plus every header given; the payload hash is the
    SHA-256 of the body (the general SigV4 rule; UNSIGNED-PAYLOAD is S3's)."""
    when = when or _dt.datetime.now(_dt.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    canon = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    canon["host"] = host
    signed = ";".join(sorted(canon))
    scope = f"{date}/{region}/{service}/aws4_request"
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": signed,
    }
    cq = _canonical_query(params)
    canonical_headers = "".join(f"{k}:{canon[k]}\n" for k in sorted(canon))
    creq = "\n".join([method, path, cq, canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(_signing_key(secret_key, date, region, service), sts.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{cq}&X-Amz-Signature={sig}"


# --------------------------------------------------------------------------- errors


def client_error(excinfo_or_exc) -> ClientError:
    exc = getattr(excinfo_or_exc, "value", excinfo_or_exc)
    assert isinstance(exc, ClientError), f"expected a ClientError, got {exc!r}"
    return exc


def error_of(excinfo) -> tuple[str, str, int]:
    """A boto3 error's code, message and HTTP status."""
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"].get("Message", ""), e["ResponseMetadata"]["HTTPStatusCode"]


def assert_error(excinfo, code: str, message=None, status: int = 400):
    """Check a boto3 ClientError: error code, HTTP status, and the message.

    `message` may be an exact string, a compiled regex (searched), or a callable
    predicate; None checks only that a message is present."""
    err = client_error(excinfo)
    got_code = err.response["Error"]["Code"]
    got_msg = err.response["Error"].get("Message", "")
    got_status = err.response["ResponseMetadata"]["HTTPStatusCode"]
    assert got_code == code, f"error code {got_code!r} != {code!r} (message: {got_msg!r})"
    assert got_status == status, f"HTTP status {got_status} != {status} for {code}: {got_msg!r}"
    check_message(got_msg, message)
    return got_msg


def check_message(got_msg, message):
    if message is None:
        return
    if isinstance(message, str):
        assert got_msg == message, f"message mismatch:\n  got:  {got_msg!r}\n  want: {message!r}"
    elif isinstance(message, re.Pattern):
        assert message.search(got_msg or ""), f"message {got_msg!r} does not match /{message.pattern}/"
    else:
        assert message(got_msg), f"message {got_msg!r} rejected by predicate"


def assert_raw_error(resp: RawResponse, code: str, message=None, status: int = 400):
    assert resp.status == status, f"status {resp.status} != {status}: {resp!r}"
    assert resp.headers.get("content-type", "").startswith(JSON_CONTENT_TYPE), resp.headers
    assert resp.error_type == code, f"__type {resp.error_type!r} != {code!r}: {resp!r}"
    check_message(resp.error_message, message)


def validation_message(*clauses: str) -> str:
    """AWS's ValidationException text for the given clauses, in the given order."""
    n = len(clauses)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(clauses)


def validation_set(*clauses: str):
    """Predicate: a ValidationException text holding exactly these clauses, in any order.

    AWS orders the clauses by its internal member order, which is not documented."""
    n = len(clauses)
    prefix = f"{n} validation error{'s' if n > 1 else ''} detected: "

    def check(msg):
        if not msg or not msg.startswith(prefix):
            return False
        return sorted(msg[len(prefix):].split("; ")) == sorted(clauses)
    return check


def constraint(value, member: str, rule: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{member}' failed to satisfy constraint: {rule}"


# --------------------------------------------------------------------------- streams


def wait_for_status(client, name: str, status: str = "ACTIVE", timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if last["StreamStatus"] == status:
            return last
        time.sleep(0.02)
    raise AssertionError(f"stream {name} not {status} within {timeout}s; last: {last}")


def wait_for_deleted(client, name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.describe_stream_summary(StreamName=name)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return
            raise
        time.sleep(0.02)
    raise AssertionError(f"stream {name} still exists after {timeout}s")


def create_stream(client, name: str, shards: int | None = 1, *, mode: str | None = None, **kw) -> dict:
    args = dict(StreamName=name, **kw)
    if shards is not None:
        args["ShardCount"] = shards
    if mode is not None:
        args["StreamModeDetails"] = {"StreamMode": mode}
    client.create_stream(**args)
    return wait_for_status(client, name)


def list_all_shards(client, name: str) -> list[dict]:
    shards, token = [], None
    while True:
        resp = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=name)
        shards += resp["Shards"]
        token = resp.get("NextToken")
        if not token:
            return shards


def shard_iterator(client, name: str, shard_id: str, kind: str = "TRIM_HORIZON", **kw) -> str:
    return client.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType=kind,
                                     **kw)["ShardIterator"]


def read_shard(client, name: str, shard_id: str, kind: str = "TRIM_HORIZON", *, limit: int = 10000,
               max_calls: int = 200, **kw) -> list[dict]:
    """Read from an iterator until a call returns nothing and MillisBehindLatest is 0."""
    it = shard_iterator(client, name, shard_id, kind, **kw)
    out = []
    for _ in range(max_calls):
        resp = client.get_records(ShardIterator=it, Limit=limit)
        out += resp["Records"]
        it = resp.get("NextShardIterator")
        if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
            return out
        if it is None:
            return out
    raise AssertionError(f"shard {shard_id} of {name} not drained within {max_calls} GetRecords calls")


def md5_hash_key(partition_key: str) -> int:
    """AWS maps a partition key to a 128-bit hash key: MD5 of its UTF-8 bytes, big-endian."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def shard_for_hash(shards: list[dict], hash_key: int) -> str:
    owners = [s["ShardId"] for s in shards
              if "EndingSequenceNumber" not in s["SequenceNumberRange"]
              and int(s["HashKeyRange"]["StartingHashKey"]) <= hash_key <= int(s["HashKeyRange"]["EndingHashKey"])]
    assert len(owners) == 1, f"hash key {hash_key} owned by {owners}"
    return owners[0]


def expected_hash_ranges(n: int) -> list[tuple[int, int]]:
    """AWS splits the key space evenly: shard i starts at i*floor(2^128/n), the last ends at 2^128-1
    (kinesalite test/createStream.js records these bounds for a 3-shard stream on AWS)."""
    step = HASH_KEY_SPACE // n
    return [(i * step, (HASH_KEY_SPACE - 1) if i == n - 1 else (i + 1) * step - 1) for i in range(n)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


AWS_CLI = shutil.which("aws")


def aws_cli(endpoint: str, tmp_path, service: str, **extra_env: str):
    """`run(*args, expect_ok=True)`: the AWS CLI's `service` commands against Freshet, with
    throwaway credentials and configuration, no retries, and `extra_env`. Returns the parsed JSON
    output (None when empty), or the finished process when `expect_ok` is False."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDCLI",
        "AWS_SECRET_ACCESS_KEY": "cli-secret",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_MAX_ATTEMPTS": "1",
        **extra_env,
    }
    env.pop("AWS_PROFILE", None)

    def run(*args, expect_ok=True):
        cmd = [AWS_CLI, "--endpoint-url", endpoint, "--output", "json", service, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if expect_ok:
            assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}"
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc
    return run
