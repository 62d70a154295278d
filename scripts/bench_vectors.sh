#!/usr/bin/env bash
# Vector index benchmark: lakehouse's VectorIndex and bare usearch on the same N x DIM
# clustered vectors (default 100,000 x 768), f32 / f16 / i8, one process each so RSS is its
# own. Prints one line per run: add throughput, search p50/p99 (k = 10), recall@10 against
# exact search, RSS growth over the raw f32 bytes, open time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakehouse-target}"
cargo build --release --workspace --all-targets
n="${1:-100000}"; dim="${2:-768}"
for q in f32 f16 i8; do
  for engine in bare ours; do
    "$CARGO_TARGET_DIR/release/vector_bench" "$engine" "$q" "$n" "$dim"
  done
done
