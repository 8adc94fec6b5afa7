#!/usr/bin/env bash
# Builds Freshet's Flink SQL runner: the small job Freshet submits to an Apache Flink cluster
# ([analytics.flink] rest_url) to run a Flink SQL application there. It is compiled against the
# cluster's own Flink jars, so it matches the cluster's version.
#
#   scripts/build-flink-sql-runner.sh FLINK_HOME OUT.jar
#
# FLINK_HOME is a Flink distribution (its lib/ holds flink-dist and flink-table jars); OUT.jar is
# what `sql_runner_jar` names in Freshet's configuration. Needs a JDK (javac, jar). Rebuilds only
# when the source is newer than OUT.jar.
set -euo pipefail
flink_home=${1:?usage: $0 FLINK_HOME OUT.jar}
out=${2:?usage: $0 FLINK_HOME OUT.jar}
src_dir="$(cd "$(dirname "$0")/.." && pwd)/java/flink-sql-runner"
src="$src_dir/dev/freshet/flink/SqlRunner.java"
if [[ -f "$out" && "$out" -nt "$src" ]]; then
    exit 0
fi
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac --release 11 -nowarn -cp "$flink_home/lib/*" -d "$classes" "$src"
mkdir -p "$(dirname "$out")"
jar --create --file "$out.tmp" --main-class dev.freshet.flink.SqlRunner -C "$classes" .
mv "$out.tmp" "$out"
