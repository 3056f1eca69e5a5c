#!/usr/bin/env bash
# The one test command: sets up this machine, starts a local Ceph RGW, runs unit,
# integration and end-to-end tests, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work=$(mktemp -d /tmp/s3nfs-test.XXXXXX)
cleanup() { bash scripts/local-s3.sh stop "$work/s3" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

bash scripts/run-tests.sh unit

bash scripts/local-s3.sh start "$work/s3"
set -a
# shellcheck disable=SC1091
source "$work/s3/env"
set +a
bash scripts/run-tests.sh integration
bash scripts/run-tests.sh e2e
