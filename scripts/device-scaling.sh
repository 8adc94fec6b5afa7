#!/usr/bin/env bash
# Multi-core scaling of the Kinesis put and get paths on a many-core machine (the CI box has 2
# cores, where both are CPU-bound). Server pinned to the first half of the cores, the load
# generator to the second half; fsync never and always; JSON result lines under $OUT (or ./out).
#
#   BIN=path/to/freshet scripts/device-scaling.sh
set -euo pipefail
BIN="${BIN:-.device/freshet}"
OUT="${OUT:-out}"
mkdir -p "$OUT"
CORES=$(nproc)
HALF=$((CORES / 2))
SERVER_CPUS="0-$((HALF - 1))"
LOAD_CPUS="$HALF-$((CORES - 1))"
echo "cores=$CORES server=$SERVER_CPUS load=$LOAD_CPUS" | tee "$OUT/machine.txt"
lscpu | grep -E "Model name|^CPU\(s\)" >> "$OUT/machine.txt" || true

for fsync in never always; do
  DATA=$(mktemp -d /tmp/freshet-scale.XXXXXX)
  taskset -c "$SERVER_CPUS" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" --fsync "$fsync" \
    --ready-file "$DATA/ready" --create-delay-ms 0 --log warn > "$OUT/server-$fsync.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -s "$DATA/ready" ] && break; sleep 0.1; done
  EP="http://$(cat "$DATA/ready")"
  for conc in 8 32 64; do
    taskset -c "$LOAD_CPUS" "$BIN" bench put --endpoint "$EP" --stream "put-$conc" --shards 16 \
      --concurrency "$conc" --duration 12s --server-pid "$PID" --no-progress \
      > "$OUT/put-$fsync-c$conc.txt" 2>&1 || true
    last="put-$conc"
  done
  # Drains what the largest put wrote: one reader per shard.
  taskset -c "$LOAD_CPUS" "$BIN" bench get --endpoint "$EP" --stream "$last" --duration 20s \
    --server-pid "$PID" --no-progress > "$OUT/get-$fsync.txt" 2>&1 || true
  kill "$PID"; wait "$PID" || true
  rm -rf "$DATA"
done
for f in "$OUT"/put-*.txt "$OUT"/get-*.txt; do
  sed -n "s/^RESULT /{\"file\":\"$(basename "$f")\",\"r\":/p" "$f" | sed 's/$/}/'
done > "$OUT/results.jsonl"
cat "$OUT/machine.txt" "$OUT/results.jsonl"
