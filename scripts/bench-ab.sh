#!/usr/bin/env bash
# A/B of two freshet binaries on this machine, alternating so both see the same load: for each,
# a fresh server (fsync never, or $FSYNC), MODE=get: a 1.5 M-record put then two GetRecords drains;
# MODE=put: two put runs. Prints records per server CPU-second per run.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY [get|put] [rounds]
set -euo pipefail
OLD=$1 NEW=$2 MODE=${3:-get} ROUNDS=${4:-2} FSYNC=${FSYNC:-never}
one() {
  local bin=$1 tag=$2 dir
  dir=$(mktemp -d /var/tmp/freshet-ab.XXXXXX)
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --fsync "$FSYNC" --create-delay-ms 0 \
    --log warn --ready-file "$dir/ready" > "$dir/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
  local ep="http://$(cat "$dir/ready")"
  if [ "$MODE" = get ]; then
    "$OLD" bench put --endpoint "$ep" --stream ab --shards 4 --concurrency 8 --records 1500000 \
      --no-progress > /dev/null 2>&1
  fi
  for k in 1 2; do
    "$OLD" bench "$MODE" --endpoint "$ep" --stream ab --shards 4 --concurrency 8 --duration 10s \
      --server-pid "$pid" --no-progress 2>&1 | grep "server CPU" | sed "s/^/$tag run $k: /"
  done
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
}
for _ in $(seq "$ROUNDS"); do
  one "$OLD" before
  one "$NEW" after
done
