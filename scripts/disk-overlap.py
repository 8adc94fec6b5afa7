#!/usr/bin/env python3
"""Would pipelined commits help on this disk? Measures durable append bandwidth two ways, with
direct I/O into a fresh file under /var/tmp:

  serial:  write a chunk, fdatasync, repeat (what one group-commit round does);
  overlap: one thread writes chunks back to back while another fdatasyncs in a loop, each
           fdatasync covering every chunk written before it started; the writer stays at most
           AHEAD chunks past the last durable one (a commit pipeline AHEAD rounds deep).

Usage: scripts/disk-overlap.py serial|AHEAD [CHUNK_BYTES] [SECONDS]
Prints MB/s made durable. See BENCHMARKS.md (run 13) for what it showed."""

import mmap
import os
import sys
import threading
import time

mode = sys.argv[1]
chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 8.0
directory = "/var/tmp/freshet-disk-overlap"
os.makedirs(directory, exist_ok=True)
path = os.path.join(directory, "segment")
# O_DIRECT wants an aligned buffer; an anonymous mapping is page-aligned.
buf = mmap.mmap(-1, chunk)
buf.write(os.urandom(chunk))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)


def serial():
    off, start = 0, time.monotonic()
    while time.monotonic() - start < secs:
        os.pwrite(fd, buf, off)
        os.fdatasync(fd)
        off += chunk
    return off, time.monotonic() - start


def overlap(ahead):
    state = {"written": 0, "durable": 0, "stop": False}
    cv = threading.Condition()

    def syncer():
        while True:
            with cv:
                while state["written"] == state["durable"] and not state["stop"]:
                    cv.wait()
                if state["stop"]:
                    return
                upto = state["written"]
            os.fdatasync(fd)
            with cv:
                state["durable"] = upto
                cv.notify_all()

    thread = threading.Thread(target=syncer)
    thread.start()
    off, start = 0, time.monotonic()
    while time.monotonic() - start < secs:
        with cv:
            while off - state["durable"] >= ahead * chunk:
                cv.wait()
        os.pwrite(fd, buf, off)
        off += chunk
        with cv:
            state["written"] = off
            cv.notify_all()
    with cv:
        while state["durable"] < off:
            cv.wait()
        elapsed = time.monotonic() - start
        state["stop"] = True
        cv.notify_all()
    thread.join()
    return off, elapsed


try:
    durable, elapsed = serial() if mode == "serial" else overlap(int(mode))
finally:
    os.close(fd)
    os.unlink(path)
print(f"{mode} chunk={chunk} {durable / elapsed / 1e6:.1f} MB/s durable")
