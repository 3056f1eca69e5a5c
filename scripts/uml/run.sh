#!/usr/bin/env bash
# Runs a script inside a real Linux NFS client (User-Mode Linux) against an NFS server started for the run.
#
#   scripts/uml/run.sh --server 'CMD' --export /export --mount-options 'vers=3,proto=tcp,port=N,...' \
#                      --guest-script test.sh [options]
#
# One run: a private network namespace with a tap device (host side UML_HOST_ADDR = 10.77.X.1, guest
# UML_GUEST_ADDR = 10.77.X.2); the server command started inside it (bash -c, own process group, output in
# server.log); wait until it listens on the server port; boot linux.uml on the tap; the guest mounts
# UML_HOST_ADDR:EXPORT at $NFS_MOUNT (/tmp/mnt) and runs the script there; everything is torn down at the end,
# also on failure, timeout or Ctrl-C. See scripts/uml/README.md for details.
#
# Options:
#   --server CMD            server command, run with bash -c inside the namespace. It inherits this script's
#                           environment plus UML_HOST_ADDR, UML_GUEST_ADDR, UML_NETNS, UML_RUN_DIR.
#   --server-port N         port to wait for (default: port= from the mount options, else 2049)
#   --server-start-timeout S   seconds to wait for that port (default 30)
#   --server-stop-timeout S    seconds between SIGTERM and SIGKILL for the server at the end (default 10)
#   --export PATH           exported path to mount (default /)
#   --mount-options OPTS    mount -o options (default vers=3,proto=tcp,nolock)
#   --no-mount              do not mount; the script mounts by itself (UML_HOST_ADDR tells it where)
#   --guest-script FILE     script to run in the guest (required); run with bash unless it starts with #!
#   --guest-env K=V         variable for the guest script (repeatable)
#   --guest-mem SIZE        guest RAM (default 512M)
#   --timeout S             seconds for boot + mount + script (default 120)
#   --s3-endpoint URL       make http://127.0.0.1:PORT (or localhost) on the host reachable under the same URL
#                           from inside the namespace (same as --forward-port PORT)
#   --forward-port PORT     relay 127.0.0.1:PORT inside the namespace to 127.0.0.1:PORT on the host (repeatable)
#   --capture FILE          write a pcap of the tap device to FILE (tcpdump -s0)
#   --capture-filter EXPR   capture filter (default: the server and mount ports, port 111, udp port 7 markers)
#   --results DIR           keep all artifacts in DIR (default: a temp dir, removed at the end)
#   --netns NAME --tap NAME --subnet X   override the per-run names (defaults derive from a free X in 10.77.X.0/24)
#   --kernel-args ARGS      extra UML kernel command-line arguments (word-split)
#   --mtu N                 MTU of the tap device and the guest's interface (default 65000: users mount s3nfs
#                           over loopback, whose MTU is 65536; at 1500, dd in the guest read a file from
#                           nfs-ganesha 1.1-1.7x slower: the guest's per-packet cost dominated)
#   --quiet                 do not print the guest script's output at the end
#
# Exit status: the guest script's exit status when it ran; otherwise 124 timeout, 90 setup failed,
# 91 server did not start, 92 mount failed, 93 the guest ended without reporting. result.json in the
# results directory tells these apart from script exit codes with the same number.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "uml-harness: $*" >&2; exit 90; }
log() { [ "$QUIET" = 1 ] || echo "uml-harness: $*" >&2; }
now() { date +%s.%N; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "null"; else printf "%d", (b - a) * 1000 }'; }

