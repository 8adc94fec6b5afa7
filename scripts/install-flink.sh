#!/usr/bin/env bash
# Installs Apache Flink 2.3 where the Flink-cluster tests and the Flink benchmarks find it: the
# PyPI package apache-flink ships Flink's distribution (bin/start-cluster.sh, lib/, conf/) inside
# PyFlink, in a virtual environment at $FLINK_VENV (default /var/tmp/flinkvenv, outside the clone,
# about 850 MB). Idempotent: does nothing when it is there. Flink runs on the JDK 17 that
# scripts/test.sh installs (java, javac and jar on PATH).
set -euo pipefail
venv=${FLINK_VENV:-/var/tmp/flinkvenv}
if compgen -G "$venv/lib/python3*/site-packages/pyflink/bin/start-cluster.sh" >/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet apache-flink==2.3.0
