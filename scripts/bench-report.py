#!/usr/bin/env python3
"""Turns the raw output of scripts/bench-compare.sh (a folder of `NAME-MODE.txt` files, each with a
`RESULT {json}` line, and fio's JSON) into the markdown tables of BENCHMARKS.md, with ratios
against kinesalite and the strong peers, and a check of the targets. Rows whose runs are missing
(a peer that could not be installed) are left out."""

import json
import pathlib
import sys

results = pathlib.Path(sys.argv[1])


def load(name, mode):
    path = results / f"{name}-{mode}.txt"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit(f"no RESULT line in {path}")


def fio_job(name):
    path = results / name
    return json.loads(path.read_text())["jobs"][0] if path.exists() else None


def fio_secs(job):
    """How long a fio job wrote: its bandwidth is only comparable with runs of the same length.
    A group report sums the runtimes of its jobs, which ran side by side."""
    jobs = int(job.get("job options", {}).get("numjobs", 1))
    return f"{job['job_runtime'] / 1000 / jobs:.1f} s"


def cell(fmt, value):
    return "n/a" if value is None else fmt.format(value)


ROWS = [
    ("freshet, fsync=always", "freshet-always", True),
    ("freshet, fsync=never", "freshet-never", True),
    ("kinesalite 3.3.3 (in-memory)", "kinesalite", True),
    ("Redis 7 Streams, appendfsync=always", "redis-always", False),
    ("Redis 7 Streams, appendfsync=everysec", "redis-everysec", False),
    ("NATS 2.9 JetStream (file store)", "nats", False),
]
data = {}
for label, name, has_get in ROWS:
    put = load(name, "put")
    if put is not None:
        data[label] = (put, load(name, "get") if has_get else None)
# The durable put again with many producers, so the group commit has requests to batch.
saturated = load("freshet-always-saturated", "put")
if saturated is not None:
    data[f"freshet, fsync=always, {saturated['concurrency']} producers"] = (saturated, None)


def get_field(g, key):
    return None if g is None else g.get(key)


columns = [
    ("put rec/s", lambda p, g: p["records_per_sec"], "{:,.0f}"),
    ("put MB/s", lambda p, g: p["mb_per_sec"], "{:.1f}"),
    ("put rec/server-CPU-s", lambda p, g: p["records_per_server_cpu_sec"], "{:,.0f}"),
    ("put p50 ms", lambda p, g: p["latency_ms"]["p50"], "{:.1f}"),
    ("put p99 ms", lambda p, g: p["latency_ms"]["p99"], "{:.1f}"),
    ("get rec/s", lambda p, g: get_field(g, "records_per_sec"), "{:,.0f}"),
    ("get MB/s", lambda p, g: get_field(g, "mb_per_sec"), "{:.1f}"),
    ("get rec/server-CPU-s", lambda p, g: get_field(g, "records_per_server_cpu_sec"), "{:,.0f}"),
]

print("| server | " + " | ".join(c[0] for c in columns) + " |")
print("|---" * (len(columns) + 1) + "|")
for label, (p, g) in data.items():
    print(f"| {label} | " + " | ".join(cell(fmt, f(p, g)) for _, f, fmt in columns) + " |")

# Like against like: durable against durable, and acknowledged-before-fsync against the same.
RATIOS = [
    ("freshet, fsync=always", "kinesalite 3.3.3 (in-memory)", "kinesalite"),
    ("freshet, fsync=never", "kinesalite 3.3.3 (in-memory)", "kinesalite"),
    ("freshet, fsync=always", "Redis 7 Streams, appendfsync=always", "Redis, appendfsync=always"),
    ("freshet, fsync=never", "Redis 7 Streams, appendfsync=everysec", "Redis, appendfsync=everysec"),
    ("freshet, fsync=never", "NATS 2.9 JetStream (file store)", "NATS JetStream"),
]
for ours, peer, short in RATIOS:
    if ours not in data or peer not in data:
        continue
    ratios = []
    for _, f, _ in columns:
        a, b = f(*data[ours]), f(*data[peer])
        ratios.append("n/a" if not a or not b else f"{a / b:.2f}×")
    print(f"| ratio {ours} ÷ {short} | " + " | ".join(ratios) + " |")
print()
print("For the latency columns, a ratio below 1 means Freshet is faster.")