SERVER_CMD="" SERVER_PORT="" SERVER_START_TIMEOUT=30 SERVER_STOP_TIMEOUT=10
EXPORT=/ MOUNT_OPTIONS="vers=3,proto=tcp,nolock" NO_MOUNT=0
GUEST_SCRIPT="" GUEST_MEM=512M TIMEOUT=120 QUIET=0
CAPTURE="" CAPTURE_FILTER="" RESULTS="" NETNS="" TAP="" SUBNET=""
GUEST_ENV=() FORWARD_PORTS=() KERNEL_ARGS="" MTU=65000

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --no-mount) NO_MOUNT=1; shift; continue ;;
    --quiet) QUIET=1; shift; continue ;;
    --help|-h) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  esac
  [ $# -ge 2 ] || die "$opt needs a value"
  val=$2
  shift 2
  case $opt in
    --server) SERVER_CMD=$val ;;
    --server-port) SERVER_PORT=$val ;;
    --server-start-timeout) SERVER_START_TIMEOUT=$val ;;
    --server-stop-timeout) SERVER_STOP_TIMEOUT=$val ;;
    --export) EXPORT=$val ;;
    --mount-options) MOUNT_OPTIONS=$val ;;
    --guest-script) GUEST_SCRIPT=$val ;;
    --guest-env) [[ $val == *=* ]] || die "--guest-env wants K=V"; GUEST_ENV+=("$val") ;;
    --guest-mem) GUEST_MEM=$val ;;
    --timeout) TIMEOUT=$val ;;
    --s3-endpoint)
      [[ $val =~ ^https?://(127\.0\.0\.1|localhost):([0-9]+)(/.*)?$ ]] ||
        die "--s3-endpoint must be http://127.0.0.1:PORT or http://localhost:PORT (got $val)"
      FORWARD_PORTS+=("${BASH_REMATCH[2]}") ;;
    --forward-port) FORWARD_PORTS+=("$val") ;;
    --capture) CAPTURE=$val ;;
    --capture-filter) CAPTURE_FILTER=$val ;;
    --results) RESULTS=$val ;;
    --netns) NETNS=$val ;;
    --tap) TAP=$val ;;
    --subnet) SUBNET=$val ;;
    --kernel-args) KERNEL_ARGS=$val ;;
    --mtu) [[ $val =~ ^[0-9]+$ ]] && [ "$val" -ge 576 ] && [ "$val" -le 65000 ] || die "--mtu wants 576..65000 (got $val)"
      MTU=$val ;;
    *) die "unknown option $opt (see --help)" ;;
  esac
done

[ -n "$SERVER_CMD" ] || die "--server is required"
[ -f "$GUEST_SCRIPT" ] || die "--guest-script FILE is required (got '${GUEST_SCRIPT}')"
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, tap devices)"
command -v linux.uml >/dev/null || die "linux.uml not found (apt-get install user-mode-linux)"
# linux.uml 6.1 cannot restore FPU state on hosts with AMX (see xstate-shim.c): it runs with a small
# LD_PRELOAD shim, built here once (to a temporary name first: concurrent runs may race to build it).
SHIM_SRC=$HERE/xstate-shim.c
SHIM=$HERE/../../.state/uml/xstate-shim.so
if [ ! -f "$SHIM" ] || [ "$SHIM_SRC" -nt "$SHIM" ]; then
  mkdir -p "$(dirname "$SHIM")"
  cc -O2 -Wall -shared -fPIC -o "$SHIM.$$" "$SHIM_SRC" -ldl || die "could not build $SHIM_SRC (needs gcc)"
  mv -f "$SHIM.$$" "$SHIM"
fi
if [ -z "$SERVER_PORT" ]; then
  if [[ ",$MOUNT_OPTIONS," =~ ,port=([0-9]+), ]]; then SERVER_PORT=${BASH_REMATCH[1]}; else SERVER_PORT=2049; fi
fi
MOUNT_PORT=""
[[ ",$MOUNT_OPTIONS," =~ ,mountport=([0-9]+), ]] && MOUNT_PORT=${BASH_REMATCH[1]}

# ---- per-run names: claim a free X of 10.77.X.0/24 with an atomic mkdir; a claim whose owner is gone is stale.
LOCKS=/run/s3nfs-uml
mkdir -p "$LOCKS"
LOCK=""
claim_subnet() {
  local x=$1 dir=$LOCKS/subnet-$1 owner
  if mkdir "$dir" 2>/dev/null; then echo $$ >"$dir/pid"; LOCK=$dir; return 0; fi
  owner=$(cat "$dir/pid" 2>/dev/null || true)
  if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
    # The run that held it died without cleaning up (SIGKILL): remove its namespace and take the claim over.
    local ns
    ns=$(cat "$dir/netns" 2>/dev/null || true)
    if [ -n "$ns" ] && ip netns list | grep -qw -- "$ns"; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
      ip netns del "$ns" 2>/dev/null
    fi
    rm -rf "$dir"
    if mkdir "$dir" 2>/dev/null; then echo $$ >"$dir/pid"; LOCK=$dir; return 0; fi
  fi
  return 1
}
if [ -n "$SUBNET" ]; then
  claim_subnet "$SUBNET" || die "subnet 10.77.$SUBNET.0/24 is in use by another run"
