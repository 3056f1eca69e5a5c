# Sourced by the benchmarks that run in the UML harness (read.sh, ls.sh): the start they share.

# bench_start NAME: defines say(), builds unless BUILD=0, and makes $work, which is removed at exit
# (after stopping the RGW a run started in $work/s3) unless KEEP=1 by then.
bench_start() {
  BENCH_NAME=$1
  say() { echo "$BENCH_NAME: $*" >&2; }
  export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
  if [ "$BUILD" = 1 ]; then
    npm run --silent build >/dev/null 2>&1 || say "the build reported errors (in files of other work?); using what it emitted"
  fi
  work=$(mktemp -d "/tmp/s3nfs-bench-${BENCH_NAME%.sh}.XXXXXX")
  trap bench_cleanup EXIT
}

bench_cleanup() {
  bash scripts/local-s3.sh stop "$work/s3" >/dev/null 2>&1
  if [ "$KEEP" = 1 ]; then say "results kept in $work"; else rm -rf "$work"; fi
}

# namespace_s3 [local-s3.sh start options]: the first lines of a server script run in the harness's
# namespace: start a Ceph RGW there (bucket s3nfs-bench) and load its env, so S3 needs no relay.
namespace_s3() {
  cat <<LINES
bash scripts/local-s3.sh start '$work/s3' $* --bucket s3nfs-bench >/dev/null || exit 1
set -a
source '$work/s3/env'
set +a
LINES
}
