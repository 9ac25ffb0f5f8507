#!/usr/bin/env python3
"""End-to-end comparison: trailpack vs DuckDB vs the decode floor, on the same machine.

Generates the reference day W1 (1 account, 1 region, 288 files x 1,500 records) with
trailpack-gen, then measures, each as a child process (wall time, CPU time and peak
RSS from wait4):
  - the decode floor: inflate + parse into borrowed structs, no Arrow (trailpack-floor)
  - trailpack convert, 2 threads and 1 thread
  - DuckDB doing the equivalent job (benches/duckdb_job.py), 2 threads
  - trailpack convert on a 4x larger day (memory must not grow with input)
and prints a Markdown table, the ratios and the targets.

usage: compare.py [--smoke] [--work DIR] [--runs N]
  --smoke   a tiny day, one run each: checks the machinery (used by the test suite)
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
BIN = os.path.join(TARGET, "release")


def measure(cmd, env=None):
    """Run cmd; return (wall s, cpu s, peak RSS MiB, stdout)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.decode(errors="replace")


def best(cmd, runs, before=None):
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(measure(cmd))
    return min(results, key=lambda r: r[0])


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total


def parquet_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(path)
        for f in files
        if f.endswith(".parquet")
    )


def generate(out, files, records):
    stamp = os.path.join(out, ".params")
    want = f"{files}x{records}"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([os.path.join(BIN, "trailpack-gen"), "--out", out, "--files", str(files),
                    "--records", str(records), "--seed", "1"], check=True)
    open(stamp, "w").write(want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--work", default=os.path.join(REPO, "target", "bench-data"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    runs = 1 if a.smoke else a.runs
    os.makedirs(a.work, exist_ok=True)
    files, records = (6, 200) if a.smoke else (288, 1500)
    day = os.path.join(a.work, "smoke" if a.smoke else "w1")
    big = os.path.join(a.work, "w4")
    generate(day, files, records)
    if not a.smoke:
        generate(big, files * 4, records)
    out = os.path.join(a.work, "out")
    tp = os.path.join(BIN, "trailpack")

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    rows = []
    gz = du(day)
    floor = best([os.path.join(BIN, "trailpack-floor"), day, "--threads", "2"], runs)
    rows.append(("decode floor (inflate + borrowed parse), 2 threads", floor, None))
    t2 = best([tp, "convert", "--input", day, "--output", out, "--no-progress", "--threads", "2"], runs, clean)
    t2_out = parquet_bytes(out)
    rows.append(("trailpack, 2 threads", t2, t2_out))
    t1 = best([tp, "convert", "--input", day, "--output", out, "--no-progress", "--threads", "1"], runs, clean)
    rows.append(("trailpack, 1 thread", t1, parquet_bytes(out)))
    duck_out = os.path.join(a.work, "duckdb.parquet")
    py = os.environ.get("TRAILPACK_PYTHON", os.path.join(REPO, ".venv", "bin", "python"))
    dk = best([py, os.path.join(REPO, "benches", "duckdb_job.py"), day, duck_out, "2"], 1,
              lambda: os.path.exists(duck_out) and os.remove(duck_out))
    rows.append(("DuckDB, 2 threads (benches/duckdb_job.py)", dk, parquet_bytes(duck_out)))
    t4 = None
    if not a.smoke:
        t4 = best([tp, "convert", "--input", big, "--output", out, "--no-progress", "--threads", "2"], 1, clean)
        rows.append(("trailpack, 2 threads, 4x day", t4, parquet_bytes(out)))
    clean()

    label = "smoke day" if a.smoke else "W1"
    print(f"\n{label}: {files} files x {records} records, {gz / 2**20:.1f} MiB gz input\n")
    print("| run | wall | CPU | peak RSS | output |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu, rss, _), size in rows:
        size_s = f"{size / 2**20:.1f} MiB" if size is not None else "-"
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MiB | {size_s} |")
    recs = files * records
    print(f"\ntrailpack: {recs / t2[0] / 1e3:.0f}k records/s on 2 threads, "
          f"{recs / t1[0] / 1e3:.0f}k records/s per core (1 thread)")
    checks = [
        ("DuckDB wall / trailpack wall >= 3", dk[0] / t2[0], 3.0, True),
        ("1-thread wall / 2-thread wall >= 1.8", t1[0] / t2[0], 1.8, True),
        ("peak RSS (MiB) <= 300", t2[2], 300, False),
        ("output / gz input <= 1", t2_out / gz, 1.0, False),
        ("trailpack wall / decode floor <= 2", t2[0] / floor[0], 2.0, False),
    ]
    if t4:
        checks.append(("RSS on 4x day / RSS on W1 <= 1.1", t4[2] / t2[2], 1.1, False))
    print("\n| target | measured | met |\n|---|---|---|")
    for name, value, limit, at_least in checks:
        ok = value >= limit if at_least else value <= limit
        print(f"| {name} | {value:.2f} | {'yes' if ok else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
