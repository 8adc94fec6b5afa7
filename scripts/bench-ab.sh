#!/usr/bin/env bash
# A/B of two freshet binaries on this machine, alternating so both see the same load: for each,
# a fresh server (fsync never, or $FSYNC), MODE=get: a 1.5 M-record put then two GetRecords drains;
# MODE=put: two put runs. Prints records per server CPU-second per run.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY [get|put] [rounds]
set -euo pipefail
OLD=$1 NEW=$2 MODE=${3:-get} ROUNDS=${4:-2} FSYNC=${FSYNC:-never}
# shellcheck source=lib/serve.sh
source "$(dirname "$0")/lib/serve.sh"
one() {
  local bin=$1 tag=$2 dir
  dir=$(mktemp -d /var/tmp/freshet-ab.XXXXXX)
  start_serve "$bin" "$dir" "$FSYNC" "$dir/server.log"
  local pid=$SERVER_PID ep=$ENDPOINT
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
