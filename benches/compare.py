#!/usr/bin/env python3
"""End-to-end comparison on this machine: trailpack against the reference DuckDB job,
the decode floor, larger days and S3 with latency. Each run is a child process;
wall time, CPU time (user + system) and peak RSS come from wait4.

Rows (full mode):
  - decode floor: inflate + parse into borrowed structs, no Arrow (trailpack-floor)
  - encode floor: W1's curated output written again with trailpack's Parquet
    settings, no decode (trailpack-floor --encode; its own timing, not the reading)
  - trailpack convert on W1 (288 files x 1,500 records), 2 threads and 1 thread
  - the reference DuckDB job, ../shared/peers/duckdb_convert.py (the plain job a
    DuckDB user writes: flattened columns, JSON text, zstd), 2 threads
  - DuckDB with declared types and ORDER BY eventTime (benches/duckdb_job.py)
  - trailpack on a 4x and a 16x day (memory must stay flat)
  - trailpack convert on W1 with Sigma rules (--rules: the shipped rules/, plus a
    SigmaHQ checkout's CloudTrail rules when SIGMA_RULES names that folder), and
    `trailpack detect` over W1's curated output and over its raw files
  - trailpack reading an organisation's small files (40 accounts x 200 files of 5
    records, ~2 KiB gz) from S3 with 20 ms added to every request
    (trailpack-s3serve: moto answers a few hundred GetObject/s here, too few to
    measure thousands of files a second)
Timed rows are medians of --runs runs (3), alternating between jobs.

usage: SIGMA_RULES=<sigma>/rules/cloud/aws/cloudtrail compare.py [--smoke] [--work DIR] [--runs N] [--no-16x]
  --smoke   tiny inputs, one run each: checks the machinery (run by the test suite)
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
BIN = os.path.join(TARGET, "release")
PEER = os.path.join(os.path.dirname(REPO), "shared", "peers", "duckdb_convert.py")
# W1's Parquet output with this generator (seed 1) before the speed work of #14.
W1_OUTPUT_BEFORE = 52_068_129
S3_LATENCY_MS = 20


def measure(cmd, env=None):
    """Run cmd; return dict(wall, cpu (user + system), rss MiB, out)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.read().decode(errors='replace')}")
        return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024,
                "out": out.read().decode(errors="replace")}


def median(results):
    """The run with the median wall time (its CPU and RSS come with it)."""
    ordered = sorted(results, key=lambda r: r["wall"])
    return ordered[len(ordered) // 2]


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def parquet_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files if f.endswith(".parquet"))


def generate(out, files, records, *extra):
    stamp = os.path.join(out, ".params")
    want = " ".join([str(files), str(records), *extra, "pools-v2", "digests-hourly"])
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([os.path.join(BIN, "trailpack-gen"), "--out", out, "--files", str(files),
                    "--records", str(records), "--seed", "1", *extra], check=True)
    open(stamp, "w").write(want)


def encode_floor(curated):
    """trailpack-floor --encode over a converted output: the encoding's own wall and
    CPU (it prints them; reading the files first is not counted), the process's RSS."""
    r = measure([os.path.join(BIN, "trailpack-floor"), "--encode", curated, "--threads", "2"])
    m = re.search(r"in ([0-9.]+) s, cpu ([0-9.]+) s", r["out"])
    if not m:
        sys.exit(f"trailpack-floor --encode printed no timing: {r['out']}")
    return {"wall": float(m.group(1)), "cpu": float(m.group(2)), "rss": r["rss"]}


