#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (a Python venv
# with pyarrow and DuckDB, the independent readers of our output; a second one with
# the deploy/ linters), then runs formatting and lint checks, the deploy checks, unit
# tests and end-to-end tests of the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Python test environment (.venv: pyarrow, duckdb, sqlglot, moto server, boto3, pySigma, cryptography)"
if ! .venv/bin/python -c 'import pyarrow, duckdb, sqlglot, moto.server, boto3, sigma, cryptography' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export TRAILPACK_PYTHON="$PWD/.venv/bin/python"
"$TRAILPACK_PYTHON" -c 'import pyarrow, duckdb, sqlglot; print("pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__, "sqlglot", sqlglot.__version__)'

step "rustfmt and clippy"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

step "benchmark smoke run (tiny day; the full comparison is benches/compare.sh)"
cargo build --release --locked --bins
"$TRAILPACK_PYTHON" benches/compare.py --smoke

step "deploy/: hadolint, cfn-lint, checkov; template and image context checked against the binary"
if ! .venv-deploy/bin/python -c 'import cfnlint, checkov' 2>/dev/null || [ ! -x .venv-deploy/bin/hadolint ]; then
  python3 -m venv .venv-deploy
  .venv-deploy/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/requirements.txt
fi
.venv-deploy/bin/hadolint deploy/Dockerfile
.venv-deploy/bin/cfn-lint deploy/cloudformation.yaml
.venv-deploy/bin/checkov --directory deploy --quiet --compact --skip-download
.venv-deploy/bin/python tests/py/deploy_check.py target/release/trailpack .venv/bin/moto_server

step "criterion benches, run once each as tests"
cargo test --locked --bench hot

step "tests"
cargo test --locked --lib --bins --tests
