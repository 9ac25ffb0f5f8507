#!/usr/bin/env python3
"""Bytes read to answer a query: curated Parquet vs raw gzipped CloudTrail JSON.

Athena bills by bytes scanned; DuckDB reading the same data is the proxy. For every
query of the pack, each runs in DuckDB over the curated output of W1 (partition and
column pruning apply), and the raw equivalent reads the day's .json.gz files (every
byte, as Athena must for JSON). Bytes are the process's read-syscall bytes (rchar)
while the statement runs.

usage: bytes_scanned.py W1_INPUT_DIR W1_OUTPUT_DIR
"""
import os
import subprocess
import sys

import duckdb
import sqlglot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS = {
    "access_key_activity": ["access_key_id=AKIAEXAMPLEEXAMPLE1"],
    "source_ip_activity": ["ip=198.51.100.7"],
    "new_regions_used": ["baseline_from_day=2024-03-01"],
    "principal_activity_window": ["principal_arn=arn:aws:iam::111122223333:role/AdminRole"],
}


def rchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def measure(con, sql):
    before = rchar()
    rows = con.execute(sql).fetchall()
    return rchar() - before, len(rows)


def main(inp, out):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    tp = os.path.join(target, "release", "trailpack")
    gz = 0
    for d, _, files in os.walk(os.path.join(inp, "AWSLogs")):
        if "/CloudTrail/" in d + "/" and d.endswith(os.path.join("2024", "03", "05")):
            gz += sum(os.path.getsize(os.path.join(d, f)) for f in files if f.endswith(".json.gz"))
    print(f"raw input of the day: {gz / 2**20:.1f} MiB of .json.gz (what Athena scans for raw JSON)\n")
    print("| query | rows | curated Parquet read | raw gz JSON read by DuckDB | fewer bytes | vs .json.gz size |")
    print("|---|---|---|---|---|---|")
    names = subprocess.run([tp, "queries", "list"], check=True, capture_output=True, text=True).stdout.split("\n")
    raw = None
    for name in [n.split()[0] for n in names if n.strip()]:
        args = [tp, "queries", "show", name, "--param", "from_day=2024-03-05", "--param", "to_day=2024-03-05"]
        for p in PARAMS.get(name, []):
            args += ["--param", p]
        sql = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
        con = duckdb.connect()
        con.execute("SET enable_object_cache = false")
        glob = os.path.join(out, "account=*", "region=*", "day=*", "*.parquet")
        con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false)")
        curated, rows = measure(con, duck)
        if raw is None:
            # Reading the raw files costs the same whatever the query: every byte.
            raw_con = duckdb.connect()
            raw_glob = os.path.join(inp, "AWSLogs", "*", "CloudTrail", "*", "2024", "03", "05", "*.json.gz")
            raw, _ = measure(raw_con, f"SELECT count(*) FROM read_json('{raw_glob}', columns = {{'Records': 'JSON[]'}}, maximum_object_size = 268435456)")
        print(f"| {name} | {rows} | {curated / 2**20:.2f} MiB | {raw / 2**20:.1f} MiB | {raw / max(curated, 1):.0f}x | {gz / max(curated, 1):.0f}x |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
