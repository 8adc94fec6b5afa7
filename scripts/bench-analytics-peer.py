#!/usr/bin/env python3
"""Apache Flink as a peer for the Analytics SQL engine's throughput bench.

Runs the query shapes of `crates/freshet-analytics-engine/benches/throughput.rs` on Apache Flink
(PyFlink's local MiniCluster) over the same generated ticker records, so that BENCHMARKS.md can
give ratios measured in one session. Reports, per query, wall seconds, the Flink JVM's CPU seconds
(user+sys from /proc/<pid>/stat, read before and after each job), events per second and events per
CPU-second.

Setup (outside the repository; ~844 MB, needs Java 17 on PATH or JAVA_HOME):

    python3 -m venv /var/tmp/flinkvenv && /var/tmp/flinkvenv/bin/pip install apache-flink==2.3.0

Run:

    /var/tmp/flinkvenv/bin/python scripts/bench-analytics-peer.py [EVENTS] [--count-rows]

The records are the Rust bench's `records()` (same JSON text, same field names, same order) with
one extra field, ROWTIME_MS, that the engine's records do not have: the Rust bench has no event
time in the records but stamps each batch of 10,000 records with a virtual clock running at 1,000
records per millisecond, so record i arrives at (i // 10000) * 10 ms. Flink gets that value as its
event time (a rowtime column with an ascending watermark, shifted by a whole number of seconds: see
EPOCH_SHIFT_MS), since a file source has no clock to reproduce. The records are written as JSON
lines to a temporary file that Flink reads with its bundled filesystem connector and json format;
the file is removed at the end.

Each shape is one Flink job, run in turn in the same JVM (the local executor gives each job its own
MiniCluster inside it): parallelism 1, heap (hashmap) state, no checkpoints, mini-batch on
(2 s / 5,000 rows), a blackhole sink. The stateless filter runs first and again last: the first
job pays for JVM warm-up (class loading, JIT), the repeat shows the warm figure.

`--count-rows` afterwards counts each query's output rows with a COUNT(*) over it in the same
streaming setup (untimed; comparable with the Rust bench's "output rows" column).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

KEYS = 1_000
SECTORS = ("TECH", "ENERGY", "RETAIL", "HEALTH")
# The Rust bench pushes batches of 10,000 records and advances its clock 1 ms per 1,000 records.
BATCH = 10_000
RECORDS_PER_MS = 1_000
# Flink's event-time OVER operator drops rows stamped at the epoch itself as late (its "last
# triggering time" starts at 0), so Flink's time is the virtual clock plus this whole number of
# seconds (2023-11-14T22:13:20Z): the same 1 s window boundaries, no rows lost.
EPOCH_SHIFT_MS = 1_700_000_000_000

SOURCE = "ticks"

# name, sink columns, the query. Column names follow the JSON fields of the Rust bench's records.
QUERIES = {
    "filter": (
        "stateless filter",
        "ticker STRING, price DOUBLE, change DOUBLE",
        f"""SELECT TICKER_SYMBOL, PRICE, CHANGE FROM {SOURCE}
WHERE SECTOR = 'TECH' AND PRICE > 50""",
    ),
    "tumble": (
        "tumbling COUNT/SUM per key (1 s)",
        "ticker STRING, n BIGINT, total DOUBLE",
        f"""SELECT TICKER_SYMBOL, COUNT(*), SUM(PRICE)
