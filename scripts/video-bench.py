#!/usr/bin/env python3
"""Kinesis Video ingest benchmark: PutMedia throughput for concurrent streams, and the latency from
a fragment's last byte to its PERSISTED acknowledgement and to its appearance in a LIVE HLS media
playlist.

    scripts/video-bench.py [--bin PATH] [--streams 1,4,16] [--seconds 60] [--passes 2]
                           [--size 1280x720] [--bitrate 4M]

Starts its own `freshet serve` (release build by default, fsync always) on an ephemeral port with a
fresh data directory, generates H.264 test media with ffmpeg (a 2-s GOP per fragment), and prints a
JSON line per measurement plus a summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from video_helpers import FRAGMENT_S, PutMedia, clusters, make_media  # noqa: E402

import boto3  # noqa: E402


def start_server(binary: str, data: Path) -> tuple[subprocess.Popen, str]:
    ready = data / "ready"
    cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data / "data"),
           "--ready-file", str(ready), "--create-delay-ms", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return proc, "http://" + ready.read_text().strip()
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fio_baseline(directory: Path) -> float | None:
    """fio's durable write bandwidth on the data directory's file system (1 MiB writes, an
    fdatasync after each, like a fragment append), MB/s; None without fio."""
    if not shutil.which("fio"):
        return None
    out = subprocess.run(["fio", "--name=durable-seq", f"--directory={directory}", "--rw=write", "--bs=1M",
                          "--size=512M", "--fdatasync=1", "--output-format=json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["jobs"][0]["write"]["bw_bytes"] / 1e6


def throughput(endpoint: str, media: bytes, streams: int, passes: int) -> dict:
    """`streams` producers at once, each sending the media `passes` times (one PutMedia per pass)
    as fast as the server takes it."""
    kvs = client(endpoint, "kinesisvideo")
    names = [f"tput-{streams}-{i}-{time.monotonic_ns()}" for i in range(streams)]
    for n in names:
        kvs.create_stream(StreamName=n, DataRetentionInHours=1)
    persisted = [0] * streams
    errors: list[str] = []

    def produce(i: int):
        try:
            send_passes(i)
        except Exception as e:  # noqa: BLE001 - reported in the result, not lost in a thread
            errors.append(repr(e))

    def send_passes(i: int):
        for p in range(passes):
            pm = PutMedia(endpoint, names[i], start=time.time() + p * 1000)
            for k in range(0, len(media), 256 * 1024):
                pm.send(media[k:k + 256 * 1024])
            pm.finish()
            pm.wait(300)
            persisted[i] += len(pm.events("PERSISTED"))
            if pm.status != 200:
                errors.append(f"PutMedia answered {pm.status}: {pm.body[:200]!r}")
            errors.extend(str(a) for a in pm.events("ERROR"))

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(streams)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    total = sum(persisted)
    fragment_bytes = len(media) / len(clusters(media))
    return {"mode": "throughput", "streams": streams, "fragments": total, "seconds": round(elapsed, 2),
            "fragments_per_s": round(total / elapsed, 1),
            "mb_per_s": round(total * fragment_bytes / elapsed / 1e6, 1), "errors": errors[:3]}


def latency(endpoint: str, media: bytes) -> dict:
    """A producer in real time (one fragment every 2 s); for each fragment, the time from its last
    byte sent to its PERSISTED ack, and to its first appearance in the LIVE HLS media playlist."""
    name = f"latency-{time.monotonic_ns()}"
    client(endpoint, "kinesisvideo").create_stream(StreamName=name, DataRetentionInHours=1)
    archive = client(endpoint, "kinesis-video-archived-media")
    bounds = clusters(media)
    pm = PutMedia(endpoint, name)
    pm.send(media[: bounds[0][0]])
    sent_at: dict[int, float] = {}
    seen_at: dict[str, float] = {}
    stop = threading.Event()

    def poll_playlist():
        while not stop.is_set() and not pm.events("PERSISTED"):
            time.sleep(0.005)
        url = archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE")["HLSStreamingSessionURL"]
        master = urllib.request.urlopen(url).read().decode()
        media_url = url.split("getHLSMasterPlaylist")[0] + master.strip().splitlines()[-1]
        while not stop.is_set():
            text = urllib.request.urlopen(media_url).read().decode()
            now = time.monotonic()
            for number in re.findall(r"FragmentNumber=(\d+)", text):
                seen_at.setdefault(number, now)
            time.sleep(0.005)

    poller = threading.Thread(target=poll_playlist)
    poller.start()
    begin = time.monotonic()
    for i, (start, end) in enumerate(bounds):
        # Frames of fragment i are captured over [2i, 2i+2) s: send it whole at its end.
        wait = begin + (i + 1) * FRAGMENT_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        pm.send(media[start:end])
        sent_at[i] = time.monotonic()
    time.sleep(1)
    stop.set()
    poller.join()
    pm.finish()
    pm.wait()
    acks = [(t, a) for t, a in pm.acks if a["EventType"] == "PERSISTED"]
    persist_ms = [(t - sent_at[i]) * 1000 for i, (t, _) in enumerate(acks)]
    playlist_ms = [(seen_at[a["FragmentNumber"]] - sent_at[i]) * 1000 for i, (_, a) in enumerate(acks)
                   if a["FragmentNumber"] in seen_at]
    summary = lambda xs: {"n": len(xs), "p50": round(pct(xs, 50), 2), "p90": round(pct(xs, 90), 2),
                          "max": round(max(xs), 2), "mean": round(statistics.mean(xs), 2)}
    return {"mode": "latency", "persisted_ack_ms": summary(persist_ms), "live_playlist_ms": summary(playlist_ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/freshet-target")
    ap.add_argument("--bin", default=f"{target}/release/freshet")
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--seconds", type=int, default=60, help="length of the test media")
    ap.add_argument("--passes", type=int, default=2, help="PutMedia requests per stream")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--bitrate", default="4M", help="video bitrate of the test media (noisy testsrc)")
    ap.add_argument("--latency-seconds", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="video-bench-") as tmp:
        tmp = Path(tmp)
        media = make_media(tmp / "bench.mkv", args.seconds, size=args.size, bitrate=args.bitrate).read_bytes()
        short = make_media(tmp / "latency.mkv", args.latency_seconds, size=args.size, bitrate=args.bitrate).read_bytes()
        n = len(clusters(media))
        print(json.dumps({"media": args.size, "fragments": n, "fragment_kb": round(len(media) / n / 1024, 1)}),
              flush=True)
        fio_dir = tmp / "fio"
        fio_dir.mkdir()
        disk = fio_baseline(fio_dir)
        shutil.rmtree(fio_dir)
        print(json.dumps({"mode": "fio", "durable_write_mb_per_s": disk and round(disk, 1)}), flush=True)
        proc, endpoint = start_server(args.bin, tmp)
        try:
            results = [throughput(endpoint, media, int(s), args.passes) for s in args.streams.split(",")]
            for r in results:
                print(json.dumps(r), flush=True)
            lat = latency(endpoint, short)
            print(json.dumps(lat), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    print("\n| streams | fragments/s | MB/s | of fio's durable MB/s |\n|---|---|---|---|")
    for r in results:
        share = f"{r['mb_per_s'] / disk:.0%}" if disk else "n/a"
        print(f"| {r['streams']} | {r['fragments_per_s']} | {r['mb_per_s']} | {share} |")
    if disk:
        print(f"\nfio durable sequential writes (1 MiB + fdatasync): {disk:.1f} MB/s")
    p, h = lat["persisted_ack_ms"], lat["live_playlist_ms"]
    print(f"\nlast byte -> PERSISTED ack: p50 {p['p50']} ms, p90 {p['p90']} ms, max {p['max']} ms (n={p['n']})")
    print(f"last byte -> in LIVE HLS playlist: p50 {h['p50']} ms, p90 {h['p90']} ms, max {h['max']} ms (n={h['n']})")


if __name__ == "__main__":
    main()
