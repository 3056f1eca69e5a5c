#!/usr/bin/env bash
# Benchmark (not a test): how fast the Linux kernel NFS client reads one big object through s3nfs,
# against how fast S3 itself gives the same bytes.
#
#   scripts/bench/read.sh [--size-mib 1024] [--runs 3] [--readahead-kb 15360] [--guest-mem 1536M]
#                        [--serve-args 'FLAGS'] [--no-reference] [--keep] [--no-build]
#
# In one run, all inside the UML harness's network namespace (so nothing relays S3 traffic):
#   1. a Ceph RGW with the bluestore OSD (scripts/local-s3.sh start --store bluestore) and one object of
#      --size-mib (random bytes);
#   2. (a) raw parallel ranged GETs with the AWS SDK (16 in flight, bodies counted and dropped) from
#      there to the RGW, the same path s3nfs has to S3: with 8 MiB and with 16 MiB parts, and the
#      better of the two is the baseline;
#   3. (b) s3nfs serving the bucket read-only in that namespace and the kernel client (UML) reading the
#      object with `dd bs=1M` and with fio (sequential 1 MiB reads: buffered, and O_DIRECT with 16 in
#      flight), the guest's page cache dropped before each run. First one unmeasured `dd` pass (printed
#      as the first read after mount): s3nfs used 1.0-1.1 s of CPU per GiB in its first pass and
#      0.7-0.8 from the fourth on on a 2-core Xeon (2.0-2.4 and 1.1-1.6 on a 2-core EPYC VM; its
#      JavaScript reaches optimized code only after a few GiB), and the baseline is a best run too;
#      the passes after it are the rows. Buffered reads run with the client's
#      default readahead (128 KiB for NFS on Linux 6.1) and again with --readahead-kb (default: what
#      `s3nfs mount` sets, 15360; 0 skips it): readahead decides how many READs the client keeps in
#      flight. Each pass also prints its READs as the client saw them (count, size, round trip) and the
#      time s3nfs took per READ. With a 512M guest and 4 MiB or more of readahead the UML guest wedged
#      here (spinning, no more ACKs; "nfs: server not responding"), hence 1536M: a pass slower than
#      10 MiB/s is reported as STALLED and the rest is skipped;
#      --serve-args adds flags to s3nfs serve (e.g. '--read-part-size 16') to compare settings;
#   4. the CPU time s3nfs used, per GiB it served, and the GETs it sent;
#   5. (c) for reference (skipped with --no-reference): the same guest passes against nfs-ganesha serving
#      a local file of the same size from the page cache, in a second UML run: what this client on this
#      machine reaches when the server costs next to nothing and S3 is out of the picture;
# then prints MiB/s of each (best of --runs) and the ratios b/a (and b/c).
#
# Needs root (UML harness) and the packages of scripts/setup.sh; the OSD file takes about 1.5 GiB of disk.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_MIB=1024 RUNS=3 READAHEAD_KB=15360 GUEST_MEM=1536M SERVE_ARGS="" REFERENCE=1 KEEP=0 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --readahead-kb) READAHEAD_KB=$2; shift 2 ;;
    --guest-mem) GUEST_MEM=$2; shift 2 ;;
    --serve-args) SERVE_ARGS=$2; shift 2 ;;
    --no-reference) REFERENCE=0; shift ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "read.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$SIZE_MIB" "$RUNS" "$READAHEAD_KB"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "read.sh: --size-mib, --runs and --readahead-kb take numbers" >&2; exit 2; }
done

# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
bench_start read.sh
KEY=bench/read-${SIZE_MIB}MiB.bin
BASELINE="node dist/scripts/bench/s3-baseline.js"

