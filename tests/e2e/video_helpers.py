"""Test media and a PutMedia client for the Kinesis Video suites.

Media comes from ffmpeg's `testsrc` (H.264 baseline, a key frame every 2 s, one MKV Cluster per
key frame), so every fragment is 2 s and 50 frames. PutMedia is not in botocore: `put_media`
speaks it directly, a chunked POST on a raw socket whose acknowledgements are read on another
thread while the body is still being sent, as a producer does.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from freshet_e2e import sign_headers

FPS = 25
FRAGMENT_S = 2

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (scripts/test.sh installs them)")


def make_media(path: Path, seconds: int, *, audio: bool = False, size: str = "320x240",
               bitrate: str | None = None) -> Path:
    """An MKV of `seconds` of testsrc with a Cluster (fragment) per 2-s GOP. With `bitrate`
    (e.g. "4M"), noisy frames at that constant rate, as a camera sends (benchmarks)."""
    source = f"testsrc=size={size}:rate={FPS}"
    if bitrate:
        source += ",noise=alls=30:allf=t"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
            "-pix_fmt", "yuv420p", "-g", str(FPS * FRAGMENT_S), "-keyint_min", str(FPS * FRAGMENT_S),
            "-sc_threshold", "0", "-bf", "0"]
    if bitrate:
        cmd += ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    cmd += ["-f", "matroska", "-live", "1", "-cluster_time_limit", str(FRAGMENT_S * 1000),
            "-cluster_size_limit", "10000000", str(path)]
    subprocess.run(cmd, check=True)
    return path


SEGMENT, CLUSTER = 0x18538067, 0x1F43B675


# -- EBML, just enough to find and rewrite top-level elements in test media

def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    length = 8 - first.bit_length() + 1
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = value << 8 | b
    return value, length


def elements(data: bytes, start: int = 0, end: int | None = None):
    """(id, header_start, payload_start, payload_end) of the elements in data[start:end], the
    Segment's children included; an unknown-size element extends to `end`."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        eid, n = _vint(data, pos, True)
        size, m = _vint(data, pos + n, False)
        payload = pos + n + m
        unknown = size == (1 << (7 * m)) - 1
        stop = end if unknown else payload + size
        yield eid, pos, payload, stop
        if eid == SEGMENT:
            pos = payload
            continue
        pos = stop


def clusters(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of every Cluster element."""
    return [(start, end) for eid, start, _, end in elements(data) if eid == CLUSTER]


def unknown_size_clusters(data: bytes) -> bytes:
    """The same media with every Cluster of unknown size, as GStreamer and the AWS producer SDKs
    send it (each ends where the next top-level element starts)."""
    out = bytearray()
    pos = 0
    for start, end in clusters(data):
        out += data[pos:start]
        _, n = _vint(data, start, True)
        _, m = _vint(data, start + n, False)
        out += data[start:start + n] + b"\x01\xff\xff\xff\xff\xff\xff\xff"
        out += data[start + n + m:end]
        pos = end
    out += data[pos:]
    return bytes(out)


def tag_values(data: bytes, name: str) -> list[str]:
    """Every value of the MKV SimpleTag `name` in `data` (a scan: tag names are unique bytes)."""
    values = []
    key = name.encode()
    pos = data.find(key)
    while pos >= 0:
        value_at = pos + len(key)
        # TagString: id 0x4487, then a size vint, then the text.
        assert data[value_at:value_at + 2] == b"\x44\x87", name
        size, m = _vint(data, value_at + 2, False)
        start = value_at + 2 + m
        values.append(data[start:start + size].decode())
        pos = data.find(key, start + size)
    return values


# -- PutMedia

class PutMedia:
    """One PutMedia request: `send()` body pieces, `finish()`, then `acks` (with arrival times)."""

    def __init__(self, endpoint: str, stream: str | None = None, *, arn: str | None = None,
                 timecode_type: str | None = "RELATIVE", start: float | None = None,
                 extra_headers: dict | None = None, credentials: tuple[str, str] | None = None):
        host, port = endpoint.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.start = time.time() if start is None else start
        headers = {"Host": f"{host}:{port}", "Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"}
        if stream is not None:
            headers["x-amzn-stream-name"] = stream
        if arn is not None:
            headers["x-amzn-stream-arn"] = arn
        if timecode_type is not None:
            headers["x-amzn-fragment-timecode-type"] = timecode_type
        headers["x-amzn-producer-start-timestamp"] = f"{self.start:.3f}"
        headers.update(extra_headers or {})
        if credentials is not None:
            # As the producer SDKs sign it: the headers, with the hash of an empty payload (the
            # body is a stream of unknown length).
            signed = {k: v for k, v in headers.items() if k.startswith("x-amzn-")}
            signed = sign_headers("POST", headers["Host"], "/putMedia", signed, b"", access_key=credentials[0],
                                  secret_key=credentials[1], service="kinesisvideo")
            headers.update(signed)
        head = "POST /putMedia HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode())
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.acks: list[tuple[float, dict]] = []
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, data: bytes) -> None:
        if data and not self.done.is_set():
            try:
                self.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            except OSError:
                pass  # the server already answered and closed (an error status)

    def finish(self) -> None:
        try:
            self.sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server already answered and closed (an error status)

    def wait(self, timeout: float = 30.0) -> "PutMedia":
        assert self.done.wait(timeout), f"no end of the PutMedia response; acks so far: {self.acks}"
        self.sock.close()
        return self

    def events(self, kind: str) -> list[dict]:
        return [a for _, a in self.acks if a["EventType"] == kind]

    def _read(self) -> None:
        buf = b""
        f = self.sock.makefile("rb")
        try:
            status_line = f.readline().decode()
            self.status = int(status_line.split()[1])
            while (line := f.readline().decode().strip()):
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            if self.headers.get("transfer-encoding") == "chunked":
                while True:
                    size = int(f.readline().strip() or b"0", 16)
                    if size == 0:
                        break
                    chunk = f.read(size)
                    f.readline()
                    self.body += chunk
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if line.strip():
                            self.acks.append((time.monotonic(), json.loads(line)))
            else:
                self.body = f.read(int(self.headers.get("content-length", "0")))
        except (OSError, ValueError):
            pass
        finally:
            self.done.set()


def put_media(endpoint: str, stream: str, data: bytes, *, piece: int = 16 * 1024, pace_s: float = 0.0,
              **kw) -> PutMedia:
    """Sends `data` in pieces (optionally paced) and waits for the response to end."""
    pm = PutMedia(endpoint, stream, **kw)
    for i in range(0, len(data), piece):
        pm.send(data[i:i + piece])
        if pace_s:
            time.sleep(pace_s)
    pm.finish()
    return pm.wait()


def ffprobe(target: str, *entries: str, count: bool = True) -> dict:
    """ffprobe's JSON for `target` (a file or a URL)."""
    cmd = ["ffprobe", "-v", "error", "-of", "json"]
    if count:
        cmd.append("-count_frames")
    cmd += ["-show_entries", ":".join(entries) or "format=duration", target]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


def frame_times(target: str) -> list[float]:
    """Presentation times of every video frame ffprobe reads from `target`."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time,best_effort_timestamp_time", "-of", "json", target],
                         check=True, capture_output=True, text=True, timeout=120)
    frames = json.loads(out.stdout)["frames"]
    return [float(f.get("pts_time", f.get("best_effort_timestamp_time"))) for f in frames]
