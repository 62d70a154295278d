#!/usr/bin/env bash
# The thread team's tests (lakehouse-core/src/embed/team.rs: step hand-off, bounds-checked
# shared buffers, a leader that panics while a helper still runs its task) under
# AddressSanitizer. The file is built alone (tools/sanitize) so the sanitizer does not
# rebuild the workspace; RUSTC_BOOTSTRAP lets the stable toolchain take -Zsanitizer.
# A use-after-free, a use of a returned frame or an out-of-bounds access fails the run with
# ASan's report (checked 2026-12-03: with the leader's wait for its helpers removed, the
# leader-panic test fails with "stack-use-after-return").
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}/sanitize"
host="$(rustc -vV | sed -n 's/^host: //p')"
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=0:detect_stack_use_after_return=1" \
    CARGO_TARGET_DIR="$target" \
    cargo test --locked --release --manifest-path tools/sanitize/Cargo.toml \
    --target "$host" -- --test-threads 1 "$@"