# Inside the namespace: the RGW, the object, the baseline, then s3nfs until the harness stops it. s3nfs
# runs in a session of its own so the harness's SIGTERM reaches only this script, which reads s3nfs's CPU
# time first.
{
  namespace_s3 --store bluestore
  cat <<EOF
$BASELINE ensure-object --key '$KEY' --size-mib $SIZE_MIB || exit 1
$BASELINE ranged-get --key '$KEY' --runs $RUNS --part-mib 8 --label parts8 || exit 1
$BASELINE ranged-get --key '$KEY' --runs $RUNS --part-mib 16 --label parts16 || exit 1
setsid ./bin/s3nfs serve "\$S3NFS_TEST_BUCKET" --endpoint-url "\$S3NFS_TEST_ENDPOINT" --listen "\$UML_HOST_ADDR" \\
  --allow-client "\$UML_GUEST_ADDR" --port 20490 --state-dir '$work/state' --insecure --read-only \\
  --metrics-listen "\$UML_HOST_ADDR:20499" $SERVE_ARGS &
pid=\$!
stop() {
  echo "result s3nfs-cpu ticks=\$(awk '{ print \$14 + \$15, "user=" \$14 }' /proc/\$pid/stat) hz=\$(getconf CLK_TCK)"
  # How long s3nfs took per READ, from receiving the call to handing the reply to the socket.
  curl -s "http://\$UML_HOST_ADDR:20499/metrics" | awk '/^s3nfs_rpc_duration_seconds_(sum|count)\{.*procedure="READ"/ { v[\$1 ~ /_sum/] = \$2 }
    END { if (v[0] > 0) printf "result s3nfs-read calls=%d mean_ms=%.3f\\n", v[0], v[1] / v[0] * 1000 }'
  # What it asked of S3 for that: GETs and bytes received (more than it served means over-fetching).
  curl -s "http://\$UML_HOST_ADDR:20499/metrics" | awk '/^s3nfs_s3_requests_total\{.*api="GetObject"/ { g = \$2 }
    /^s3nfs_s3_downloaded_bytes_total/ { b = \$2 } END { printf "result s3nfs-s3 gets=%d downloaded=%.0f\\n", g, b }'
  curl -s "http://\$UML_HOST_ADDR:20499/metrics" | grep -E '^s3nfs_(s3_errors_total|prefetch_)' | sed 's/^/result metric /'
  kill -TERM "\$pid"
  wait "\$pid"
  exit \$?
}
trap stop TERM
wait "\$pid"
EOF
} >"$work/server.sh"

# The guest: the kernel client reads the object, cold each time. Results as `result ...` lines.
cat >"$work/guest.sh" <<'EOF'
set -u
f=$NFS_MOUNT/$KEY
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# The client's counters for READ (ops trans timeouts bytes_sent bytes_recv queue_ms rtt_ms exec_ms), then
# the server's (READs answered, seconds spent from call received to reply queued).
read_stats() {
  awk '$1 == "READ:" { printf "%s %s %s %s %s %s %s %s ", $2, $3, $4, $5, $6, $7, $8, $9; exit }' /proc/self/mountstats
  curl -s "http://$UML_HOST_ADDR:20499/metrics" |
    awk '/^s3nfs_rpc_duration_seconds_(sum|count)\{.*procedure="READ"/ { v[$1 ~ /_sum/] = $2 } END { print v[0] + 0, v[1] + 0 }'
}
now() { date +%s.%N; }
size=$(stat -c %s "$f")
bdi=/sys/class/bdi/$(mountpoint -d "$NFS_MOUNT")/read_ahead_kb
default_ra=$(cat "$bdi")
echo "file $f: $size bytes; $(grep -o 'rsize=[0-9]*' /proc/mounts | head -n 1); default read_ahead_kb $default_ra"
# A pass slower than 10 MiB/s counts as stalled: it is killed (NFS waits are killable, not interruptible),
# what the kernel said is kept, the mount is dropped (so unmounting cannot hang) and the rest is skipped.
limit=$((size / 1048576 / 10 + 60))
stalled=0
pass() { # NAME CMD...: runs one timed pass; prints "result NAME seconds=S"
  local name=$1
  shift
  [ "$stalled" = 1 ] && return
  drop
  local t0 t1 rc before
  before=$(read_stats)
  t0=$(now)
  timeout -s KILL "$limit" "$@"
  rc=$?
  t1=$(now)
  if [ "$rc" = 137 ]; then
    stalled=1
    echo "STALLED: $name did not finish within ${limit}s"
    dmesg | tail -n 30 >"$UML_FILES/stalled.dmesg"
    umount -f -l "$NFS_MOUNT"
  elif [ "$rc" != 0 ]; then
    echo "FAILED: $name exit $rc"
  else
    echo "result $name seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    # This pass's READs as the client saw them (mountstats): how many, how big, how long each took on the
    # wire (rtt) and in all (exec); and how long s3nfs took per READ (its metrics). Means, in ms.
    echo "$before $(read_stats)" | awk '{ n = $11 - $1; s = $19 - $9; if (n > 0) printf "  READs %d, %.0f KiB each, client rtt %.2f ms, exec %.2f ms%s\n", n, ($15 - $5) / n / 1024, ($17 - $7) / n, ($18 - $8) / n, (s > 0 ? sprintf("; s3nfs %.2f ms", ($20 - $10) / s * 1000) : "") }'
  fi
}
pass warm-up dd if="$f" of=/dev/null bs=1M status=none # not a row: see the header of read.sh
fio_args() { # LABEL: the options every fio pass shares (one sequential reader, 1 MiB reads, JSON out)
  echo "--name=$1 --filename=$f --readonly --rw=read --bs=1M --size=$size --output-format=json"
  echo "--output=$UML_FILES/fio-$1-$run.json"
}
for ra in $default_ra $READAHEAD_KB; do
  [ "$ra" = 0 ] && continue
  echo "$ra" >"$bdi"
  for run in $(seq 1 "$RUNS"); do pass "dd ra=$ra run=$run" dd if="$f" of=/dev/null bs=1M status=none; done
  for run in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2046 # fio_args are words without spaces
    pass "fio buffered-ra$ra run=$run" fio $(fio_args "buffered-ra$ra") --direct=0 --ioengine=psync
  done
