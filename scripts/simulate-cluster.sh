#!/usr/bin/env bash
# The cluster log's seeded fault simulation (crates/freshet-cluster/tests/simulation.rs) for as
# many seeds and steps as asked; CI runs seeds 1-4 with 60 steps. A failure names its seed:
# rerun that one alone with FRESHET_SIM_SEEDS=<seed>.
#
#   scripts/simulate-cluster.sh [FIRST-LAST] [steps]      (default 1-200, 80 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
export FRESHET_SIM_SEEDS="${1:-1-200}" FRESHET_SIM_STEPS="${2:-80}"
exec cargo test -p freshet-cluster --test simulation -- --nocapture
