"""Hostile and broken clients: every limit a client could push against answers with the AWS
error or a closed connection, in bounded time, and the server keeps serving others.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from freshet_e2e import JSON_CONTENT_TYPE, make_client

TARGET = "Kinesis_20131202.ListStreams"


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    from freshet_e2e import FreshetServer
    root = tmp_path_factory.mktemp("freshet-hostile")
    srv = FreshetServer(root / "data", root / "run", env={
        "FRESHET_LIMITS__MAX_CONNECTIONS_PER_IP": "8",
        "FRESHET_LIMITS__HEADER_READ_TIMEOUT_MS": "1000",
        "FRESHET_LIMITS__BODY_READ_TIMEOUT_MS": "1000",
    }).start()
    yield srv
    if srv.running():
        srv.stop()


def connect(srv) -> socket.socket:
    host, port = srv.host_port
    s = socket.create_connection((host, port), timeout=10)
    return s


def closed_within(s: socket.socket, seconds: float) -> bool:
    """Whether the server closes `s` (reads reach EOF or reset) within `seconds`, answers aside."""
    s.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if s.recv(65536) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def request(target=TARGET, body=b"{}", extra=b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON_CONTENT_TYPE.encode() +
            b"\r\nX-Amz-Target: " + target.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n" + extra + b"\r\n" + body)


def answer(s: socket.socket, timeout=10.0) -> tuple[int, bytes]:
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


def healthy(srv):
    assert isinstance(make_client(srv.endpoint).list_streams()["StreamNames"], list)


def test_connections_per_address_are_capped(tight):
    held = [connect(tight) for _ in range(8)]
    try:
        for s in held:
            s.sendall(request())
            assert answer(s)[0] == 200
        extra = connect(tight)
        assert closed_within(extra, 5), "a ninth connection from one address was kept open"
        extra.close()
    finally:
        held.pop().close()
    # A freed slot is usable again (the census forgets a closed connection promptly).
    deadline = time.monotonic() + 5
    while True:
        s = connect(tight)
        try:
            s.sendall(request())
            if answer(s)[0] == 200:
                break
        except (ConnectionResetError, BrokenPipeError, IndexError, OSError):
            pass
        finally:
            s.close()
        assert time.monotonic() < deadline, "a freed connection slot was not reusable"
        time.sleep(0.1)
    for s in held:
        s.close()


def test_slow_request_heads_are_cut_off(tight):
    s = connect(tight)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    # A header line a second, never finishing: the head must be done within its timeout.
    closed = False
    for _ in range(5):
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if closed_within(s, 1.0):
            closed = True
            break
    assert closed and time.monotonic() - started < 5, "a slowloris head was kept open"
    s.close()
    healthy(tight)


def test_idle_connections_are_closed(tight):
    s = connect(tight)
    assert closed_within(s, 5), "a connection that never sent a request was kept open"
    s.close()
    # Nor one that went quiet after a request.
    s = connect(tight)
    s.sendall(request())
    assert answer(s)[0] == 200
    assert closed_within(s, 5), "an idle keep-alive connection was kept open"
    s.close()


def test_oversized_heads_are_refused(tight):
    s = connect(tight)
    s.sendall(request(extra=b"X-Big: " + b"a" * (128 * 1024) + b"\r\n"))
    try:
        status, _ = answer(s)
        assert status == 431
    except (ConnectionResetError, BrokenPipeError, IndexError):
        pass  # or the connection closed: either way nothing was served
    s.close()
    s = connect(tight)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    s.sendall(request(extra=many))
    try:
        assert answer(s)[0] == 431
    except (ConnectionResetError, BrokenPipeError, IndexError):
        pass
    s.close()
    healthy(tight)


def test_declared_oversized_bodies_are_refused_unread(tight):
    s = connect(tight)
    # 20 MiB declared, none sent: refused on the declaration alone.
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON_CONTENT_TYPE.encode() +
              b"\r\nX-Amz-Target: " + TARGET.encode() + b"\r\nContent-Length: 20971520\r\n\r\n")
    status, body = answer(s)
    assert status == 400
    assert json.loads(body) == {"__type": "SerializationException",
                                "message": "Request body exceeds 16777216 bytes."}
    s.close()


def test_slow_bodies_time_out(tight):
    s = connect(tight)
    s.sendall(request(body=b"{" + b" " * 98 + b"}")[:-90])
    status, body = answer(s, timeout=10)
    assert status == 408
    assert json.loads(body)["__type"] == "RequestTimeout"
    s.close()
    healthy(tight)


def test_the_body_budget_turns_away_what_it_cannot_hold(server_factory):
    tight = server_factory(env={"FRESHET_LIMITS__BODY_BUDGET_MIB": "1",
                                "FRESHET_LIMITS__BODY_READ_TIMEOUT_MS": "30000"})
    # Two uploads that together need more than the 1 MiB budget, the first one stalled.
    first = connect(tight)
    body = b"[" + b"0," * 400_000 + b"0]"
    first.sendall(request(target="Firehose_20150804.ListDeliveryStreams", body=body)[:-len(body) + 10])
    time.sleep(0.2)
    second = connect(tight)
    second.sendall(request(target="Firehose_20150804.ListDeliveryStreams", body=body))
    status, answer_body = answer(second, timeout=15)
    assert status == 503
    assert json.loads(answer_body)["__type"] == "ServiceUnavailable"
    first.close()
    second.close()
    healthy(tight)


def test_deeply_nested_documents_are_refused(tight):
    for content_type, body in ((JSON_CONTENT_TYPE, b"[" * 100_000),
                               ("application/x-amz-cbor-1.1", b"\xa1\x61a" + b"\x81" * 100_000 + b"\x00")):
        s = connect(tight)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type.encode() +
                  b"\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        status, _ = answer(s)
        assert status == 400, content_type
        s.close()
    healthy(tight)