done
echo "$default_ra" >"$bdi"
for run in $(seq 1 "$RUNS"); do
  # shellcheck disable=SC2046
  pass "fio direct run=$run" fio $(fio_args direct) --direct=1 --ioengine=libaio --iodepth=16
done
EOF

passes=$((RUNS * (READAHEAD_KB > 0 ? 5 : 3) + 1))
guest_budget=$((passes * (SIZE_MIB / 10 + 60) + 120))
say "in the test namespace: a Ceph RGW, (a) raw ranged GETs, then (b) the kernel client through s3nfs"
rc=0
bash scripts/uml/run.sh --quiet --results "$work/uml" --server "bash $work/server.sh" --server-start-timeout 600 \
  --export /s3nfs-bench \
  --mount-options vers=3,proto=tcp,port=20490,mountport=20490,mountproto=tcp,nolock \
  --guest-mem "$GUEST_MEM" --guest-script "$work/guest.sh" --guest-env "KEY=$KEY" --guest-env "RUNS=$RUNS" \
  --guest-env "READAHEAD_KB=$READAHEAD_KB" --timeout "$guest_budget" || rc=$?
grep '^  ranged GETs' "$work/uml/server.log" || true
cat "$work/uml/out/stdout" 2>/dev/null || true
if [ "$rc" != 0 ]; then
  say "the UML run did not end well (exit $rc): results below may be partial; server log and guest errors follow"
  tail -n 30 "$work/uml/server.log" >&2 || true
  cat "$work/uml/out/stderr" >&2 2>/dev/null || true
  KEEP=1
fi
grep -q '^STALLED' "$work/uml/out/stdout" && KEEP=1 # keep the evidence

if [ "$REFERENCE" = 1 ]; then
  say "(c) the same passes against nfs-ganesha serving a local file of $SIZE_MIB MiB"
  mkdir -p "$work/ref/$(dirname "$KEY")"
  head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$work/ref/$KEY"
  rc=0
  bash scripts/uml/run.sh --quiet --results "$work/ref-uml" --server "bash scripts/uml/ganesha.sh --dir $work/ref" \
    --export /export --mount-options vers=3,proto=tcp,port=20490,mountport=20491,mountproto=tcp,nolock \
    --guest-mem "$GUEST_MEM" --guest-script "$work/guest.sh" --guest-env "KEY=$KEY" --guest-env "RUNS=$RUNS" \
    --guest-env "READAHEAD_KB=$READAHEAD_KB" --timeout "$guest_budget" || rc=$?
  cat "$work/ref-uml/out/stdout" 2>/dev/null || true
  [ "$rc" = 0 ] || say "the reference run did not end well (exit $rc): its rows may be missing"
  rm -f "$work/ref/$KEY"
fi

