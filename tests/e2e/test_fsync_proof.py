"""Proof that a put is acknowledged only after its data is fsynced.

SIGKILL keeps the page cache, so a kill test alone cannot tell a durable ack from one that merely
reached the OS. Here the server runs under strace, which records every segment write, every
fdatasync and every response written to a client socket, with the files and sockets named
(`-yy`). The test puts records one at a time and checks the order of those system calls: every
response sent after records were written to a segment is preceded by an fdatasync of that segment
that completed after the write."""

import re
import shutil
import subprocess

import pytest

from freshet_e2e import FreshetServer, create_stream

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):([\d.]+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")


class StracedServer(FreshetServer):
    def __init__(self, *args, trace_path, **kw):
        super().__init__(*args, **kw)
        self.trace_path = trace_path

    def command(self):
        return ["strace", "-f", "-qq", "-tt", "-yy", "-o", str(self.trace_path),
                "-e", "trace=pwrite64,pwritev,write,writev,fdatasync,fsync,sendto,sendmsg",
                *super().command()]


def events(trace_path):
    """(time, syscall, fd description, first bytes) per completed call, in completion order."""
    pending = {}
    out = []
    for raw in open(trace_path, encoding="utf-8", errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, h, mi, s, rest = m.groups()
        t = int(h) * 3600 + int(mi) * 60 + float(s)
        if rest.endswith("<unfinished ...>"):
            c = CALL.match(rest)
            if c:
                pending[pid] = (c.group(1), c.group(3), rest)
            continue
        r = RESUMED.match(rest)
        if r:
            if pid in pending:
                name, fd, text = pending.pop(pid)
                out.append((t, name, fd, text))
            continue
        c = CALL.match(rest)
        if c:
            out.append((t, c.group(1), c.group(3), rest))
    return sorted(out, key=lambda e: e[0])


def test_every_ack_follows_an_fdatasync_of_its_segment(tmp_path, client_factory):
    srv = StracedServer(tmp_path / "data", tmp_path / "run", trace_path=tmp_path / "trace")
    srv.start()
    try:
        client = client_factory(srv.endpoint)
        create_stream(client, "proof", 1)
        n = 25
        for i in range(n):
            client.put_record(StreamName="proof", Data=b"durable-%d" % i, PartitionKey="k")
        # SIGTERM the traced server itself (strace does not forward it); strace then exits with
        # the server's status.
        subprocess.run(["pkill", "-TERM", "-P", str(srv.proc.pid)], check=True)
        assert srv.proc.wait(timeout=15) == 0
    finally:
        srv.kill()

    evs = events(tmp_path / "trace")
    segment = re.compile(r"/log/s[0-9a-f]{16}-\d{8}/\d{20}\.log$")
    is_segment = lambda fd: bool(segment.search(fd))
    is_client = lambda fd: fd.startswith("TCP:")
    segment_writes = [e for e in evs if e[1] in ("pwrite64", "pwritev", "write", "writev") and is_segment(e[2])]
    syncs = [e for e in evs if e[1] in ("fdatasync", "fsync") and is_segment(e[2])]
    responses = [e for e in evs if e[1] in ("write", "writev", "sendto", "sendmsg") and is_client(e[2])
                 and "HTTP/1.1 200" in e[3]]
    assert len(segment_writes) >= n, "each sequential put writes its segment"
    assert len(syncs) >= n, f"each sequential put needs its own fdatasync ({len(syncs)} for {n} puts)"

    checked = 0
    for t_resp, *_ in responses:
        writes_before = [w for w in segment_writes if w[0] < t_resp]
        if not writes_before:
            continue
        last_write = writes_before[-1][0]
        assert any(last_write < s[0] < t_resp for s in syncs), \
            f"a response at {t_resp} followed a segment write at {last_write} with no fdatasync between"
        checked += 1
    assert checked >= n, f"checked {checked} acknowledgements"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_every_persisted_video_ack_follows_an_fdatasync_of_its_segment(tmp_path):
    """PutMedia's PERSISTED acknowledgement rides on the same proof: the fragment's segment of
    the video log is fdatasynced after its write and before the ack leaves."""
    import time

    from video_helpers import PutMedia, clusters, make_media

    media = make_media(tmp_path / "m.mkv", 10).read_bytes()
    bounds = clusters(media)
    srv = StracedServer(tmp_path / "data", tmp_path / "run", trace_path=tmp_path / "trace")
    srv.start()
    try:
        srv.client(service="kinesisvideo").create_stream(StreamName="proof", DataRetentionInHours=1)
        pm = PutMedia(srv.endpoint, "proof")
        pm.send(media[: bounds[0][0]])
        for i, (start, end) in enumerate(bounds):
            pm.send(media[start:end])
            deadline = time.monotonic() + 10
            # Known-size clusters end with their last byte: wait for this one's ack.
            while len(pm.events("PERSISTED")) <= i:
                assert time.monotonic() < deadline, pm.acks
                time.sleep(0.01)
        pm.finish()
        pm.wait()
        subprocess.run(["pkill", "-TERM", "-P", str(srv.proc.pid)], check=True)
        assert srv.proc.wait(timeout=15) == 0
    finally:
        srv.kill()

    n = len(bounds)
    evs = events(tmp_path / "trace")
    segment = re.compile(r"/video-log/s[0-9a-f]{16}-\d{8}/\d{20}\.log$")
    writes = [e for e in evs if e[1] in ("pwrite64", "pwritev", "write", "writev") and segment.search(e[2])]
    syncs = [e for e in evs if e[1] in ("fdatasync", "fsync") and segment.search(e[2])]
    acks = [e for e in evs if e[1] in ("write", "writev", "sendto", "sendmsg") and e[2].startswith("TCP:")
            and "PERSISTED" in e[3]]
    assert len(writes) >= n and len(syncs) >= n, (len(writes), len(syncs))
    assert len(acks) >= n, f"{len(acks)} PERSISTED acks seen for {n} fragments"
    for t_ack, *_ in acks:
        last_write = max(w[0] for w in writes if w[0] < t_ack)
        assert any(last_write < s[0] < t_ack for s in syncs), \
            f"a PERSISTED ack at {t_ack} followed a segment write at {last_write} with no fdatasync between"
