#!/usr/bin/env bash
# Apache Flink 2.3 as the peer of Freshet's Nexmark benchmark: runs Nexmark queries (Flink SQL, as
# Flink's Nexmark benchmark has them) on Flink over the same events Freshet's engine gets, and prints
# per query: events, wall seconds, the job's net run time, the JVM's CPU seconds, events per second
# and events per CPU-second.
#
#   scripts/bench-nexmark-peer.sh [EVENTS] [QUERIES...]     (default 10000000, q0 q1 q2 q3 q4 q5 q7 q8 q11)
#   scripts/bench-nexmark-peer.sh --count-rows [EVENTS] [QUERIES...]
#
# --count-rows runs nothing timed: it prints how many rows of each kind (+I, -U, +U, -D) each query
# emits over EVENTS events, to compare with another engine's output on the same events.
#
# Same events: the Java generator (scripts/nexmark-flink/NexmarkGenerator.java) is a bit-for-bit twin
# of the crate freshet-nexmark. Before running anything the script checks that both write the same
# JSON for the first 100,000 events (SHA-256), and stops if they differ. Both use the crate's
# defaults: events 0..EVENTS-1 (1 person, 3 auctions, 46 bids per 50), event time
# 2026-01-01T00:00:00Z + n / 10,000,000 s (first-event rate 10 M/s, Flink's Nexmark setting), so
# EVENTS events span EVENTS / 10 M seconds of event time; the generator never sleeps (the rate only
# spaces timestamps). Same SQL: the DDL, views and queries are printed by the crate's example
# (`nexmark sql`, from freshet_nexmark::sql) and read by the Java bench.
#
# Flink side (NexmarkBench.java): one JVM; per query a warm-up job on NEXMARK_WARMUP events (default
# EVENTS / 10), then the measured job on EVENTS events. Each job runs in a local MiniCluster:
# the table `datagen` from the crate's NEXMARK_DDL with 'connector' = 'nexmark' (NexmarkTableFactory:
# a bounded ScanTableSource emitting one GenericRowData per event, as Flink's Nexmark connector
# does), the views person/auction/bid, INSERT INTO a blackhole sink. The source is bounded, so its
# final watermark fires every window. Settings: parallelism 1, heap (hashmap) state, no
# checkpoints, mini-batch on (2 s / 50,000 rows) and distinct-aggregate splitting on, because
# Flink's Nexmark benchmark configures them so (nexmark-flink conf/config.yaml); object reuse off
# (Flink's default, as there). CPU seconds: the JVM's process CPU time (all threads) around the
# measured job, which includes the MiniCluster's start and stop (about a second of wall time; the
# net column is the job's own run time as Flink reports it).
#
# Knobs (environment): FLINK_VENV (default /var/tmp/flinkvenv: PyFlink 2.3.0, whose lib/ jars are
# the classpath; see scripts/bench-analytics-peer.py for its setup), NEXMARK_WARMUP (events of each
# warm-up job), NEXMARK_HEAP (JVM -Xmx, default 8g), NEXMARK_OBJECT_REUSE (true: Flink's
# pipeline.object-reuse, not set by Flink's Nexmark benchmark), NEXMARK_SOURCE (datastream: the
# events enter through fromDataStream with a Schema instead of the DDL; that adds a conversion
# operator and a copy of every event: q0 ran about 30 % slower in one comparison).
# Java classes are compiled with javac into /var/tmp/nexmark-flink when a source changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/freshet-target}"
MODE=bench
if [ "${1:-}" = --count-rows ]; then
    MODE=count
    shift
fi
EVENTS="${1:-10000000}"
shift || true
QUERIES=("$@")
if [ ${#QUERIES[@]} -eq 0 ]; then
    QUERIES=(q0 q1 q2 q3 q4 q5 q7 q8 q11)
fi
WARMUP="${NEXMARK_WARMUP:-$((EVENTS / 10))}"
FLINK_VENV="${FLINK_VENV:-/var/tmp/flinkvenv}"
WORK=/var/tmp/nexmark-flink
SRC=scripts/nexmark-flink
CHECK_EVENTS=100000
log() { printf '==> %s\n' "$*" >&2; }

shopt -s nullglob
libs=("$FLINK_VENV"/lib/python3*/site-packages/pyflink/lib)
if [ ${#libs[@]} -ne 1 ] || [ ! -f "${libs[0]}/flink-dist-2.3.0.jar" ]; then
    echo "PyFlink 2.3.0 not found under $FLINK_VENV (python3 -m venv $FLINK_VENV && $FLINK_VENV/bin/pip install apache-flink==2.3.0)" >&2
    exit 1
fi
CLASSPATH_JARS="${libs[0]}/*"

mkdir -p "$WORK/classes"
if [ ! -f "$WORK/classes/.built" ] || [ -n "$(find "$SRC" -newer "$WORK/classes/.built" -type f)" ]; then
    log "compiling $SRC/*.java into $WORK/classes"
    rm -rf "$WORK/classes" && mkdir -p "$WORK/classes"
    javac -nowarn -d "$WORK/classes" -cp "$CLASSPATH_JARS" "$SRC"/*.java
    cp -r "$SRC/META-INF" "$WORK/classes/"
    touch "$WORK/classes/.built"
fi

log "building the crate's example (nexmark)"
cargo build --quiet --release -p freshet-nexmark --example nexmark
NEXMARK="$CARGO_TARGET_DIR/release/examples/nexmark"

# Flink on Java 17 needs these (the list of Flink's own config.yaml, env.java.opts.all).
JAVA_OPTS=(
    --add-exports=java.base/sun.net.util=ALL-UNNAMED
    --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
    --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/java.net=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED
    --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens=java.base/java.text=ALL-UNNAMED
    --add-opens=java.base/java.time=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
    "-Xms${NEXMARK_HEAP:-8g}" "-Xmx${NEXMARK_HEAP:-8g}"
    "-Dlog4j2.configurationFile=$SRC/log4j2.properties"
    "-DobjectReuse=${NEXMARK_OBJECT_REUSE:-false}"
    "-Dsource=${NEXMARK_SOURCE:-ddl}"
    -cp "$WORK/classes:$CLASSPATH_JARS"
)

log "checking that the Rust and Java generators agree on the first $CHECK_EVENTS events"
rust_sha=$("$NEXMARK" json "$CHECK_EVENTS" | sha256sum | cut -d' ' -f1)
java_sha=$(java "${JAVA_OPTS[@]}" NexmarkBench json "$CHECK_EVENTS" | sha256sum | cut -d' ' -f1)
if [ "$rust_sha" != "$java_sha" ]; then
    echo "the generators differ: Rust $rust_sha, Java $java_sha (compare '$NEXMARK json N' with 'NexmarkBench json N')" >&2
    exit 1
fi
log "same events (sha256 $rust_sha)"

"$NEXMARK" sql > "$WORK/nexmark.sql"
if [ "$MODE" = count ]; then
    log "Flink 2.3.0: rows out of ${QUERIES[*]} over $EVENTS events"
    java "${JAVA_OPTS[@]}" NexmarkBench count "$WORK/nexmark.sql" "$EVENTS" "${QUERIES[@]}"
else
    log "Flink 2.3.0 on $(nproc) CPUs: $EVENTS events per query, warm-up $WARMUP, queries ${QUERIES[*]}"
    java "${JAVA_OPTS[@]}" NexmarkBench bench "$WORK/nexmark.sql" "$EVENTS" "$WARMUP" "${QUERIES[@]}"
fi