print()
print("| server | put records | put secs | put server CPU-s | put client CPU-s | get records | get secs |")
print("|---" * 7 + "|")
for label, (p, g) in data.items():
    print(f"| {label} | {p['records']:,} | {p['secs']:.1f} | {cell('{:.1f}', p['server_cpu_secs'])} "
          f"| {cell('{:.1f}', p.get('client_cpu_secs'))} "
          f"| {cell('{:,}', get_field(g, 'records'))} | {cell('{:.1f}', get_field(g, 'secs'))} |")

mixed = load("freshet-always", "mixed")
if mixed is not None and mixed.get("read"):
    r = mixed["read"]
    print()
    print("Mixed (freshet, fsync=always): the put workload above with one GetRecords poller per shard "
          "following the tail at the same time.")
    print()
    print("| put rec/s | put MB/s | read rec/s | read MB/s | put→read p50 ms | put→read p99 ms "
          "| (put + read) rec/server-CPU-s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {mixed['records_per_sec']:,.0f} | {mixed['mb_per_sec']:.1f} | {r['records_per_sec']:,.0f} "
          f"| {r['mb_per_sec']:.1f} | {r['receipt_latency_ms']['p50']:.1f} "
          f"| {r['receipt_latency_ms']['p99']:.1f} "
          f"| {cell('{:,.0f}', r['total_records_per_server_cpu_sec'])} |")

def load_runs(name, mode):
    """Every numbered run (`NAME-MODE-1.txt`, ...), or the single unnumbered one of older folders."""
    runs = []
    while (run := load(name, f"{mode}-{len(runs) + 1}")) is not None:
        runs.append(run)
    single = load(name, mode)
    return runs or ([single] if single else [])


