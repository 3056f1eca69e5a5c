#!/usr/bin/env bash
# Benchmark (not a test): listing one directory of many keys through the kernel NFS client and s3nfs,
# against a raw paged ListObjectsV2 of the same prefix.
#
#   scripts/bench/ls.sh [--count 10000] [--runs 3] [--keep] [--no-build]
#
# In one run, all inside the UML harness's network namespace (so nothing relays S3 traffic):
#   1. a Ceph RGW (scripts/local-s3.sh start) and --count small objects under one prefix;
#   2. (a) ListObjectsV2 of the prefix with delimiter '/', 1,000 keys per page, every page, from there: the
#      same path s3nfs has to S3;
#   3. (b) s3nfs serving the bucket read-only and the kernel client (UML) running `ls -l` on that directory:
#      the first listing after the mount (nothing cached anywhere), then --runs more with the guest's
#      caches dropped before each, and `ls -f` (names only, no attributes) for comparison;
# then prints the times and the ratios b/a (how many times longer `ls -l` takes than the raw listing).
set -euo pipefail
cd "$(dirname "$0")/../.."

COUNT=10000 RUNS=3 KEEP=0 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ls.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $COUNT =~ ^[0-9]+$ && $RUNS =~ ^[0-9]+$ ]] || { echo "ls.sh: --count and --runs take numbers" >&2; exit 2; }

# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
bench_start ls.sh
PREFIX=bench/ls-$COUNT/
BASELINE="node dist/scripts/bench/s3-baseline.js"

# Inside the namespace: the RGW, the keys, the baseline, then s3nfs until the harness stops it.
{
  namespace_s3
  cat <<EOF
$BASELINE ensure-keys --prefix '$PREFIX' --count $COUNT || exit 1
$BASELINE list --prefix '$PREFIX' --runs $RUNS --label netns || exit 1
exec ./bin/s3nfs serve "\$S3NFS_TEST_BUCKET" --endpoint-url "\$S3NFS_TEST_ENDPOINT" --listen "\$UML_HOST_ADDR" \\
  --allow-client "\$UML_GUEST_ADDR" --port 20490 --state-dir '$work/state' --insecure --read-only
EOF
} >"$work/server.sh"

cat >"$work/guest.sh" <<'EOF'
set -u
dir=$NFS_MOUNT/${PREFIX%/}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
# Per NFS operation: calls and total round-trip ms so far (the client's counters, /proc/self/mountstats).
ops() { awk '/per-op statistics/ { on = 1; next } on && NF >= 9 && $2 > 0 { print $1, $2, $8 }' /proc/self/mountstats; }
timed() { # LABEL RUN CMD...: prints the entry count and the wall time, then the calls the client made
  local label=$1 run=$2
  shift 2
  local t0 t1 lines before
  before=$(ops)
  t0=$(now)
  lines=$("$@" 2>"$UML_FILES/$label-$run.err" | wc -l)
  t1=$(now)
  echo "result $label run=$run lines=$lines seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  { echo "$before"; echo "--"; ops; } | awk '$1 == "--" { after = 1; next }
    !after { n[$1] = $2; r[$1] = $3; next }
    $2 > n[$1] { d = $2 - n[$1]; out = out sprintf(" %s %d (%.2f ms)", $1, d, ($3 - r[$1]) / d) }
    END { print "  calls:" out }'
}
timed ls-l-first 1 ls -l "$dir"
for run in $(seq 1 "$RUNS"); do
  drop
  timed ls-l "$run" ls -l "$dir"
done
for run in $(seq 1 "$RUNS"); do
  drop
  timed ls-f "$run" ls -f "$dir"
done
EOF

say "in the test namespace: a Ceph RGW, (a) raw ListObjectsV2, then (b) ls through s3nfs"
rc=0
bash scripts/uml/run.sh --quiet --results "$work/uml" --server "bash $work/server.sh" --server-start-timeout 600 \
  --export /s3nfs-bench \
  --mount-options vers=3,proto=tcp,port=20490,mountport=20490,mountproto=tcp,nolock \
  --guest-script "$work/guest.sh" --guest-env "PREFIX=$PREFIX" --guest-env "RUNS=$RUNS" --timeout 1800 || rc=$?
grep '^  ListObjectsV2' "$work/uml/server.log" || true
cat "$work/uml/out/stdout" 2>/dev/null || true
if [ "$rc" != 0 ]; then
  say "the UML run failed (exit $rc); server log and guest errors follow"
  tail -n 30 "$work/uml/server.log" >&2 || true
  cat "$work/uml/out/stderr" >&2 2>/dev/null || true
  KEEP=1
  exit 1
fi

node - "$work" "$COUNT" <<'EOF'
const fs = require('node:fs');
const [work, count] = [process.argv[2], Number(process.argv[3])];
const read = (f) => { try { return fs.readFileSync(`${work}/${f}`, 'utf8'); } catch { return ''; } };
const raw = (text, label) => {
  const m = new RegExp(`^result list label=${label} best_ms=([0-9.]+) runs=(\\S+) entries=(\\d+)`, 'm').exec(text);
  if (!m) return { best: NaN, runs: [] };
  if (Number(m[3]) !== count) throw new Error(`the ${label} listing had ${m[3]} entries, want ${count}`);
  return { best: Number(m[1]), runs: m[2].split(',').map(Number) };
};
const base = raw(read('uml/server.log'), 'netns');
const stdout = read('uml/out/stdout');
const guest = (label, wantLines) => [...stdout.matchAll(new RegExp(`^result ${label} run=\\d+ lines=(\\d+) seconds=([0-9.]+)`, 'gm'))]
  .map((m) => {
    if (Number(m[1]) !== wantLines) throw new Error(`${label} printed ${m[1]} lines, want ${wantLines}`);
    return Number(m[2]) * 1000;
  });
const rows = [
  ['(a)  ListObjectsV2, 1,000 keys per page', base.runs],
  ['(b)  ls -l, first after mount', guest('ls-l-first', count + 1)], // + the "total" line
  ['(b)  ls -l, client caches dropped', guest('ls-l', count + 1)],
  ['(b)  ls -f (names only), client caches dropped', guest('ls-f', count + 2)], // + "." and ".."
];
console.log(`\nlist one directory of ${count} keys; best run of each, ms (all runs in brackets):`);
for (const [name, runs] of rows) {
  const v = Math.min(...runs);
  const ratios = name.startsWith('(b)') ? `   b/a ${(v / base.best).toFixed(1)}x` : '';
  console.log(`  ${name.padEnd(48)} ${v.toFixed(0).padStart(7)}${ratios}   [${runs.map((x) => x.toFixed(0)).join(', ')}]`);
}
EOF
