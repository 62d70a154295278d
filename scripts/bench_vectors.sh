#!/usr/bin/env bash
# Vector index benchmark: lakehouse's VectorIndex and bare usearch on the same vectors,
# f32 / f16 / i8, one process each so RSS is its own, on two data sets:
#   - 100,000 x 768 clustered synthetic vectors (the reference's shape): throughput, memory;
#   - the real-text set: the default model's 384-d embeddings of 100,000 generated profiles
#     (the bulk_index corpus; built first if missing, ~30 min), with recruiter query texts
#     and held-out profiles as queries;
#   - `staffing`, the second corpus: the co-pilot's 100,000 workers (built first if missing,
#     `staffing build`), with its recruiter queries (five styles) and held-out workers.
# Engines: `bare` (usearch alone), `ours` (the default spec, kind auto) and `graph` (kind
# hnsw), side by side in one run.
# Each `ours` run is followed by `vector_bench open`, which reopens the stored index in a
# fresh process (memory-mapped) and prints the time to the first answer and the RSS of
# serving it, and by `vector_bench adds`, which builds both engines in one process from the
# same batches in turn (the add overhead without run-to-run drift). Then the criterion
# benches on the real set (`cargo bench --bench vectors`).
# Usage: scripts/bench_vectors.sh [N] [SETS]   (defaults: 100000 "768 real staffing")
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakehouse-target}"
cargo build --release --workspace --all-targets
n="${1:-100000}"; sets="${2:-768 real staffing}"
bin="$CARGO_TARGET_DIR/release/vector_bench"
for set in $sets; do
  for q in f32 f16 i8; do
    "$bin" bare "$q" "$n" "$set"
    "$bin" graph "$q" "$n" "$set"
    "$bin" ours "$q" "$n" "$set"
    "$bin" open "$n" "$set" "$q"
    "$bin" adds "$q" "$n" "$set"
  done
done
cargo bench --workspace --bench vectors
