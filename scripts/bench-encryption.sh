#!/usr/bin/env bash
# The cost of encryption at rest: on fresh servers of BINARY, alternating, a clear stream and one
# under StartStreamEncryption (alias/aws/kinesis): two 10-s PutRecords runs, then a GetRecords
# drain of what they wrote. Prints records per server CPU-second per run.
#
#   scripts/bench-encryption.sh BINARY [pairs]      (FSYNC=always by default)
set -euo pipefail
BIN=$1 PAIRS=${2:-1} FSYNC=${FSYNC:-always}
# shellcheck source=lib/serve.sh
source "$(dirname "$0")/lib/serve.sh"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
one() {
  local mode=$1 dir
  dir=$(mktemp -d /var/tmp/freshet-enc.XXXXXX)
  start_serve "$BIN" "$dir" "$FSYNC" "$dir/server.log"
  aws --endpoint-url "$ENDPOINT" kinesis create-stream --stream-name s --shard-count 4
  aws --endpoint-url "$ENDPOINT" kinesis wait stream-exists --stream-name s
  if [ "$mode" = encrypted ]; then
    aws --endpoint-url "$ENDPOINT" kinesis start-stream-encryption --stream-name s \
      --encryption-type KMS --key-id alias/aws/kinesis
    aws --endpoint-url "$ENDPOINT" kinesis wait stream-exists --stream-name s
  fi
  for k in 1 2; do
    "$BIN" bench put --endpoint "$ENDPOINT" --stream s --shards 4 --concurrency 8 --duration 10s \
      --server-pid "$SERVER_PID" --no-progress 2>&1 | grep "server CPU" | sed "s/^/put $mode run $k: /"
  done
  "$BIN" bench get --endpoint "$ENDPOINT" --stream s --shards 4 --concurrency 8 --duration 10s \
    --server-pid "$SERVER_PID" --no-progress 2>&1 | grep "server CPU" | sed "s/^/get $mode: /"
  kill "$SERVER_PID"; wait "$SERVER_PID" || true
  rm -rf "$dir"
}
for _ in $(seq "$PAIRS"); do
  one clear
  one encrypted
done
