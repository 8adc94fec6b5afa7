#!/usr/bin/env bash
# The whole test suite: unit, property and handler tests (cargo), the Rust SDK and CBOR
# end-to-end tests, and the boto3 / AWS CLI end-to-end suite against the real binary.
# Idempotent: installs only what is missing; reuses the build cache in $CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A clean clone at a new path would add its own incremental state to the shared cache each run.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

step() { printf '\n==> %s\n' "$*"; }

step "python test clients"
if ! python3 -c 'import boto3, botocore, pytest, pyarrow, osmem_server, pyiceberg, prometheus_client' 2>/dev/null \
   || ! command -v moto_server >/dev/null 2>&1 \
   || ! python3 -c 'import botocore, os, sys; sys.exit(0 if os.path.exists(os.path.join(os.path.dirname(botocore.__file__), "data/kinesis")) else 1)'; then
  python3 -m pip install --quiet -r tests/e2e/requirements.txt
fi
command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli

step "system tools (openssl and its headers, strace, ffmpeg/ffprobe, chromium, JDK 17)"
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# WebRTC's DTLS (str0m) links the system OpenSSL.
pkg-config --exists openssl 2>/dev/null || missing+=(pkg-config libssl-dev)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
# A real PostgreSQL: Firehose's Redshift destination (same wire protocol) and cluster mode's
# catalog and log (freshet-testkit starts a throwaway server per test process).
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "Apache Flink 2.3 (a local cluster for the Flink-cluster tests)"
scripts/install-flink.sh

step "browser test driver (playwright-core, driving the system chromium; the KVS WebRTC JS SDK)"
if [ ! -d tests/browser/node_modules/playwright-core ] \
  || [ ! -d tests/browser/node_modules/amazon-kinesis-video-streams-webrtc ]; then
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

# One feature set for every cargo command, so nothing is compiled twice: with the failpoints,
# which the debug binary needs for tests/e2e/test_failpoints.py (they compile to nothing without).
FEATURES=(--features freshet/failpoints)

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets "${FEATURES[@]}" --quiet -- -D warnings

step "build"
cargo build --workspace "${FEATURES[@]}" --quiet

step "cargo tests (unit, property, handler, SDK and CBOR end-to-end)"
export FRESHET_BIN="$CARGO_TARGET_DIR/debug/freshet"
cargo test --workspace "${FEATURES[@]}" --quiet

step "boto3 and AWS CLI end-to-end tests"
# The console's browser test leaves a screenshot of each page here (a test artifact).
export CONSOLE_SCREENSHOTS="${CONSOLE_SCREENSHOTS:-$CARGO_TARGET_DIR/console-screenshots}"
python3 -m pytest tests/e2e -q -p no:cacheprovider
echo "console screenshots: $CONSOLE_SCREENSHOTS"
