#!/usr/bin/env bash
# Data-path benchmarks: criterion (ingest MB/s, 1M-row group-by), then DuckDB on the same
# files in the same run, printing the ratios. Figures go to docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakehouse-target}"
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
cargo bench --workspace --bench data_path
python3 scripts/bench_duckdb.py "$CARGO_TARGET_DIR/bench-data" "$CARGO_TARGET_DIR/criterion"
