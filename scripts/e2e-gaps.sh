#!/usr/bin/env bash
# Finds machine-wide stalls during an e2e run: runs `freshet bench e2e` (1,000 records/s) against a
# fresh `freshet serve --fsync always`, traces the syscalls of every process on the machine for
# 5 s in the middle of it (perf trace -a), and lists the gaps of more than 2 ms in which no thread
# entered or left any traced syscall, with the phase at which each ends within a 100 ms period
# (gaps that all end at one phase point at CPU-bandwidth throttling of the VM by its host).
# Needs perf and root. Usage: scripts/e2e-gaps.sh [path to a release freshet binary]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
BIN="${1:-$CARGO_TARGET_DIR/release/freshet}"
WORK="$(mktemp -d /var/tmp/freshet-e2e-gaps.XXXXXX)"
SERVER_PID=
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=lib/serve.sh
source scripts/lib/serve.sh
start_serve "$BIN" "$WORK" always "$WORK/server.log"
(sleep 2; perf trace -a -e recvfrom,writev,sendto,pwrite64,fdatasync,epoll_wait,futex \
  -o "$WORK/trace.txt" -- sleep 5) &
TRACER=$!
"$BIN" bench e2e --endpoint "$ENDPOINT" --stream e2e --server-pid "$SERVER_PID" \
  --shards 4 --record-size 1024 --batch 1 --rate 1000 --duration 10s --no-progress \
  | grep -v '^RESULT'
wait "$TRACER"
python3 - "$WORK/trace.txt" <<'PY'
import re
import sys

calls = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+) \(\s*([\d.]+) ms\)", line)
    # A call still blocked when tracing stopped has no real duration.
    if m and float(m.group(2)) < 1000:
        calls.append((float(m.group(1)), float(m.group(2))))
if not calls:
    sys.exit("no syscalls traced")
first, last = min(t for t, _ in calls), max(t for t, _ in calls)
edges = sorted(p for t, d in calls for p in (t, t + d) if first + 500 < p < last - 500)
gaps = [(a, b - a) for a, b in zip(edges, edges[1:]) if b - a > 2.0]
print(f"{len(calls)} syscalls over {last - first:.0f} ms; {len(gaps)} machine-wide gaps over 2 ms, "
      f"{sum(g for _, g in gaps):.1f} ms in all")
for start, length in gaps:
    print(f"  gap of {length:.2f} ms ending at {start + length:.1f} ms "
          f"(phase {(start + length) % 100:.1f} ms of 100)")
PY
