"""Real parts for the Firehose end-to-end tests: an S3-compatible server (moto_server) and an
HTTPS endpoint that follows Firehose's documented HTTP delivery contract."""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/firehose"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def local_objects(data_dir: Path, bucket: str) -> dict[str, bytes]:
    """Objects the embedded S3 target wrote: key -> bytes."""
    root = Path(data_dir) / "s3" / bucket
    out = {}
    if root.exists():
        for path in sorted(root.rglob("*")):
            if path.is_file() and ".tmp-" not in path.name:
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


class MotoS3:
    """moto_server on 127.0.0.1 with a bucket API reachable through boto3."""

    def __init__(self, work: Path):
        exe = shutil.which("moto_server")
        if exe is None:
            pytest.skip("moto_server is not installed")
        self.port = free_port()
        self.log = open(work / "moto.log", "wb")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(s3={"addressing_style": "path"}))

        def up():
            try:
                self.s3.list_buckets()
                return True
            except Exception:
                return False

        wait_until(up, timeout=30, what="moto_server")

    def objects(self, bucket: str) -> dict[str, bytes]:
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                out[o["Key"]] = self.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return out

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def self_signed_cert(work: Path) -> tuple[Path, Path]:
    cert, key = work / "endpoint.pem", work / "endpoint.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    # An end-entity certificate (webpki refuses a CA certificate as a server's).
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class FirehoseEndpoint:
    """An HTTPS receiver written to Firehose's HTTP endpoint delivery contract: it checks the
    headers and body shape, answers 200 with the request id, and can be told to fail."""

    def __init__(self, work: Path, access_key="secret-key"):
        self.cert, key = self_signed_cert(work)
        self.access_key = access_key
        self.requests: list[dict] = []
        self.fail_next = 0
        self.fail_always = False
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                doc = json.loads(body)
                entry = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": doc,
                         "records": [base64.b64decode(r["data"]) for r in doc["records"]]}
                with outer.lock:
                    outer.requests.append(entry)
                    fail = outer.fail_always or outer.fail_next > 0
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                    entry["ok"] = not fail
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = json.dumps({"requestId": doc["requestId"],
                                     "timestamp": int(time.time() * 1000)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> list[bytes]:
        """Records of successful requests, in order."""
        with self.lock:
            return [rec for r in self.requests if r["ok"] for rec in r["records"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class LambdaServer:
    """A Lambda-compatible server for the tests: Lambda's Invoke REST API
    (`POST /2015-03-31/functions/{name}/invocations`) running `handler(event)` in process, with
    the real service's error signal (`X-Amz-Function-Error: Unhandled`) when it raises. It keeps
    every event it was given, and can be told to answer 500 a number of times."""

    def __init__(self, handler):
        self.handler = handler
        self.events: list[dict] = []
        self.paths: list[str] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.paths.append(self.path)
                    fail = outer.fail_next > 0
                    if fail:
                        outer.fail_next -= 1
                    else:
                        outer.events.append(event)
                if fail:
                    self.reply(500, {"Type": "Service", "message": "try again"})
                    return
                try:
                    self.reply(200, outer.handler(event))
                except Exception as e:  # the function's own failure
                    self.reply(200, {"errorMessage": str(e), "errorType": type(e).__name__},
                               function_error="Unhandled")

            def reply(self, status, doc, function_error=None):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if function_error:
                    self.send_header("X-Amz-Function-Error", function_error)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class OpenSearch:
    """osmem-server (an OpenSearch-compatible server: `_bulk`, mappings, `_count`, `_search`)
    on 127.0.0.1, behind an HTTPS proxy with a self-signed certificate (Firehose's model only
    takes https:// endpoints). The proxy can be told to answer 503 a number of times."""

    def __init__(self, work: Path):
        try:
            import osmem_server
        except ImportError:
            pytest.skip("osmem-server is not installed")
        exe = Path(osmem_server.__file__).parent / "bin" / "osmem-server"
        self.port = free_port()
        self.log = open(work / "osmem.log", "wb")
        self.proc = subprocess.Popen([str(exe), "-addr", f"127.0.0.1:{self.port}", "-no-stdin-watch",
                                      "-parent-pid", str(os.getpid())],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: self._up(), timeout=30, what="osmem-server")
        self.cert, key = self_signed_cert(work)
        self.fail_next = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        outer = self

        class Proxy(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.requests.append(body)
                    fail = outer.fail_next > 0
                    if fail:
                        outer.fail_next -= 1
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, data = outer.request(method, self.path, body,
                                             self.headers.get("Content-Type", "application/json"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                self.forward("POST")

            def do_PUT(self):
                self.forward("PUT")

            def do_GET(self):
                self.forward("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _up(self) -> bool:
        try:
            return self.request("GET", "/", b"")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: bytes = b"",
                content_type: str = "application/json") -> tuple[int, bytes]:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def documents(self, index: str) -> list[dict]:
        """Every document of an index (or pattern), refreshed first."""
        self.request("POST", f"/{index}/_refresh")
        status, body = self.request("POST", f"/{index}/_search?size=10000",
                                    json.dumps({"query": {"match_all": {}}}).encode())
        if status != 200:
            return []
        return json.loads(body)["hits"]["hits"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.proc.kill()
        self.proc.wait()
        self.log.close()


class HecServer:
    """A Splunk HTTP Event Collector written to Splunk's documented protocol for the tests:
    `/services/collector/event` (concatenated event JSON, each with an `event` field) and
    `/services/collector/raw`, `Authorization: Splunk <token>`, the `X-Splunk-Request-Channel`
    header, an `ackId` per request, and `/services/collector/ack?channel=` answering which acks
    are indexed. An ack is reported after `ack_after_polls` polls; requests can be told to fail
    with 503 "Server is busy" (HEC code 9)."""

    def __init__(self, token="hec-token"):
        self.token = token
        self.events: list = []
        self.raw: list[bytes] = []
        self.channels: set[str] = set()
        self.ack_after_polls = 1
        self.fail_next = 0
        self.polls: dict[tuple[str, int], int] = {}
        self.next_ack: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Splunk {outer.token}":
                    return self.reply(401, {"text": "Invalid token", "code": 4})
                channel = self.headers.get("X-Splunk-Request-Channel")
                path, _, query = self.path.partition("?")
                if path == "/services/collector/ack":
                    channel = channel or dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("channel")
                    acks = {}
                    with outer.lock:
                        for ack in json.loads(body)["acks"]:
                            n = outer.polls.get((channel, ack))
                            if n is None:
                                acks[str(ack)] = False
                                continue
                            outer.polls[(channel, ack)] = n + 1
                            acks[str(ack)] = n + 1 > outer.ack_after_polls
                    return self.reply(200, {"acks": acks})
                if not channel:
                    return self.reply(400, {"text": "Data channel is missing", "code": 10})
                with outer.lock:
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                        return self.reply(503, {"text": "Server is busy", "code": 9})
                if path == "/services/collector/event":
                    events, text, decoder, at = [], body.decode(), json.JSONDecoder(), 0
                    while at < len(text):
                        while at < len(text) and text[at].isspace():
                            at += 1
                        if at == len(text):
                            break
                        try:
                            doc, at = decoder.raw_decode(text, at)
                        except ValueError:
                            return self.reply(400, {"text": "Invalid data format", "code": 6})
                        if not isinstance(doc, dict) or "event" not in doc:
                            return self.reply(400, {"text": "Event field is required", "code": 12})
                        events.append(doc)
                elif path != "/services/collector/raw":
                    return self.reply(404, {"text": "The requested URL was not found on this server.", "code": 404})
                with outer.lock:
                    outer.channels.add(channel)
                    if path == "/services/collector/event":
                        outer.events.extend(events)
                    else:
                        outer.raw.append(body)
                    ack = outer.next_ack.get(channel, 0)
                    outer.next_ack[channel] = ack + 1
                    outer.polls[(channel, ack)] = 0
                self.reply(200, {"text": "Success", "code": 0, "ackId": ack})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with password (SCRAM) authentication, run as
    the `postgres` user when the tests run as root (PostgreSQL refuses to run as root)."""

    USER, PASSWORD = "firehose", "fh-secret"

    def __init__(self, work: Path):
        import glob
        import pwd
        import tempfile
        bindir = None
        for candidate in [os.path.dirname(os.path.realpath(shutil.which("initdb") or ""))] + sorted(
                glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
            if candidate and os.path.exists(os.path.join(candidate, "pg_ctl")):
                bindir = candidate
                break
        if bindir is None:
            pytest.skip("PostgreSQL is not installed")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="freshet-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        pwfile = self.dir / "pw"
        pwfile.write_text(self.PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self.run("initdb", "-D", str(self.dir / "data"), "-U", self.USER, "--auth=scram-sha-256",
                 f"--pwfile={pwfile}")
        self.port = free_port()
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.jdbc = f"jdbc:redshift://127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str):
        subprocess.run(self.as_user + [os.path.join(self.bindir, tool), *args], check=True,
                       capture_output=True)

    def sql(self, statement: str) -> str:
        """Runs a statement with psql; its rows as unaligned text."""
        out = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER,
             "-d", "postgres", "-At", "-c", statement],
            env={**os.environ, "PGPASSWORD": self.PASSWORD}, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def close(self):
        subprocess.run(self.as_user + [os.path.join(self.bindir, "pg_ctl"), "-D", str(self.dir / "data"),
                                       "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def put_between_kills(srv, stream: str, cycles: int, seed: int, window: tuple[float, float],
                      record) -> list[bytes]:
    """Puts batches of 100 records (`record(cycle, n)`) into a delivery stream for a random
    time within `window` seconds, SIGKILLs the server and starts it again, `cycles` times; the
    records whose put was acknowledged, in order."""
    acked: list[bytes] = []
    rng = random.Random(seed)
    n = 0
    for cycle in range(cycles):
        deadline = time.monotonic() + rng.uniform(*window)
        while time.monotonic() < deadline:
            batch = [record(cycle, n + i) for i in range(100)]
            try:
                out = srv.client(service="firehose").put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": r} for r in batch])
            except Exception:
                break
            assert out["FailedPutCount"] == 0
            acked.extend(batch)
            n += 100
        srv.kill()
        srv.start()
    return acked