else
  start=$(($$ % 200 + 20))
  for i in $(seq 0 253); do
    x=$(((start + i - 1) % 254 + 1))
    if claim_subnet "$x"; then SUBNET=$x; break; fi
  done
  [ -n "$SUBNET" ] || die "no free subnet in 10.77.0.0/16"
fi
NETNS=${NETNS:-s3nfs-uml-$SUBNET}
TAP=${TAP:-tap-uml$SUBNET}
echo "$NETNS" >"$LOCK/netns"
HOST_ADDR=10.77.$SUBNET.1
GUEST_ADDR=10.77.$SUBNET.2

if [ -n "$RESULTS" ]; then
  mkdir -p "$RESULTS" || { rm -rf "$LOCK"; die "cannot create $RESULTS"; }
  WORK=$(cd "$RESULTS" && pwd)
  KEEP_WORK=1
else
  WORK=$(mktemp -d /tmp/s3nfs-uml.XXXXXX)
  KEEP_WORK=0
fi
mkdir -p "$WORK/out" "$WORK/files" "$WORK/uml" "$WORK/relay"

SERVER_PID="" UML_PID="" CAPTURE_PID="" RELAY_PIDS=() SERVER_EXIT="" NETNS_CREATED=0
T_START=$(now) T_SERVER_READY="" T_UML_START="" T_UML_END=""

stop_capture() {
  [ -n "$CAPTURE_PID" ] || return 0
  kill -INT "$CAPTURE_PID" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$CAPTURE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$CAPTURE_PID" 2>/dev/null
  wait "$CAPTURE_PID" 2>/dev/null
  CAPTURE_PID=""
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null
    local deadline
    deadline=$(awk -v n="$(now)" -v t="$SERVER_STOP_TIMEOUT" 'BEGIN { printf "%.3f\n", n + t }')
    while kill -0 "$SERVER_PID" 2>/dev/null; do
      if awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
        echo "uml-harness: server did not stop within ${SERVER_STOP_TIMEOUT}s of SIGTERM; SIGKILL" >>"$WORK/server.log"
        kill -KILL -- "-$SERVER_PID" 2>/dev/null
        break
      fi
      sleep 0.05
    done
  fi
  wait "$SERVER_PID" 2>/dev/null
  SERVER_EXIT=$?
  kill -KILL -- "-$SERVER_PID" 2>/dev/null # helpers the server left in its process group
  SERVER_PID=""
}
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  [ -n "$UML_PID" ] && kill -TERM "$UML_PID" 2>/dev/null
  stop_capture
  stop_server
  for p in "${RELAY_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "$NETNS_CREATED" = 1 ]; then
    # Anything still inside the namespace was started by this run (UML's helper processes, the relay).
    ip netns pids "$NETNS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    for _ in $(seq 1 20); do [ -z "$(ip netns pids "$NETNS" 2>/dev/null)" ] && break; sleep 0.05; done
    ip netns del "$NETNS" 2>/dev/null
  fi
  rm -rf "$WORK/uml" "$WORK/relay"
  [ "$KEEP_WORK" = 1 ] || rm -rf "$WORK"
  [ -n "$LOCK" ] && rm -rf "$LOCK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- network namespace and tap device
ip netns add "$NETNS" || die "cannot create network namespace $NETNS (does it exist already?)"
NETNS_CREATED=1
{
  ip netns exec "$NETNS" ip link set lo up &&
    ip netns exec "$NETNS" ip tuntap add "$TAP" mode tap &&
    ip netns exec "$NETNS" ip addr add "$HOST_ADDR/24" dev "$TAP" &&
    ip netns exec "$NETNS" ip link set "$TAP" mtu "$MTU" &&
    ip netns exec "$NETNS" ip link set "$TAP" up
} || die "cannot set up namespace $NETNS with $TAP"

