"""Fixtures for Freshet's end-to-end suite.

One shared server (session scope, anonymous, all state-transition delays 0)
serves most tests; every test gets its own stream names, so tests stay
independent on it. Tests that need a fresh server (exact listings, delays,
SigV4, restarts, crashes) start their own with `server_factory`.
"""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from freshet_e2e import FreshetServer, make_client, raw_request


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("freshet-shared")
    srv = FreshetServer(root / "data", root / "run").start()
    yield srv
    if srv.running():
        srv.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Start extra servers: `server_factory(data_dir=None, **FreshetServer kwargs)`.

    Servers still running at the end of the test are SIGKILLed."""
    started: list[FreshetServer] = []

    def make(data_dir=None, start=True, **kw) -> FreshetServer:
        n = len(started)
        srv = FreshetServer(data_dir or tmp_path / f"data{n}", tmp_path / f"run{n}", **kw)
        started.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in started:
        srv.kill()


@pytest.fixture(scope="session")
def client_factory():
    """`client_factory(endpoint, validate=True, access_key=..., secret_key=...)` -> boto3 kinesis client."""
    return make_client


@pytest.fixture
def kinesis(server):
    return server.client()


@pytest.fixture
def kinesis_nv(server):
    """A client with botocore's own parameter validation off, so bad input reaches the server."""
    return server.client(validate=False)


@pytest.fixture
def raw(server):
    """`raw(target, body, **kw)` posts arbitrary bytes/JSON to the shared server."""
    def send(target, body=b"", **kw):
        return raw_request(server, target, body, **kw)
    return send


def _unique(request, suffix="") -> str:
    base = re.sub(r"[^a-zA-Z0-9_.-]", "-", request.node.name)[:60]
    return f"e2e-{base}-{uuid.uuid4().hex[:8]}{suffix}"


@pytest.fixture
def _stream_cleanup(server):
    """Delete the shared server's streams a test made, so shard counts stay far below any limit."""
    names: list[str] = []
    yield names
    if not server.running():
        return
    client = server.client()
    for name in names:
        try:
            client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        except ClientError:
            pass  # never created, already deleted, or made on another server


@pytest.fixture
def stream_name(request, _stream_cleanup) -> str:
    """A stream name unique to this test (valid for AWS: [a-zA-Z0-9_.-]{1,128})."""
    name = _unique(request)
    _stream_cleanup.append(name)
    return name


@pytest.fixture
def name_factory(request, _stream_cleanup):
    """More unique names for tests that need several streams."""
    def make(suffix=""):
        name = _unique(request, suffix)
        _stream_cleanup.append(name)
        return name
    return make


@pytest.fixture
def small_disk(tmp_path):
    """A real size-limited file system (a 3 MiB tmpfs) for full-disk tests; root only, skipped
    where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)
