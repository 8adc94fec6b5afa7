#!/usr/bin/env bash
# Side-by-side benchmark on 127.0.0.1 only: Freshet (fsync=always and fsync=never) against
# kinesalite and the strong peers Redis Streams (appendfsync always and everysec) and NATS
# JetStream (file store), with one workload (and Freshet's durable put again with 16 producers,
# enough for the group commit to batch), plus a fio durable-write baseline and an end-to-end
# latency run (put→GetRecords, put→SubscribeToShard, put→JetStream consumer at 1,000 records/s).
# Freshet, kinesalite and NATS are driven by `freshet bench` (Kinesis wire API, or JetStream for
# a nats:// endpoint); Redis by redis-benchmark. Prints markdown tables with ratios and a check of
# the targets.
#
# Idempotent: installs each peer only if it is missing (kinesalite into $PEERS with npm; fio,
# redis-server/redis-tools and nats-server with apt-get); reuses $CARGO_TARGET_DIR.
# Knobs (environment): BENCH_DURATION (default 10s), BENCH_RESULTS (where raw output is kept),
# BENCH_E2E_RATE (default 1000 records/s), BENCH_E2E_RUNS (default 3 per server; the report takes
# the median).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
PEERS=/var/tmp/freshet-peers
KINESALITE_VERSION=3.3.3
DURATION="${BENCH_DURATION:-10s}"
E2E_RATE="${BENCH_E2E_RATE:-1000}"
E2E_RUNS="${BENCH_E2E_RUNS:-3}"
RESULTS="${BENCH_RESULTS:-$(mktemp -d /var/tmp/freshet-bench-results.XXXXXX)}"
mkdir -p "$RESULTS"
# The one workload for every server: 4 shards, 1 KiB records, batches of 500, 4 producers.
SHARDS=4
RECORD_SIZE=1024
BATCH=500
PRODUCERS=4
WORKLOAD=(--shards "$SHARDS" --record-size "$RECORD_SIZE" --batch "$BATCH" --no-progress)
# Durable put at saturation: with fsync always, a request's latency is one group commit, so
# 4 producers put at most 4 requests into each fdatasync. This many concurrent producers lets the
# group commit batch enough to approach the disk's bandwidth (the issue's durable-put target).
SATURATION_PRODUCERS=16

# shellcheck source=lib/serve.sh
source scripts/lib/serve.sh
log() { printf '==> %s\n' "$*" >&2; }
# Writes the page cache's dirty pages out and lets the device settle, so a measurement does not
# pay for writeback left by whatever ran before it.
quiesce() { sync; sleep 2; }

