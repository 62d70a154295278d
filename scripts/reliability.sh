#!/usr/bin/env bash
# The long reliability runs of docs/RELIABILITY.md (CI runs the same tests, shorter):
#   - the crasher: 1,000 kill cycles on a local root and 1,000 on the SeaweedFS S3 server
#     (the server itself is stopped and restarted every tenth cycle);
#   - the catalog and vector crash tests: 1,000 kills each;
#   - the model-based tests: 1,000 random sessions each;
#   - the HTTP soak: 50 clients for 10 minutes.
# Usage: scripts/reliability.sh [CYCLES]   (default 1000; output in reliability-DATE.log)
# Set LAKEHOUSE_CRASH_SEED to repeat a run. Assumes the workspace was built by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakehouse-target}"
cycles="${1:-1000}"
log="reliability-$(date -u +%Y-%m-%d).log"

s3dir="$(mktemp -d)"
cleanup() {
  local pid
  pid="$(cat "$s3dir/weed.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  sleep 1
  rm -rf "$s3dir" 2>/dev/null || true
}
trap cleanup EXIT
eval "$(scripts/s3-server.sh "$s3dir")"

run() {
  echo "== $*" | tee -a "$log"
  { time "$@"; } 2>&1 | tee -a "$log"
}
t() { cargo test --release --workspace "$@"; }

export LAKEHOUSE_CRASHER_CYCLES="$cycles" LAKEHOUSE_CRASH_CYCLES="$cycles" LAKEHOUSE_MODEL_CASES="$cycles"
run t --test crasher -- --nocapture --test-threads=1
run t --test data_path -- --ignored --exact crash_long --nocapture
run t --test vectors -- --ignored --exact vector_crash_long --nocapture
run t --test model_based -- --nocapture
LAKEHOUSE_SOAK_SECS="${LAKEHOUSE_SOAK_SECS:-600}" run t --test server -- --exact soak_mixed_clients --nocapture
echo "done: $log"