wait_for_line() { # FILE PATTERN SECONDS PID
  for _ in $(seq 1 $(($3 * 20))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ---- relays: 127.0.0.1:PORT in the namespace -> unix socket -> 127.0.0.1:PORT on the host
for port in "${FORWARD_PORTS[@]}"; do
  sock=$WORK/relay/$port.sock
  node "$HERE/relay.mjs" "unix:$sock" "tcp:127.0.0.1:$port" >"$WORK/relay/host-$port.out" 2>&1 &
  RELAY_PIDS+=($!)
  wait_for_line "$WORK/relay/host-$port.out" '^ready' 10 $! || die "host relay for port $port did not start"
  ip netns exec "$NETNS" node "$HERE/relay.mjs" "tcp:127.0.0.1:$port" "unix:$sock" >"$WORK/relay/ns-$port.out" 2>&1 &
  RELAY_PIDS+=($!)
  wait_for_line "$WORK/relay/ns-$port.out" '^ready' 10 $! || die "namespace relay for port $port did not start"
done

# ---- capture
if [ -n "$CAPTURE" ]; then
  if [ -z "$CAPTURE_FILTER" ]; then
    CAPTURE_FILTER="tcp port $SERVER_PORT or port 111 or udp port 7"
    [ -n "$MOUNT_PORT" ] && CAPTURE_FILTER="$CAPTURE_FILTER or tcp port $MOUNT_PORT"
  fi
  # A large buffer (-B, KiB): bursts of 64 KiB GSO frames overran the default one and lost packets.
  # --immediate-mode: otherwise packets still in a partly filled ring block are lost when tcpdump stops.
  ip netns exec "$NETNS" tcpdump -Z root -i "$TAP" -s 0 -B 131072 --immediate-mode -w "$CAPTURE" "$CAPTURE_FILTER" \
    >"$WORK/capture.log" 2>&1 &
  CAPTURE_PID=$!
  wait_for_line "$WORK/capture.log" 'listening on' 10 "$CAPTURE_PID" ||
    die "tcpdump did not start: $(cat "$WORK/capture.log")"
fi

# ---- server
UML_HOST_ADDR=$HOST_ADDR UML_GUEST_ADDR=$GUEST_ADDR UML_NETNS=$NETNS UML_RUN_DIR=$WORK \
  ip netns exec "$NETNS" setsid bash -c "$SERVER_CMD" </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
server_ready=0
for _ in $(seq 1 $((SERVER_START_TIMEOUT * 20))); do
  if [ -n "$(ip netns exec "$NETNS" ss -Hltn "sport = :$SERVER_PORT" 2>/dev/null)" ]; then server_ready=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.05
done
T_SERVER_READY=$(now)

# ---- guest
OUTCOME="" EXIT_CODE=""
declare -A ST=()
if [ "$server_ready" = 1 ]; then
  cp "$GUEST_SCRIPT" "$WORK/guest-script"
  chmod +x "$WORK/guest-script"
  deadline=$(awk -v n="$(now)" -v t="$TIMEOUT" 'BEGIN { printf "%.3f", n + t }')
  {
    printf 'UML_HOST_ADDR=%q\nUML_GUEST_ADDR=%q\nUML_PREFIX=24\nUML_DEADLINE=%q\n' "$HOST_ADDR" "$GUEST_ADDR" "$deadline"
    printf 'NFS_EXPORT=%q\nNFS_MOUNT_OPTIONS=%q\nNFS_NO_MOUNT=%q\n' "$EXPORT" "$MOUNT_OPTIONS" "$NO_MOUNT"
  } >"$WORK/guest.env"
  : >"$WORK/script.env"
  for kv in "${GUEST_ENV[@]}"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$WORK/script.env"; done

  T_UML_START=$(now)
  # shellcheck disable=SC2086 # KERNEL_ARGS is meant to be split into words
  ip netns exec "$NETNS" env LD_PRELOAD="$SHIM" timeout -k 5 "$TIMEOUT" linux.uml mem="$GUEST_MEM" umid="s3nfs-uml-$SUBNET-$$" \
    uml_dir="$WORK/uml/" root=/dev/root rootfstype=hostfs rootflags=/ ro init="$HERE/guest-init.sh" \
    "vec0:transport=tap,ifname=$TAP,gro=1,mtu=$MTU" con=null con0=fd:0,fd:1 uml_run="$WORK" $KERNEL_ARGS \
    </dev/null >"$WORK/guest.raw.log" 2>&1 &
  UML_PID=$!
  wait "$UML_PID"
  UML_EXIT=$?
  UML_PID=""
  T_UML_END=$(now)
  grep -v 'Incoming GSO frames and GRO disabled' "$WORK/guest.raw.log" >"$WORK/guest.log"
  rm -f "$WORK/guest.raw.log"

  if [ -f "$WORK/out/status" ]; then
    while IFS='=' read -r k v; do ST[$k]=$v; done <"$WORK/out/status"
  fi
  if [ "$UML_EXIT" = 124 ] || [ "$UML_EXIT" = 137 ]; then
    OUTCOME=timeout EXIT_CODE=124
  elif [ -n "${ST[mount_exit]:-}" ] && [ "${ST[mount_exit]}" != 0 ]; then
    OUTCOME=mount-failed EXIT_CODE=92
  elif [ -n "${ST[script_exit]:-}" ]; then
    OUTCOME=ok EXIT_CODE=${ST[script_exit]}
    # The guest's own timeout fired just before the host's.
    [ "$EXIT_CODE" = 124 ] && [ "${ST[finished]:-}" = 1 ] && OUTCOME=timeout
  else
    OUTCOME=guest-crashed EXIT_CODE=93
  fi
else
  OUTCOME=server-failed EXIT_CODE=91
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "uml-harness: nothing listened on port $SERVER_PORT within ${SERVER_START_TIMEOUT}s" >>"$WORK/server.log"
  fi
fi

stop_capture
stop_server
T_END=$(now)
CAPTURE_DROPPED=""
if [ -n "$CAPTURE" ]; then
  # Lost: dropped by the kernel, or received by the filter but never written.
  CAPTURE_DROPPED=$(awk '/packets captured/ { c = $1 } /packets received by filter/ { r = $1 }
    /packets dropped by kernel/ { d = $1 } END { if (r != "") print d + r - c }' "$WORK/capture.log")
  [ "${CAPTURE_DROPPED:-0}" = 0 ] || echo "uml-harness: tcpdump lost $CAPTURE_DROPPED packets; the capture is incomplete" >&2
fi

json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
json_num() { if [[ ${1:-} =~ ^-?[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }
cat >"$WORK/result.json" <<EOF
{
  "outcome": $(json_str "$OUTCOME"),
  "exitCode": $(json_num "${ST[script_exit]:-}"),
  "harnessExitCode": $EXIT_CODE,
  "mountExit": $(json_num "${ST[mount_exit]:-}"),
  "umountExit": $(json_num "${ST[umount_exit]:-}"),
  "serverExit": $(json_num "$SERVER_EXIT"),
  "netns": $(json_str "$NETNS"),
  "tap": $(json_str "$TAP"),
  "hostAddr": $(json_str "$HOST_ADDR"),
  "guestAddr": $(json_str "$GUEST_ADDR"),
  "serverPort": $(json_num "$SERVER_PORT"),
  "captureDropped": $(json_num "$CAPTURE_DROPPED"),
  "timingsMs": {
    "serverStart": $(ms_between "$T_START" "$T_SERVER_READY"),
    "bootToMount": $(ms_between "$T_UML_START" "${ST[mounted_at]:-}"),
    "bootToScript": $(ms_between "$T_UML_START" "${ST[script_started_at]:-}"),
    "script": $(ms_between "${ST[script_started_at]:-}" "${ST[script_ended_at]:-}"),
    "guest": $(ms_between "$T_UML_START" "$T_UML_END"),
    "total": $(ms_between "$T_START" "$T_END")
  }
}
EOF

if [ "$QUIET" != 1 ]; then
  cat "$WORK/out/stdout" 2>/dev/null
  cat "$WORK/out/stderr" >&2 2>/dev/null
  [ "$OUTCOME" = ok ] || { echo "--- server.log (tail)"; tail -n 20 "$WORK/server.log"; echo "--- guest.log (tail)"; tail -n 20 "$WORK/guest.log" 2>/dev/null; } >&2
fi
log "outcome=$OUTCOME exit=$EXIT_CODE bootToMount=$(ms_between "$T_UML_START" "${ST[mounted_at]:-}")ms" \
  "total=$(ms_between "$T_START" "$T_END")ms${RESULTS:+ results=$WORK}"
exit "$EXIT_CODE"
