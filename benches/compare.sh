#!/usr/bin/env bash
# One command for the end-to-end comparison (trailpack vs DuckDB vs the decode
# floor). Builds the release binaries, makes sure the Python environment with
# DuckDB exists, then runs benches/compare.py (pass --smoke for a tiny day).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins
if ! .venv/bin/python -c 'import duckdb, pyarrow' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
exec .venv/bin/python benches/compare.py "$@"
