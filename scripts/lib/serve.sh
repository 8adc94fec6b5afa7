# Sourced by the benchmark scripts: starts `freshet serve` on an ephemeral 127.0.0.1 port.
#
#   start_serve BINARY DIR FSYNC LOG
#
# Keeps the data under DIR/data, appends the server's output to LOG, and once the server is ready
# sets SERVER_PID and ENDPOINT (http://127.0.0.1:PORT). Returns 1, after printing LOG, if the
# server exits or is not ready within 20 s.
start_serve() {
  "$1" serve --listen 127.0.0.1:0 --data-dir "$2/data" --ready-file "$2/ready" \
    --create-delay-ms 0 --fsync "$3" --log warn >>"$4" 2>&1 &
  SERVER_PID=$!
  local _
  for _ in $(seq 1 200); do
    if [[ -s "$2/ready" ]]; then
      ENDPOINT="http://$(cat "$2/ready")"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "freshet serve did not start; its output:" >&2
  cat "$4" >&2
  return 1
}
