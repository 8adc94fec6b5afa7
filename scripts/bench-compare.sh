#!/usr/bin/env bash
# Side-by-side benchmark: Freshet (fsync=always and fsync=never) against kinesalite, both driven
# by the same `freshet bench` load generator over the real Kinesis wire API on 127.0.0.1 only.
# Prints a markdown table with the figures and the freshet/kinesalite ratios.
#
# Idempotent: installs kinesalite into $PEERS only if it is missing; reuses $CARGO_TARGET_DIR.
# Knobs (environment): BENCH_DURATION (default 10s), BENCH_RESULTS (where raw output is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
PEERS=/var/tmp/freshet-peers
KINESALITE_VERSION=3.3.3
DURATION="${BENCH_DURATION:-10s}"
RESULTS="${BENCH_RESULTS:-$(mktemp -d /var/tmp/freshet-bench-results.XXXXXX)}"
mkdir -p "$RESULTS"
# The one workload for every server: 4 shards, 1 KiB records, PutRecords of 500, 4 producers.
WORKLOAD=(--shards 4 --record-size 1024 --batch 500 --concurrency 4 --no-progress)

log() { printf '==> %s\n' "$*" >&2; }

PIDS=()
DIRS=()
cleanup() {
  local pid dir
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in "${DIRS[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT INT TERM

log "building freshet (release)"
cargo build --release -p freshet >&2
FRESHET="$CARGO_TARGET_DIR/release/freshet"

if [[ ! -f "$PEERS/node_modules/kinesalite/cli.js" ]]; then
  log "installing kinesalite $KINESALITE_VERSION into $PEERS"
  mkdir -p "$PEERS"
  (cd "$PEERS" && npm install --no-audit --no-fund --loglevel=error "kinesalite@$KINESALITE_VERSION" >&2)
fi
# kinesalite has no bind-address option: this preload forces every listen() onto 127.0.0.1.
cat > "$PEERS/loopback.js" <<'JS'
// Preload (node -r): rewrite the host of every net.Server.listen() call to 127.0.0.1.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    args[0] = Object.assign({}, first, { host: '127.0.0.1' });
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
JS

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port pid
  local i
  for i in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || { log "server $2 exited during start-up"; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listening on 127.0.0.1:$1 after 20 s"
  return 1
}

SERVER_PID=
ENDPOINT=
start_freshet() { # fsync-policy
  local dir
  dir="$(mktemp -d /var/tmp/freshet-bench-data.XXXXXX)"
  DIRS+=("$dir")
  "$FRESHET" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --ready-file "$dir/ready" \
    --create-delay-ms 0 --fsync "$1" --log warn 2>"$RESULTS/freshet-$1.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 200); do
    [[ -s "$dir/ready" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { log "freshet exited during start-up"; cat "$RESULTS/freshet-$1.log" >&2; return 1; }
    sleep 0.1
  done
  ENDPOINT="http://$(cat "$dir/ready")"
}

start_kinesalite() {
  local port
  port="$(free_port)"
  (cd "$PEERS" && exec node -r ./loopback.js node_modules/kinesalite/cli.js \
    --port "$port" --createStreamMs 0) >"$RESULTS/kinesalite.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for_port "$port" "$SERVER_PID"
  ENDPOINT="http://127.0.0.1:$port"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

bench() { # name mode
  log "$1: bench $2 against $ENDPOINT (server pid $SERVER_PID)"
  local extra=()
  [[ "$2" == put ]] && extra=(--duration "$DURATION")
  "$FRESHET" bench "$2" --endpoint "$ENDPOINT" --stream bench --server-pid "$SERVER_PID" \
    "${WORKLOAD[@]}" "${extra[@]}" | tee "$RESULTS/$1-$2.txt" >&2
}

run_server() { # name start-command...
  local name=$1
  shift
  "$@"
  bench "$name" put
  bench "$name" get
  stop_server
}

# The machine's limit for durable writes: sequential 1 MiB writes, each followed by fdatasync,
# on the same file system as the data directories.
if ! command -v fio >/dev/null 2>&1; then
  log "installing fio"
  apt-get install -y -qq fio >&2 || log "fio unavailable: no disk baseline"
fi
if command -v fio >/dev/null 2>&1; then
  FIO_DIR="$(mktemp -d /var/tmp/freshet-fio.XXXXXX)"
  DIRS+=("$FIO_DIR")
  log "disk baseline: fio sequential write, 1 MiB blocks, fdatasync after each"
  fio --name=durable-seq --directory="$FIO_DIR" --rw=write --bs=1M --size=512M --fdatasync=1 \
    --output-format=json >"$RESULTS/fio.json"
fi

run_server freshet-always start_freshet always
run_server freshet-never start_freshet never
run_server kinesalite start_kinesalite

log "raw output in $RESULTS"
python3 - "$RESULTS" <<'PY'
import json, pathlib, sys

results = pathlib.Path(sys.argv[1])

def load(name, mode):
    for line in (results / f"{name}-{mode}.txt").read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit(f"no RESULT line in {name}-{mode}.txt")

rows = {
    "freshet, fsync=always": ("freshet-always",),
    "freshet, fsync=never": ("freshet-never",),
    "kinesalite 3.3.3 (in-memory)": ("kinesalite",),
}
data = {label: (load(n, "put"), load(n, "get")) for label, (n,) in rows.items()}

columns = [
    ("put rec/s", lambda p, g: p["records_per_sec"], "{:,.0f}"),
    ("put MB/s", lambda p, g: p["mb_per_sec"], "{:.1f}"),
    ("put rec/server-CPU-s", lambda p, g: p["records_per_server_cpu_sec"], "{:,.0f}"),
    ("put p50 ms", lambda p, g: p["latency_ms"]["p50"], "{:.1f}"),
    ("put p99 ms", lambda p, g: p["latency_ms"]["p99"], "{:.1f}"),
    ("get rec/s", lambda p, g: g["records_per_sec"], "{:,.0f}"),
    ("get MB/s", lambda p, g: g["mb_per_sec"], "{:.1f}"),
    ("get rec/server-CPU-s", lambda p, g: g["records_per_server_cpu_sec"], "{:,.0f}"),
]
# Context, not compared: CPU seconds of the server and of the load generator during the put.
cpu_columns = [
    ("put server CPU-s", lambda p, g: p["server_cpu_secs"], "{:.1f}"),
    ("put client CPU-s", lambda p, g: p["client_cpu_secs"], "{:.1f}"),
]

def cell(fmt, value):
    return "n/a" if value is None else fmt.format(value)

print("| server | " + " | ".join(c[0] for c in columns) + " |")
print("|---" * (len(columns) + 1) + "|")
for label, (p, g) in data.items():
    print(f"| {label} | " + " | ".join(cell(fmt, f(p, g)) for _, f, fmt in columns) + " |")
base = data["kinesalite 3.3.3 (in-memory)"]
for label in ("freshet, fsync=always", "freshet, fsync=never"):
    p, g = data[label]
    ratios = []
    for _, f, _ in columns:
        a, b = f(p, g), f(*base)
        ratios.append("n/a" if not a or not b else f"{a / b:.2f}×")
    print(f"| ratio {label} ÷ kinesalite | " + " | ".join(ratios) + " |")

print()
print("| server | put records | put secs | " + " | ".join(c[0] for c in cpu_columns) + " | get records | get secs |")
print("|---" * (len(cpu_columns) + 5) + "|")
for label, (p, g) in data.items():
    cpu = " | ".join(cell(fmt, f(p, g)) for _, f, fmt in cpu_columns)
    print(f"| {label} | {p['records']:,} | {p['secs']:.1f} | {cpu} | {g['records']:,} | {g['secs']:.1f} |")
fio = results / "fio.json"
if fio.exists():
    job = json.loads(fio.read_text())["jobs"][0]["write"]
    disk_mb = job["bw_bytes"] / 1e6
    p = data["freshet, fsync=always"][0]
    print()
    print(f"Disk baseline (fio, sequential 1 MiB writes with fdatasync each): {disk_mb:.1f} MB/s; "
          f"freshet's durable put payload rate is {p['mb_per_sec'] / disk_mb * 100:.0f}% of it.")
print()
if not any(r["errors"] or r["failed_records"] for pg in data.values() for r in pg):
    print("No request errors and no failed records in any run.")
for label, (p, g) in data.items():
    for r in (p, g):
        for kind, count in r["errors"].items():
            print(f"errors ({label}, {r['mode']}): {count} × {kind}: {r['error_samples'].get(kind)}")
        for code, count in r["failed_records"].items():
            print(f"failed records ({label}, {r['mode']}): {count} × {code}")
PY