def median(values):
    return sorted(values)[len(values) // 2]


freshet_e2e = load_runs("freshet-always", "e2e")
nats_e2e = load_runs("nats", "e2e")
E2E_PATHS = [
    ("freshet, fsync=always: put→GetRecords (poller, 1 ms idle sleep)", freshet_e2e, "get_records"),
    ("freshet, fsync=always: put→SubscribeToShard", freshet_e2e, "subscribe_to_shard"),
    ("NATS 2.9 JetStream: publish→ordered push consumer", nats_e2e, "jetstream_consumer"),
]
# Per path that was measured: its label and its (run, path result) pairs.
e2e_paths = {}
for label, runs, key in E2E_PATHS:
    measured = [(run, run["e2e"][key]) for run in runs if run["e2e"].get(key)]
    if measured:
        e2e_paths[key] = (label, measured)


def e2e_percentiles(key, pct):
    """One percentile of a path's latency, run by run."""
    return [path["latency_ms"][pct] for _, path in e2e_paths[key][1]]


if e2e_paths:
    rate = next(iter(e2e_paths.values()))[1][0][0]["e2e"]["target_rate"]
    print()
    print(f"End to end at {rate:,.0f} records/s (one 1 KiB record per put; latency from just before "
          "the put is sent to the record's arrival at the reader, per record), each run on a fresh "
          "server:")
    print()
    print("| path | run | received / acked | put ack p50 ms | put ack p99 ms | p50 ms | p90 ms "
          "| p99 ms | p99.9 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, runs in e2e_paths.values():
        for i, (run, path) in enumerate(runs, 1):
            l = path["latency_ms"]
            print(f"| {label} | {i} | {path['records']:,} / {run['records']:,} "
                  f"| {run['latency_ms']['p50']:.2f} | {run['latency_ms']['p99']:.2f} | {l['p50']:.2f} "
                  f"| {l['p90']:.2f} | {l['p99']:.2f} | {l['p999']:.2f} | {l['max']:.2f} |")
    print()
    for key, (label, runs) in e2e_paths.items():
        print(f"- {label}: median p50 {median(e2e_percentiles(key, 'p50')):.2f} ms, "
              f"median p99 {median(e2e_percentiles(key, 'p99')):.2f} ms over {len(runs)} run(s).")

fio = fio_job("fio.json")
fio_small = fio_job("fio-fsync.json")
fio_pattern = fio_job("fio-pattern.json")
disk_mb = fio["write"]["bw_bytes"] / 1e6 if fio else None
pattern_mb = fio_pattern["write"]["bw_bytes"] / 1e6 if fio_pattern else None
fsync_p50_ms = fsync_p99_ms = None
if fio_small:
    pct = fio_small.get("sync", {}).get("lat_ns", {}).get("percentile", {})
    if pct:
        fsync_p50_ms = pct.get("50.000000", 0) / 1e6
        fsync_p99_ms = pct.get("99.000000", 0) / 1e6
print()
if disk_mb:
    print(f"Disk baseline (fio, sequential 1 MiB writes with fdatasync after each, "
          f"{fio_secs(fio)}): {disk_mb:.1f} MB/s.")
if pattern_mb:
    print(f"Freshet's write pattern (fio, 4 files at once, direct 256 KiB appends with fdatasync "
          f"after each, {fio_secs(fio_pattern)}): {pattern_mb:.1f} MB/s.")
if fsync_p50_ms is not None:
    print(f"One small fsync (fio, 4 KiB writes with fdatasync after each): p50 {fsync_p50_ms:.2f} ms, "
          f"p99 {fsync_p99_ms:.2f} ms.")

# The targets of the issue, checked against this run.
checks = []
always = data.get("freshet, fsync=always")
kinesalite = data.get("kinesalite 3.3.3 (in-memory)")
if always and disk_mb:
    best = max((r for r in (always[0], saturated) if r), key=lambda r: r["mb_per_sec"])
    share = best["mb_per_sec"] / disk_mb
    value = f"{share * 100:.0f}% ({best['concurrency']} producers)"
    if pattern_mb:
        value += f"; {best['mb_per_sec'] / pattern_mb * 100:.0f}% of fio in Freshet's write pattern"
    checks.append((f"durable put ≥ 85% of fio's durable write bandwidth", value, share >= 0.85))
if always and kinesalite:
    ratio = always[0]["records_per_sec"] / kinesalite[0]["records_per_sec"]
    checks.append(("durable put ≥ 10× kinesalite", f"{ratio:.1f}×", ratio >= 10))
if always and always[0]["records_per_server_cpu_sec"]:
    v = always[0]["records_per_server_cpu_sec"]
    checks.append(("≥ 250k records put per server CPU-second", f"{v:,.0f}", v >= 250_000))
if always and always[1] and always[1]["records_per_server_cpu_sec"]:
    v = always[1]["records_per_server_cpu_sec"]
    checks.append(("≥ 600k records read per server CPU-second", f"{v:,.0f}", v >= 600_000))
if "subscribe_to_shard" in e2e_paths:
    p50s = e2e_percentiles("subscribe_to_shard", "p50")
    p99s = e2e_percentiles("subscribe_to_shard", "p99")

    def runs_text(values):
        if len(values) == 1:
            return f"{values[0]:.2f} ms"
        return f"{median(values):.2f} ms, median of {', '.join(f'{v:.2f}' for v in values)}"

    if fsync_p50_ms is not None:
        checks.append((f"put→SubscribeToShard p50 ≤ 1 ms + one fsync ({1 + fsync_p50_ms:.2f} ms)",
                       runs_text(p50s), median(p50s) <= 1 + fsync_p50_ms))
    checks.append(("put→SubscribeToShard p99 ≤ 5 ms", runs_text(p99s), median(p99s) <= 5))
if checks:
    print()
    print("| target | this run | met |")
    print("|---|---|---|")
    for target, value, met in checks:
        print(f"| {target} | {value} | {'yes' if met else 'no'} |")

print()
runs = [r for pg in data.values() for r in pg if r] + ([mixed] if mixed else []) + freshet_e2e + nats_e2e
if not any(r["errors"] or r["failed_records"] for r in runs):
    print("No request errors and no failed records in any run.")
for r in runs:
    for kind, count in r["errors"].items():
        print(f"errors ({r['endpoint']}, {r['mode']}): {count} × {kind}: "
              f"{r['error_samples'].get(kind)}")
    for code, count in r["failed_records"].items():
        print(f"failed records ({r['endpoint']}, {r['mode']}): {count} × {code}")
for run in freshet_e2e + nats_e2e:
    for name, path in run["e2e"].items():
        if isinstance(path, dict):
            for kind, count in path["errors"].items():
                print(f"errors ({run['endpoint']}, e2e {name}): {count} × {kind}")
