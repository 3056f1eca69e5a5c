#!/usr/bin/env bash
# Write benchmark: 1 GiB written through the mount (Linux NFS client in UML: dd conv=fsync, then fio) versus
# the same 1 GiB uploaded straight to S3 with @aws-sdk/lib-storage, each timed until the object is visible
# in S3 (so the mount's figures include the publish delay). Prints MiB/s for each and the ratios (target ≥ 0.8).
#
#   scripts/bench/write.sh [--s3-dir DIR] [write-bench options: --size-mib 1024 --publish-delay 0.5
#                          --part-mib 8 --queue 4 --guest-mem 512M --relay-baseline --no-fio --keep-results DIR]
#
# Starts a bluestore Ceph RGW of its own (memstore cannot hold several GiB comfortably) and stops it at the end;
# with --s3-dir DIR it uses the one already running there (scripts/local-s3.sh start DIR --store bluestore).
# Needs root (the UML harness) and fio. This is a benchmark, not a test: numbers depend on the machine's load.
# The server's own share without the kernel client: node dist/scripts/bench/write-rpc.js (same S3 env).
set -euo pipefail
cd "$(dirname "$0")/../.."

s3_dir="" own_s3=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --s3-dir) s3_dir=${2:?--s3-dir needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

npx tsc -p tsconfig.json >/dev/null || echo "write.sh: tsc reported errors (continuing with what it emitted)" >&2

cleanup() { [ -n "$own_s3" ] && bash scripts/local-s3.sh stop "$own_s3" >/dev/null 2>&1; [ -n "$own_s3" ] && rm -rf "$(dirname "$own_s3")"; true; }
trap cleanup EXIT
if [ -z "$s3_dir" ]; then
  own_s3=$(mktemp -d /var/tmp/s3nfs-write-bench.XXXXXX)/s3
  bash scripts/local-s3.sh start "$own_s3" --store bluestore >&2
  s3_dir=$own_s3
fi
set -a
# shellcheck disable=SC1091
source "$s3_dir/env"
set +a
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
echo "write.sh: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), S3 at $S3NFS_TEST_ENDPOINT (bluestore)" >&2
node dist/scripts/bench/write-bench.js "${args[@]}"
