#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time and prints how many inputs each
# one executed. Not part of scripts/test.sh (it needs nightly and minutes of CPU per target).
#
#   scripts/fuzz.sh                    every target, FUZZ_SECS (default 60) seconds each
#   FUZZ_SECS=600 scripts/fuzz.sh log_frame
#
# Idempotent: installs cargo-fuzz only if missing. Corpora grow under fuzz/corpus/<target>
# (ignored by git) from the checked-in seeds in fuzz/seeds/<target>; crashes land in
# fuzz/artifacts/<target>. Exits non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECS="${FUZZ_SECS:-60}"
# A build cache of its own: nightly, sanitizer-instrumented builds share nothing with the main one.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/freshet-fuzz-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

cd fuzz
# --debug-assertions: overflow checks too, so arithmetic on hostile lengths cannot wrap silently.
cargo +nightly fuzz build --debug-assertions --target-dir "$FUZZ_TARGET_DIR"

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  printf '\n==> %s (%ss)\n' "$t" "$FUZZ_SECS"
  if cargo +nightly fuzz run --debug-assertions --target-dir "$FUZZ_TARGET_DIR" "$t" \
       "corpus/$t" "seeds/$t" -- -max_total_time="$FUZZ_SECS" -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
    tail -n 60 "$log"
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
  summary+=("$(printf '%-16s %-6s %s executions' "$t" "$status" "${execs:-?}")")
  rm -f "$log"
done

printf '\n==> summary (%ss per target)\n' "$FUZZ_SECS"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