PIDS=()
DIRS=()
cleanup() {
  local pid dir
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in "${DIRS[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT INT TERM

WORK="$(mktemp -d /var/tmp/freshet-bench-work.XXXXXX)"
DIRS+=("$WORK")

log "building freshet (release)"
cargo build --release -p freshet >&2
# A private copy: other builds sharing the target directory must not swap the binary mid-run.
FRESHET="$WORK/freshet"
cp "$CARGO_TARGET_DIR/release/freshet" "$FRESHET"

APT_UPDATED=
apt_install() { # package...
  if [[ -z "$APT_UPDATED" ]]; then
    apt-get update -qq >&2 || true
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

if [[ ! -f "$PEERS/node_modules/kinesalite/cli.js" ]]; then
  log "installing kinesalite $KINESALITE_VERSION into $PEERS"
  mkdir -p "$PEERS"
  (cd "$PEERS" && npm install --no-audit --no-fund --loglevel=error "kinesalite@$KINESALITE_VERSION" >&2)
fi
command -v fio >/dev/null 2>&1 || { log "installing fio"; apt_install fio || log "fio unavailable: no disk baseline"; }
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
  log "installing redis-server and redis-tools"
  apt_install redis-server redis-tools || log "redis unavailable: no Redis Streams rows"
fi
if ! command -v nats-server >/dev/null 2>&1; then
  log "installing nats-server"
  apt_install nats-server || log "nats-server unavailable: no JetStream rows"
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
# The running server's data directory, removed when it stops: a run writes several GB per server.
SERVER_DIR=
ENDPOINT=
PORT=
start_freshet() { # fsync-policy
  local dir
  dir="$(mktemp -d /var/tmp/freshet-bench-data.XXXXXX)"
  DIRS+=("$dir")
  SERVER_DIR="$dir"
  start_serve "$FRESHET" "$dir" "$1" "$RESULTS/freshet-$1.log" || return 1
  PIDS+=("$SERVER_PID")
}

start_kinesalite() {
  PORT="$(free_port)"
  (cd "$PEERS" && exec node -r ./loopback.js node_modules/kinesalite/cli.js \
    --port "$PORT" --createStreamMs 0) >"$RESULTS/kinesalite.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for_port "$PORT" "$SERVER_PID"
  ENDPOINT="http://127.0.0.1:$PORT"
}

start_redis() { # appendfsync policy
  local dir
  dir="$(mktemp -d /var/tmp/freshet-bench-redis.XXXXXX)"
  DIRS+=("$dir")
  SERVER_DIR="$dir"
  PORT="$(free_port)"
  # AOF only (no RDB snapshots), so the one durability knob is appendfsync.
  redis-server --bind 127.0.0.1 --port "$PORT" --dir "$dir" --save '' \
    --appendonly yes --appendfsync "$1" --logfile "$RESULTS/redis-$1.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for_port "$PORT" "$SERVER_PID"
}

start_nats() {
  local dir
  dir="$(mktemp -d /var/tmp/freshet-bench-nats.XXXXXX)"
  DIRS+=("$dir")
  SERVER_DIR="$dir"
  PORT="$(free_port)"
  nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$dir" >"$RESULTS/nats.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for_port "$PORT" "$SERVER_PID"
  ENDPOINT="nats://127.0.0.1:$PORT"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  if [[ -n "$SERVER_DIR" ]]; then
    rm -rf "$SERVER_DIR"
    SERVER_DIR=
  fi
}

bench() { # name mode [producers]
  local name=$1 mode=$2 producers=${3:-$PRODUCERS}
  log "$name: bench $mode with $producers producers against $ENDPOINT (server pid $SERVER_PID)"
  local extra=()
  [[ "$mode" != get ]] && extra=(--duration "$DURATION")
  "$FRESHET" bench "$mode" --endpoint "$ENDPOINT" --stream bench --server-pid "$SERVER_PID" \
    "${WORKLOAD[@]}" --concurrency "$producers" "${extra[@]}" | tee "$RESULTS/$name-$mode.txt" >&2
}

# The end-to-end latency run: one record per put at a fixed rate (the batch of the shared workload
# would hide per-record latency), read back on every path.
bench_e2e() { # name run
  log "$1: bench e2e $2 of $E2E_RUNS at $E2E_RATE records/s against $ENDPOINT (server pid $SERVER_PID)"
  "$FRESHET" bench e2e --endpoint "$ENDPOINT" --stream e2e --server-pid "$SERVER_PID" \
    --shards "$SHARDS" --record-size "$RECORD_SIZE" --batch 1 --rate "$E2E_RATE" \
    --duration "$DURATION" --no-progress | tee "$RESULTS/$1-e2e-$2.txt" >&2
}

# Redis Streams: XADD of 1 KiB values to 4 stream keys (the shards), 4 connections each with 500
# commands pipelined (the PutRecords batch). redis-benchmark takes a request count, not a time,
# so a short calibration run sizes the real one to about $DURATION.
bench_redis() { # name
  log "$1: redis-benchmark XADD against 127.0.0.1:$PORT (server pid $SERVER_PID)"
  python3 - "$1" "$PORT" "$SERVER_PID" "$RECORD_SIZE" "$PRODUCERS" "$BATCH" "$DURATION" \
    "$RESULTS/$1-put.txt" <<'PY'
import csv, io, json, os, random, re, resource, string, subprocess, sys, time

name, port, pid, size, clients, pipeline, duration, out = sys.argv[1:]
size, clients, pipeline = int(size), int(clients), int(pipeline)
# The duration syntax of `freshet bench`: 10s, 500ms, 2m or plain seconds.
number, unit = re.fullmatch(r"([0-9.]+)\s*(ms|s|m|min|h)?", duration.strip()).groups()
secs = float(number) * {None: 1, "s": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600}[unit]
# Printable random payload: command arguments cannot carry NUL bytes.
value = "".join(random.choices(string.ascii_letters + string.digits, k=size))
tick = os.sysconf("SC_CLK_TCK")

def cpu(p):
    with open(f"/proc/{p}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def run(n):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", port, "-c", str(clients),
           "-P", str(pipeline), "-n", str(n), "-r", str(4), "--csv",
           "XADD", "bench:__rand_int__", "*", "d", value]
    cpu0, child0 = cpu(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.monotonic() - t0
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (child1.ru_utime - child0.ru_utime) + (child1.ru_stime - child0.ru_stime)
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    header, row = rows[0], rows[-1]
    return wall, cpu(pid) - cpu0, client, dict(zip(header, row))

wall, _, _, _ = run(clients * pipeline * 20)
rate = clients * pipeline * 20 / wall
n = max(clients * pipeline, min(int(rate * secs), 3_000_000))
n -= n % (clients * pipeline)
wall, server_cpu, client_cpu, row = run(n)
result = {
    "mode": "put", "endpoint": f"redis://127.0.0.1:{port}", "records": n, "bytes": n * size,
    "secs": wall, "records_per_sec": n / wall, "mb_per_sec": n * size / wall / 1e6,
    "requests": n // pipeline,
    # redis-benchmark's latency is per command, measured from the write of its pipeline batch.
    "latency_ms": {"p50": float(row["p50_latency_ms"]), "p99": float(row["p99_latency_ms"]),
                   "max": float(row["max_latency_ms"])},
    "errors": {}, "error_samples": {}, "failed_records": {},
    "server_cpu_secs": server_cpu,
    "records_per_server_cpu_sec": n / server_cpu if server_cpu > 0 else None,
    "client_cpu_secs": client_cpu,
}
with open(out, "w") as f:
    f.write(f"redis-benchmark {name}: {n} XADD in {wall:.2f} s, {n / wall:,.0f}/s, "
            f"server CPU {server_cpu:.2f} s, client CPU {client_cpu:.2f} s\n")
    f.write("RESULT " + json.dumps(result) + "\n")
print(open(out).read(), file=sys.stderr)
PY
}

# Latency first, each on a fresh server and a quiet device: right after the throughput runs the
# virtual disk went on stalling single writes plus fdatasync for 60-350 ms (logged by Freshet's
# slow-commit warning), which set the p99 of whichever latency run came next. The build's and the
# installs' dirty pages are flushed first, so their writeback does not land in the run either.
# A p99 of one 10 s run is the 100th slowest of 10,000 records, and this VM's stalls (steal time,
# device hiccups; up to 30 ms even with fsync never on an idle machine) move it by several ms from
# one run to the next, so each server gets E2E_RUNS runs and the report takes their median.
quiesce
for run in $(seq 1 "$E2E_RUNS"); do
  start_freshet always
  bench_e2e freshet-always "$run"
  stop_server
done
if command -v nats-server >/dev/null 2>&1; then
  for run in $(seq 1 "$E2E_RUNS"); do
    start_nats
    bench_e2e nats "$run"
    stop_server
  done
fi

# The machine's limit for durable writes on the file system of the data directories: sequential
# 1 MiB writes each followed by fdatasync (bandwidth), and 4 KiB writes each followed by
# fdatasync (the latency of one small fsync, the floor of a durable put's latency).
if command -v fio >/dev/null 2>&1; then
  FIO_DIR="$(mktemp -d /var/tmp/freshet-fio.XXXXXX)"
  DIRS+=("$FIO_DIR")
  # Each bandwidth baseline runs as long as a put run: this virtual disk takes the first 1-2 s of
  # writes after a pause at 300-380 MB/s and then settles near 200 MB/s, so a short fio job (it
  # used to write 512 MiB, about 1.5 s) measured the burst while the 10 s put runs measured mostly
  # the steady state. The file is larger than the run can fill, so fio never wraps around to
  # overwrite blocks it has already written (that is the faster case, see BENCHMARKS.md).
  quiesce
  log "disk baseline: fio sequential write, 1 MiB blocks, fdatasync after each, $DURATION"
  fio --name=durable-seq --directory="$FIO_DIR" --rw=write --bs=1M --size=4G --fdatasync=1 \
    --time_based --runtime="$DURATION" --output-format=json >"$RESULTS/fio.json"
  rm -f "$FIO_DIR"/*
  log "disk baseline: fio 4 KiB writes, fdatasync after each"
  fio --name=durable-small --directory="$FIO_DIR" --rw=write --bs=4k --size=16M --fdatasync=1 \
    --runtime=20 --output-format=json >"$RESULTS/fio-fsync.json"
  rm -f "$FIO_DIR"/*
  # Freshet's own I/O pattern with 4 shards: a file each, direct writes appended, each followed
  # by fdatasync, all four at once. Appending makes every fdatasync commit the file system's
  # journal, which the buffered baseline above pays too, but less often per byte.
  log "disk baseline: fio 4 files, direct 256 KiB appends, fdatasync after each, $DURATION"
  fio --name=durable-pattern --directory="$FIO_DIR" --rw=write --bs=256k --size=1G --direct=1 \
    --fdatasync=1 --numjobs="$SHARDS" --time_based --runtime="$DURATION" --group_reporting \
    --output-format=json \
    >"$RESULTS/fio-pattern.json"
  rm -f "$FIO_DIR"/*
fi

start_freshet always
bench freshet-always put
bench freshet-always get
stop_server
start_freshet always
bench freshet-always-saturated put "$SATURATION_PRODUCERS"
stop_server
start_freshet always
bench freshet-always mixed
stop_server
start_freshet never
bench freshet-never put
bench freshet-never get
stop_server
start_kinesalite
bench kinesalite put
bench kinesalite get
stop_server
if command -v redis-benchmark >/dev/null 2>&1; then
  for policy in always everysec; do
    start_redis "$policy"
    bench_redis "redis-$policy"
    stop_server
  done
fi
if command -v nats-server >/dev/null 2>&1; then
  start_nats
  bench nats put
  stop_server
fi

log "raw output in $RESULTS"
python3 "scripts/bench-report.py" "$RESULTS"