node - "$work" "$SIZE_MIB" <<'EOF'
const fs = require('node:fs');
const [work, sizeMib] = [process.argv[2], Number(process.argv[3])];
const read = (f) => { try { return fs.readFileSync(`${work}/${f}`, 'utf8'); } catch { return ''; } };
const raw = (text, label) => {
  const m = new RegExp(`^result ranged-get label=${label} best_mibps=([0-9.]+) runs=(\\S+) cpu_s_per_gib=([0-9.]+)`, 'm').exec(text);
  return m ? { best: Number(m[1]), runs: m[2].split(',').map(Number), cpu: Number(m[3]) } : { best: NaN, runs: [], cpu: NaN };
};
const raw8 = raw(read('uml/server.log'), 'parts8');
const raw16 = raw(read('uml/server.log'), 'parts16');
const baseline = Math.max(raw8.best, raw16.best);
// The passes of one UML run (uml: through s3nfs, ref-uml: the reference), as [name, MiB/s of each run].
const passesOf = (dir) => {
  const out = read(`${dir}/out/stdout`);
  const dd = (ra) => [...out.matchAll(new RegExp(`^result dd ra=${ra} run=\\d+ seconds=([0-9.]+)`, 'gm'))]
    .map((m) => sizeMib / Number(m[1]));
  // fio runs that finished (a result line); each JSON file says how many bytes it read and how fast.
  const fio = (label) => [...out.matchAll(new RegExp(`^result fio ${label} run=(\\d+) `, 'gm'))].map((m) => {
    const job = JSON.parse(read(`${dir}/files/fio-${label}-${m[1]}.json`)).jobs[0].read;
    if (job.io_bytes !== sizeMib * 1048576) throw new Error(`fio ${label} run ${m[1]} read ${job.io_bytes} bytes`);
    return job.bw / 1024;
  });
  const ras = [...new Set([...out.matchAll(/^result (?:dd ra=|fio buffered-ra)(\d+)/gm)].map((m) => m[1]))];
  const list = [];
  for (const ra of ras) {
    list.push([`dd bs=1M, readahead ${ra} KiB`, dd(ra)]);
    list.push([`fio 1M buffered, readahead ${ra} KiB`, fio(`buffered-ra${ra}`)]);
  }
  list.push(['fio 1M O_DIRECT, iodepth 16', fio('direct')]);
  return list;
};
const best = (runs) => (runs.length ? Math.max(...runs) : NaN);
const warmUp = (dir) => {
  const m = /^result warm-up seconds=([0-9.]+)/m.exec(read(`${dir}/out/stdout`));
  return m ? (sizeMib / Number(m[1])).toFixed(0) : 'n/a';
};
const ours = passesOf('uml');
const reference = passesOf('ref-uml').filter(([, runs]) => runs.length > 0);
const refBest = new Map(reference.map(([name, runs]) => [name, best(runs)]));
const n = (x) => (Number.isFinite(x) ? x.toFixed(0).padStart(6) : '   n/a');
const row = (name, runs, ratios = '') =>
  console.log(`  ${name.padEnd(62)} ${n(best(runs))}${ratios}   [${runs.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(read('uml/out/stdout').split('\n')[0]);
console.log(`\nread ${sizeMib} MiB; best run of each, MiB/s (all runs in brackets):`);
row('(a)  raw ranged GETs (AWS SDK), 16 x 8 MiB in flight', raw8.runs);
row('(a)  raw ranged GETs (AWS SDK), 16 x 16 MiB in flight', raw16.runs);
for (const [name, runs] of ours) {
  const v = best(runs);
  const c = refBest.get(name);
  row(`(b)  s3nfs, ${name}`, runs, `   b/a ${(v / baseline).toFixed(2)}${c ? `   b/c ${(v / c).toFixed(2)}` : ''}`);
}
for (const [name, runs] of reference) row(`(c)  nfs-ganesha, local file, ${name}`, runs);
console.log(`  first read after mount (dd, default readahead; a warm-up, not in the rows): s3nfs ${warmUp('uml')} MiB/s` +
  (reference.length ? `, nfs-ganesha ${warmUp('ref-uml')} MiB/s` : ''));
const stdout = read('uml/out/stdout');
const cpu = /^result s3nfs-cpu ticks=(\d+) user=(\d+) hz=(\d+)/m.exec(read('uml/server.log'));
// Everything the guest read: each finished pass read the whole object once.
const passes = (stdout.match(/^result /gm) ?? []).length;
const servedGiB = (passes * sizeMib) / 1024;
if (cpu && servedGiB > 0) {
  const seconds = Number(cpu[1]) / Number(cpu[3]);
  const user = Number(cpu[2]) / Number(cpu[3]);
  console.log(`  CPU per GiB: s3nfs ${(seconds / servedGiB).toFixed(2)} s, ${(user / servedGiB).toFixed(2)} of it in user mode ` +
    `(${seconds.toFixed(1)} s for ${servedGiB.toFixed(1)} GiB served); ` +
    `raw SDK GETs ${raw8.cpu.toFixed(2)} s (8 MiB parts), ${raw16.cpu.toFixed(2)} s (16 MiB)`);
}
const served = /^result s3nfs-read calls=(\d+) mean_ms=([0-9.]+)/m.exec(read('uml/server.log'));
if (served) console.log(`  s3nfs time per READ (call received -> reply queued): ${served[2]} ms mean over ${served[1]} READs`);
const s3 = /^result s3nfs-s3 gets=(\d+) downloaded=(\d+)/m.exec(read('uml/server.log'));
if (s3 && servedGiB > 0) {
  console.log(`  S3 traffic of s3nfs: ${s3[1]} GETs, ${(Number(s3[2]) / 2 ** 30).toFixed(2)} GiB received for ${servedGiB.toFixed(1)} GiB served`);
}
for (const m of stdout.matchAll(/^(STALLED|FAILED): (.*)$/gm)) console.log(`  ${m[1]}: ${m[2]} (see ${work}/uml)`);
console.log(`  a = the better raw run, ${baseline.toFixed(0)} MiB/s; target: b/a >= 0.9`);
EOF