def s3_run(day, out, runs):
    """trailpack reading `day` from the S3 stand-in with added latency."""
    port_file = os.path.join(tempfile.mkdtemp(), "port")
    server = subprocess.Popen([os.path.join(BIN, "trailpack-s3serve"), day, "bench", port_file,
                               "--latency-ms", str(S3_LATENCY_MS)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env.pop("AWS_PROFILE", None)
        cmd = [os.path.join(BIN, "trailpack"), "convert", "--input", "s3://bench/", "--output", out,
               "--endpoint-url", f"http://127.0.0.1:{port}", "--s3-force-path-style",
               "--no-progress", "--threads", "2", "--json"]
        results = []
        for _ in range(runs):
            shutil.rmtree(out, ignore_errors=True)
            results.append(measure(cmd, env))
        r = median(results)
        report = json.loads(r["out"])
        r["files"] = report["files"]["listed"]
        r["records"] = report["records"]["written"]
        return r
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--work", default=os.path.join(REPO, "target", "bench-data"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-16x", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(PEER):
        sys.exit(f"the reference DuckDB job is missing: {PEER} (../shared beside the repository)")
    runs = 1 if a.smoke else a.runs
    os.makedirs(a.work, exist_ok=True)
    files, records = (6, 200) if a.smoke else (288, 1500)
    day = os.path.join(a.work, "smoke" if a.smoke else "w1")
    generate(day, files, records)
    big = {}
    if not a.smoke:
        big["4x"] = os.path.join(a.work, "w4")
        generate(big["4x"], files * 4, records)
        if not a.no_16x:
            big["16x"] = os.path.join(a.work, "w16")
            generate(big["16x"], files * 16, records)
    # An organisation's delivery: many accounts, small files (5 records, ~2 KiB gz).
    accounts, small_files = (2, 50) if a.smoke else (40, 200)
    small = os.path.join(a.work, "org-smoke" if a.smoke else "org")
    generate(small, small_files, 5, "--accounts", str(accounts), "--no-digests")
    out = os.path.join(a.work, "out")
    tp = os.path.join(BIN, "trailpack")
    py = os.environ.get("TRAILPACK_PYTHON", os.path.join(REPO, ".venv", "bin", "python"))
    duck_out = os.path.join(a.work, "duckdb.parquet")

    rules = ["--rules", os.path.join(REPO, "rules")]
    sigma = os.environ.get("SIGMA_RULES")
    if sigma:
        rules += ["--rules", sigma]

    def trailpack(threads, input_dir=day, extra=()):
        shutil.rmtree(out, ignore_errors=True)
        r = measure([tp, "convert", "--input", input_dir, "--output", out, "--no-progress",
                           "--threads", str(threads), *extra])
        r["size"] = parquet_bytes(out)
        return r

    def detect(input_dir):
        r = measure([tp, "detect", "--input", input_dir, *rules, "--json"])
        r["report"] = json.loads(r["out"])
        return r

    def peer():
        if os.path.exists(duck_out):
            os.remove(duck_out)
        r = measure([py, PEER, day, duck_out, "--threads", "2"])
        r["size"] = parquet_bytes(duck_out)
        return r

    # Alternate the jobs so drifts of the host spread over all of them.
    series = {"floor": [], "encode": [], "t2": [], "t1": [], "peer": [], "rules": [], "digests": []}
    for _ in range(runs):
        series["floor"].append(measure([os.path.join(BIN, "trailpack-floor"), day, "--threads", "2"]))
        series["t2"].append(trailpack(2))
        series["encode"].append(encode_floor(out))
        series["rules"].append(trailpack(2, extra=rules))
        series["digests"].append(trailpack(2, extra=["--verify-digests", "--json"]))
        series["t1"].append(trailpack(1))
        series["peer"].append(peer())
    floor, encode, t2, t1, ref, with_rules, with_digests = (
        median(series[k]) for k in ("floor", "encode", "t2", "t1", "peer", "rules", "digests"))
    statuses = json.loads(with_digests["out"])["integrity"]["statuses"]
    if statuses != {"hash-chained": files}:
        sys.exit(f"--verify-digests on {day}: expected {files} hash-chained files, got {statuses}")
    # W1's curated output (with findings) is in `out` after a rules run.
    trailpack(2, extra=rules)
    det_curated = median([detect(out) for _ in range(runs)])
    det_raw = median([detect(day) for _ in range(runs)])
    if os.path.exists(duck_out):
        os.remove(duck_out)
    own = measure([py, os.path.join(REPO, "benches", "duckdb_job.py"), day, duck_out, "2"])
    own["size"] = parquet_bytes(duck_out)
    bigs = {name: trailpack(2, path) for name, path in big.items()}
    s3 = s3_run(small, out, runs)
    shutil.rmtree(out, ignore_errors=True)

    gz = du(day)
    label = "smoke day" if a.smoke else "W1"
    recs = files * records
    print(f"\n{label}: {files} files x {records} records ({recs:,}), {gz / 2**20:.1f} MiB gz; "
          f"{os.cpu_count()} CPUs; medians of {runs}\n")
    print("| run | wall | CPU | peak RSS | output |")
    print("|---|---|---|---|---|")
    rows = [
        ("decode floor (inflate + borrowed parse), 2 threads", floor),
        (f"encode floor ({label}'s output written again: Parquet + zstd, no decode), 2 threads", encode),
        ("trailpack, 2 threads", t2),
        ("trailpack, 1 thread", t1),
        ("reference DuckDB job (duckdb_convert.py), 2 threads", ref),
        ("DuckDB, declared types + ORDER BY (duckdb_job.py), 2 threads", own),
    ] + [(f"trailpack, 2 threads, {name} day ({files * (4 if name == '4x' else 16) * records:,} records)", r)
         for name, r in bigs.items()]
    nrules = det_curated["report"]["rules"]["loaded"]
    found = det_curated["report"]["findings"]
    rows[2:2] = [
        (f"trailpack, 2 threads, {nrules} Sigma rules ({sum(found.values()):,} findings)", with_rules),
        (f"trailpack detect over {label}'s curated output, {nrules} rules", det_curated),
        (f"trailpack detect over {label}'s raw files, {nrules} rules", det_raw),
        (f"trailpack, 2 threads, --verify-digests ({files} files hash-chained)", with_digests),
    ]
    for name, r in rows:
        size = f"{r['size'] / 2**20:.1f} MiB" if "size" in r else "-"
        print(f"| {name} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['rss']:.0f} MiB | {size} |")
    files_s = s3["files"] / s3["wall"]
    print(f"| trailpack from S3, {S3_LATENCY_MS} ms per request: {accounts} accounts, "
          f"{s3['files']:,} files of {du(small) / s3['files'] / 1024:.1f} KiB | {s3['wall']:.2f} s | "
          f"{s3['cpu']:.2f} s | {s3['rss']:.0f} MiB | - |")
    print(f"\ntrailpack: {recs / t2['wall'] / 1e3:.0f}k records/s on 2 threads, "
          f"{recs / t1['wall'] / 1e3:.0f}k records/s on 1; from S3: {files_s:,.0f} files/s, "
          f"{s3['records'] / s3['wall'] / 1e3:.0f}k records/s per task")
    least = floor["cpu"] + encode["cpu"]
    print(f"least CPU for this output: decode floor + encode floor = {least:.2f} s, "
          f"{least / floor['cpu']:.2f}x the decode floor (trailpack: {t2['cpu'] / floor['cpu']:.2f}x)")
    print(f"detect: {recs / det_curated['wall'] / 1e3:.0f}k records/s over curated output, "
          f"{recs / det_raw['wall'] / 1e3:.0f}k records/s over raw files ({nrules} rules; findings {found})")
    checks = [
        ("reference DuckDB wall / trailpack wall >= 3.5", ref["wall"] / t2["wall"], 3.5, True),
        ("trailpack CPU / decode floor CPU <= 2", t2["cpu"] / floor["cpu"], 2.0, False),
        ("peak RSS (MiB) <= 300", t2["rss"], 300, False),
        ("1-thread wall / 2-thread wall >= 1.8", t1["wall"] / t2["wall"], 1.8, True),
        ("S3 files/s per task >= 2000", files_s, 2000, True),
        (f"CPU with {nrules} rules / CPU without <= 1.10", with_rules["cpu"] / t2["cpu"], 1.10, False),
        ("CPU with --verify-digests / CPU without <= 1.10", with_digests["cpu"] / t2["cpu"], 1.10, False),
    ]
    if not a.smoke:
        checks.insert(3, (f"output (MiB) <= before ({W1_OUTPUT_BEFORE / 2**20:.1f})",
                          t2["size"] / 2**20, W1_OUTPUT_BEFORE / 2**20, False))
    for name, r in bigs.items():
        checks.append((f"RSS on {name} day / RSS on W1 <= 1.15", r["rss"] / t2["rss"], 1.15, False))
    print("\n| target | measured | met |\n|---|---|---|")
    for name, value, limit, at_least in checks:
        ok = value >= limit if at_least else value <= limit
        print(f"| {name} | {value:.2f} | {'yes' if ok else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