FROM TABLE(TUMBLE(TABLE {SOURCE}, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY TICKER_SYMBOL, window_start, window_end""",
    ),
    "sliding": (
        "sliding AVG per key (10 s RANGE)",
        "ticker STRING, price DOUBLE, avg_price DOUBLE",
        f"""SELECT TICKER_SYMBOL, PRICE, AVG(PRICE) OVER (
  PARTITION BY TICKER_SYMBOL ORDER BY ts
  RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW)
FROM {SOURCE}""",
    ),
}
# The filter first (cold JVM) and again last (warm JVM).
RUNS = [
    ("filter", " (1st job, cold JVM)"),
    ("tumble", ""),
    ("sliding", ""),
    ("filter", " (warm repeat)"),
]


def record(i: int) -> str:
    """The Rust bench's record i, plus the virtual clock's time for it as ROWTIME_MS."""
    rowtime_ms = (i // BATCH) * BATCH // RECORDS_PER_MS
    return (
        f'{{"TICKER_SYMBOL":"T{i % KEYS:04}","SECTOR":"{SECTORS[i % len(SECTORS)]}",'
        f'"CHANGE":{(i % 200) / 100.0 - 1.0:.2f},"PRICE":{(i * 7 % 10_000) / 100.0:.2f},'
        f'"ROWTIME_MS":{rowtime_ms}}}'
    )


def write_records(path: str, events: int) -> None:
    with open(path, "w", encoding="ascii") as out:
        chunk = 100_000
        for start in range(0, events, chunk):
            out.write("".join(record(i) + "\n" for i in range(start, min(start + chunk, events))))


def source_ddl(path: str) -> str:
    # An ascending watermark: many records share a millisecond, so it trails the newest by 1 ms.
    return f"""CREATE TABLE {SOURCE} (
  TICKER_SYMBOL STRING,
  SECTOR STRING,
  CHANGE DOUBLE,
  PRICE DOUBLE,
  ROWTIME_MS BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ROWTIME_MS + {EPOCH_SHIFT_MS}, 3),
  WATERMARK FOR ts AS ts - INTERVAL '0.001' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{path}', 'format' = 'json')"""


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def java_pid() -> int:
    """The gateway JVM that PyFlink started as a child of this process (it runs the jobs)."""
    pending, seen = [os.getpid()], []
    while pending:
        for child in children(pending.pop()):
            seen.append(child)
            pending.append(child)
    for pid in seen:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "java":
                return pid
    raise RuntimeError("no java child process found")


def cpu_secs(pid: int) -> float:
    """User + system CPU seconds of a whole process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: field 14 (utime) and 15 (stime) of proc(5) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def configure(t_env) -> None:
    config = t_env.get_config()
    config.set("parallelism.default", "1")
    config.set("table.local-time-zone", "UTC")
    config.set("state.backend.type", "hashmap")
    config.set("pipeline.name", "freshet-peer-bench")
    config.set("table.exec.mini-batch.enabled", "true")
    config.set("table.exec.mini-batch.allow-latency", "2 s")
    config.set("table.exec.mini-batch.size", "5000")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def count_rows(t_env) -> dict[str, int]:
    """Each query's output rows: a streaming COUNT(*) over it, whose last update is the total."""
    from pyflink.common import RowKind

    counts = {}
    for key, (_, _, query) in QUERIES.items():
        total = 0
        with t_env.execute_sql(f"SELECT COUNT(*) FROM ({query})").collect() as rows:
            for row in rows:
                if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                    total = row[0]
        counts[key] = total
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--count-rows", action="store_true", help="count output rows (untimed)")
    args = parser.parse_args()
    events = args.events

    from pyflink.table import EnvironmentSettings, TableEnvironment
    import pyflink

    workdir = tempfile.mkdtemp(prefix="freshet-flink-bench-")
    try:
        path = os.path.join(workdir, "ticks.json")
        started = time.perf_counter()
        write_records(path, events)
        print(
            f"wrote {events} JSON records ({os.path.getsize(path) / 1e6:.1f} MB) in "
            f"{time.perf_counter() - started:.1f} s to {path}",
            flush=True,
        )

        started = time.perf_counter()
        t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        configure(t_env)
        pid = java_pid()
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        print(
            f"PyFlink {pyflink.version.__version__}, JVM pid {pid} "
            f"({java.splitlines()[0] if java else 'java ?'}) up in "
            f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores, load {loadavg()}",
            flush=True,
        )
        t_env.execute_sql(source_ddl(path))

        results = []
        for n, (key, suffix) in enumerate(RUNS):
            name, columns, query = QUERIES[key]
            sink = f"sink_{n}"
            t_env.execute_sql(f"CREATE TABLE {sink} ({columns}) WITH ('connector' = 'blackhole')")
            cpu = cpu_secs(pid)
            started = time.perf_counter()
            t_env.execute_sql(f"INSERT INTO {sink} {query}").wait()
            wall = time.perf_counter() - started
            cpu = cpu_secs(pid) - cpu
            results.append((name + suffix, wall, cpu))
            print(f"  done: {name + suffix}: {wall:.1f} s wall, {cpu:.1f} s JVM CPU", flush=True)

        print()
        print(
            f"Flink {pyflink.version.__version__} MiniCluster, parallelism 1, {events} JSON events "
            f"per query from a file, {KEYS} keys, load {loadavg()}"
        )
        print(
            f"{'query':<44} {'events':>10} {'wall s':>8} {'JVM CPU s':>10} "
            f"{'events/s':>10} {'events/CPU-s':>13}"
        )
        for name, wall, cpu in results:
            print(
                f"{name:<44} {events:>10} {wall:>8.2f} {cpu:>10.2f} "
                f"{events / wall:>10.0f} {events / cpu:>13.0f}"
            )

        if args.count_rows:
            print()
            print("output rows (streaming COUNT(*) over each query, untimed):")
            for key, count in count_rows(t_env).items():
                print(f"  {QUERIES[key][0]:<40} {count:>10}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
