#!/usr/bin/env bash
# Runs one group of compiled tests (unit | integration | e2e) with Node's test runner.
# Usage: scripts/run-tests.sh GROUP [FILTER]   (FILTER: a substring of the test file path)
set -euo pipefail
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cd "$(dirname "$0")/.."
group=${1:?usage: run-tests.sh unit|integration|e2e [filter]}
filter=${2:-}
npm run --silent build
mapfile -t files < <(find "dist/test/$group" -name '*.test.js' 2>/dev/null | grep -F -- "$filter" | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "run-tests: no $group tests${filter:+ matching $filter}" >&2
  exit 1
fi
# e2e tests boot VMs and servers: one file at a time keeps them within a 2-core machine.
concurrency=$([ "$group" = e2e ] && echo 1 || echo 2)
exec node --test --test-concurrency="$concurrency" --test-reporter=spec "${files[@]}"
