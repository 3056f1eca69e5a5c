#!/usr/bin/env bash
# A throwaway S3 server for tests, benchmarks and demos: a single-node Ceph cluster (1 monitor,
# 1 OSD, no manager) with a RADOS Gateway, everything (config, keys, data, logs, sockets, pid
# files) under one directory, so several can run side by side.
#
#   local-s3.sh start DIR [--port N] [--bucket NAME] [--store memstore|bluestore]
#                         [--access-key KEY --secret-key SECRET]
#   local-s3.sh stop DIR
#   local-s3.sh status DIR
#
# `start` writes DIR/env (S3NFS_TEST_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_REGION, S3NFS_TEST_BUCKET). Facts behind the settings: /work/shared/local-s3.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3 # ceph-common depends on it; pyenv shims elsewhere on PATH are slow
DEBIAN_PACKAGES=(radosgw ceph-mon ceph-osd ceph-common)
START_TIMEOUT=${LOCAL_S3_START_TIMEOUT:-90} # seconds for the whole start
STOP_TIMEOUT=${LOCAL_S3_STOP_TIMEOUT:-15}   # seconds per daemon before SIGKILL
# Daemons in stop order: the gateway first, the monitor last.
DAEMONS=(client.rgw osd.0 mon.a)

usage() {
  sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

say() { echo "local-s3: $*" >&2; }

# One clear line, then the end of the log that explains it.
fail() {
  local message=$1 log=${2:-}
  say "error: $message"
  if [ -n "$log" ] && [ -s "$log" ]; then
    echo "--- last lines of $log:" >&2
    tail -n 25 "$log" >&2
  fi
  exit 1
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# Start phases with their time since the start began, in DIR/log/start-steps.txt: what to read
# first when a start is slow.
step() { echo "$(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%6.2f", b - a }') $*" >>"$DIR/log/start-steps.txt"; }

# ---------------------------------------------------------------- processes

pid_file() { echo "$1/run/$2.pid"; }

# The pid of a daemon of this instance, if it runs. The command line must name this DIR's
# ceph.conf, so a recycled pid that belongs to someone else is never taken for ours.
daemon_pid() {
  local dir=$1 name=$2 file pid
  file=$(pid_file "$dir" "$name")
  [ -s "$file" ] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/ceph.conf" || return 1
  echo "$pid"
}

# True while the process runs. A zombie counts as gone: daemons are reparented to PID 1,
# which may reap them only seconds later.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

wait_gone() {
  local pid=$1 deadline=$2
  while alive "$pid" && (($(date +%s) < deadline)); do sleep 0.02; done
  ! alive "$pid"
}

stop_daemon() {
  local dir=$1 name=$2 pid
  pid=$(daemon_pid "$dir" "$name") || { rm -f "$(pid_file "$dir" "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" $(($(date +%s) + STOP_TIMEOUT)); then
    say "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" $(($(date +%s) + 10)) || say "$name (pid $pid) still there after SIGKILL"
  fi
  rm -f "$(pid_file "$dir" "$name")"
}

stop_all() {
  local dir=$1 name
  for name in "${DAEMONS[@]}"; do stop_daemon "$dir" "$name"; done
  # The sparse bluestore file can hold gigabytes and a stopped instance is never restarted.
  rm -f "$dir/osd-block"
}

# ---------------------------------------------------------------- start steps

ensure_packages() {
  local missing=() p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq </dev/null || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    </dev/null >/dev/null || fail "apt-get install ${missing[*]} failed"
}

# N ports that are free right now, one per line. They come from below the kernel's ephemeral
# range, so the source port of some outgoing connection cannot take one before its daemon binds.
free_ports() {
  "$PYTHON" - "$1" <<'EOF'
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = low if low > 12000 else 65536
ports = []
while len(ports) < int(sys.argv[1]):
    port = random.randrange(10000, top)
    if port in ports:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    ports.append(port)
print("\n".join(map(str, ports)))
EOF
}

port_in_use() {
  "$PYTHON" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null && return 1
  return 0
}

random_token() { # $1 characters from [A-Za-z0-9]
  local out=""
  while [ ${#out} -lt "$1" ]; do
    out+=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  done
  echo "${out:0:$1}"
}

write_keyring() {
  local file=$1 mon admin osd rgw
  mon=$(ceph-authtool --gen-print-key)
  admin=$(ceph-authtool --gen-print-key)
  osd=$(ceph-authtool --gen-print-key)
  rgw=$(ceph-authtool --gen-print-key)
  # The monitor imports every entity of this keyring at mkfs, so no `ceph auth add` is needed.
  cat >"$file" <<EOF
[mon.]
	key = $mon
	caps mon = "allow *"
[client.admin]
	key = $admin
	caps mon = "allow *"
	caps osd = "allow *"
	caps mds = "allow *"
	caps mgr = "allow *"
[osd.0]
	key = $osd
	caps mon = "allow profile osd"
	caps osd = "allow *"
	caps mgr = "allow profile osd"
[client.rgw]
	key = $rgw
	caps mon = "allow rw"
	caps osd = "allow rwx"
	caps mgr = "allow rw"
EOF
  chmod 600 "$file"
}

write_conf() {
  local dir=$1 fsid=$2 mon_port=$3 rgw_port=$4 store=$5
  local store_conf
  if [ "$store" = memstore ]; then
    # All object data lives in the OSD's RAM; this caps it.
    store_conf="osd objectstore = memstore
memstore device bytes = $((4 << 30))"
  else
    # A sparse file outside the OSD directory: RAM stays bounded, big objects fit.
    store_conf="osd objectstore = bluestore
bluestore block path = $dir/osd-block
bluestore block create = true
bluestore block size = $((20 << 30))
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
bluestore fsck on mount = false
# The OSD opens and closes its block file ~10 times while starting; each close waits up to one
# aio poll period (250 ms by default).
bdev aio poll ms = 20
osd memory target = $((1 << 30))"
  fi
  cat >"$dir/ceph.conf" <<EOF
# Written by scripts/local-s3.sh for a throwaway single-node cluster.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
crash dir = $dir/crash
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/cluster.log
log to stderr = false
err to stderr = false
pid file = $dir/run/\$name.pid
client mount timeout = 30
rados mon op timeout = 30
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false

[mon]
mon data = $dir/mon
# A single monitor needs no long paxos batching: ~14 s cold start becomes ~1.5 s.
paxos propose interval = 0.05
paxos min wait = 0.01
mon data avail warn = 2
mon data avail crit = 1

[osd]
osd data = $dir/osd
osd crush update on start = false
$store_conf

[client.rgw]
rgw data = $dir/rgw
# tcp_nodelay: without it Nagle + delayed ACKs add ~40 ms to every small request on loopback.
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw init timeout = 60
# Free deleted and overwritten data within a minute instead of hours.
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
EOF
}

# Runs a ceph CLI command against this instance; its output goes to stdout.
ceph_cli() {
  timeout 40 ceph -c "$DIR/ceph.conf" --connect-timeout 30 "$@"
}

# Daemonizing returns once the child forked; the pid file (checked against the command line)
# shows the daemon itself is up.
wait_pid_file() {
  local name=$1 log=$2 deadline=$(($(date +%s) + 15))
  while ! daemon_pid "$DIR" "$name" >/dev/null; do
    (($(date +%s) < deadline)) || fail "$name did not write its pid file" "$log"
    sleep 0.02
  done
}

# Starts radosgw on port $1, waits until it answers signed S3 requests, creates bucket $2.
# Returns 2 if the port turned out to be taken; any other failure ends the script.
gateway_up() {
  local rgw_port=$1 bucket=$2 access_key=$3 secret_key=$4
  local rgw_log="$DIR/log/client.rgw.log" deadline=$(($(date +%s) + 15)) rgw_pid remaining
  bind_failed() { grep -qF "failed to bind address 127.0.0.1:$rgw_port" "$rgw_log" 2>/dev/null; }
  radosgw -c "$DIR/ceph.conf" -n client.rgw </dev/null >"$DIR/log/rgw.out" 2>&1 ||
    fail "radosgw did not start" "$rgw_log"
  until rgw_pid=$(daemon_pid "$DIR" client.rgw); do
    ! bind_failed || return 2
    (($(date +%s) < deadline)) || fail "radosgw did not write its pid file" "$rgw_log"
    sleep 0.02
  done
  step "radosgw started on port $rgw_port"
  remaining=$(awk -v a="$T0" -v b="$(now)" -v t="$START_TIMEOUT" 'BEGIN { r = t - (b - a); print (r < 5 ? 5 : r) }')
  if ! AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_REGION=us-east-1 \
    "$PYTHON" "$SCRIPT_DIR/local-s3/create-bucket.py" "http://127.0.0.1:$rgw_port" "$bucket" "$remaining" \
    "$rgw_pid" 2>"$DIR/log/create-bucket.out"; then
    ! bind_failed || return 2
    fail "S3 gateway not usable: $(tail -n 1 "$DIR/log/create-bucket.out")" "$rgw_log"
  fi
}

cmd_start() {
  local port="" bucket=s3nfs-test store=memstore access_key="" secret_key=""
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=${2:?--port needs a number}; shift 2 ;;
      --bucket) bucket=${2:?--bucket needs a name}; shift 2 ;;
      --store) store=${2:?--store needs memstore or bluestore}; shift 2 ;;
      --access-key) access_key=${2:?}; shift 2 ;;
      --secret-key) secret_key=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  case $store in memstore | bluestore) ;; *) fail "--store must be memstore or bluestore, not '$store'" ;; esac
  [ -z "$port" ] || [[ $port =~ ^[0-9]+$ ]] || fail "--port must be a number, not '$port'"
  [[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || fail "invalid bucket name '$bucket'"
  if [ -n "$access_key$secret_key" ] && { [ -z "$access_key" ] || [ -z "$secret_key" ]; }; then
    fail "--access-key and --secret-key go together"
  fi
  T0=$(now)

  ensure_packages

  # Always a fresh cluster: reusing an old directory can hang for minutes (memstore restart).
  if [ -e "$DIR/ceph.conf" ]; then
    local name
    for name in "${DAEMONS[@]}"; do
      ! daemon_pid "$DIR" "$name" >/dev/null || fail "already running in $DIR (stop it first)"
    done
    rm -rf "$DIR"/{ceph.conf,keyring,monmap,env,mon,osd,osd-block,rgw,run,log,crash}
  elif [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    fail "$DIR is not empty and holds no earlier local-s3 instance; use a new directory"
  fi
  mkdir -p "$DIR"/{mon,osd,rgw,run,log,crash}
  step "fresh directory ready"

  # Whatever fails from here on, leave no daemon behind.
  trap 'stop_all "$DIR" >/dev/null 2>&1 || true' EXIT

  local ports mon_port rgw_port
  mapfile -t ports < <(free_ports 2)
  mon_port=${ports[0]}
  if [ -n "$port" ]; then
    ! port_in_use "$port" || fail "port $port on 127.0.0.1 is in use"
    rgw_port=$port
  else
    rgw_port=${ports[1]}
  fi
  [ -n "$access_key" ] || access_key=$(random_token 20)
  [ -n "$secret_key" ] || secret_key=$(random_token 40)

  local fsid osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$DIR" "$fsid" "$mon_port" "$rgw_port" "$store"
  write_keyring "$DIR/keyring"
  export CEPH_CONF="$DIR/ceph.conf"
  local conf="$DIR/ceph.conf" log="$DIR/log"

  step "config and keyring written"

  # Monitor.
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >"$log/monmaptool.out" 2>&1 ||
    fail "monmaptool failed" "$log/monmaptool.out"
  timeout 60 ceph-mon -c "$conf" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
    >"$log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed" "$log/mon-mkfs.out"
  ceph-mon -c "$conf" -i a </dev/null >"$log/mon.out" 2>&1 || fail "ceph-mon did not start" "$log/mon.a.log"
  wait_pid_file mon.a "$log/mon.a.log"
  step "monitor started"

  # OSD: register it, format its store, place it in the CRUSH map, start it.
  local osd_id
  osd_id=$(ceph_cli osd create "$osd_uuid" 2>"$log/osd-create.out") ||
    fail "ceph osd create failed (monitor not answering?)" "$log/mon.a.log"
  [ "$osd_id" = 0 ] || fail "ceph osd create returned '$osd_id', expected 0" "$log/osd-create.out"
  step "OSD registered"
  timeout 60 ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >"$log/osd-mkfs.out" 2>&1 ||
    fail "ceph-osd --mkfs failed" "$log/osd.0.log"
  step "OSD store formatted"
  ceph_cli osd crush add osd.0 1.0 host=localhost root=default >"$log/osd-crush.out" 2>&1 ||
    fail "ceph osd crush add failed" "$log/osd-crush.out"
  step "OSD placed in CRUSH map"
  ceph-osd -c "$conf" -i 0 </dev/null >"$log/osd.out" 2>&1 || fail "ceph-osd did not start" "$log/osd.0.log"
  wait_pid_file osd.0 "$log/osd.0.log"
  step "OSD started"

  # The S3 user, then the gateway (radosgw-admin first: it creates the zone the gateway then finds).
  timeout 60 radosgw-admin -c "$conf" user create --uid=s3nfs --display-name="s3nfs tests" \
    --access-key="$access_key" --secret="$secret_key" </dev/null >"$log/user-create.out" 2>&1 ||
    fail "radosgw-admin user create failed" "$log/user-create.out"
  step "S3 user created"
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    gateway_up "$rgw_port" "$bucket" "$access_key" "$secret_key" || rc=$?
    [ "$rc" -eq 0 ] && break
    # Someone took the port between our check and radosgw's bind: try another one.
    if [ -n "$port" ] || [ "$attempt" -ge 3 ]; then
      fail "radosgw could not bind 127.0.0.1:$rgw_port" "$log/client.rgw.log"
    fi
    stop_daemon "$DIR" client.rgw
    rgw_port=$(free_ports 1)
    sed -i "s|^rgw frontends = .*|rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1|" "$conf"
  done
  local endpoint="http://127.0.0.1:$rgw_port"
  step "S3 answers, bucket created"
  cat >"$DIR/env" <<EOF
S3NFS_TEST_ENDPOINT=$endpoint
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
AWS_REGION=us-east-1
S3NFS_TEST_BUCKET=$bucket
EOF
  trap - EXIT

  echo "local-s3: Ceph RGW ($store) ready at $endpoint, bucket '$bucket', started in $(elapsed "$T0") s"
  echo "  use it:  set -a; . $DIR/env; set +a"
  echo "  ceph:    CEPH_CONF=$conf ceph -s"
  echo "  stop:    bash $0 stop $DIR"
}

cmd_stop() {
  [ -e "$DIR/ceph.conf" ] || [ -d "$DIR/run" ] || { say "nothing to stop in $DIR"; return 0; }
  stop_all "$DIR"
  local name
  for name in "${DAEMONS[@]}"; do
    ! daemon_pid "$DIR" "$name" >/dev/null || fail "$name still running"
  done
  echo "local-s3: stopped $DIR"
}

cmd_status() {
  local name pid running=0 stopped=()
  for name in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$DIR" "$name"); then
      running=$((running + 1))
    else
      stopped+=("$name")
    fi
  done
  local endpoint=""
  [ -s "$DIR/env" ] && endpoint=$(sed -n 's/^S3NFS_TEST_ENDPOINT=//p' "$DIR/env")
  if [ "$running" -eq ${#DAEMONS[@]} ]; then
    echo "local-s3: running in $DIR${endpoint:+ at $endpoint}"
  elif [ "$running" -eq 0 ]; then
    echo "local-s3: not running in $DIR"
    return 3
  else
    echo "local-s3: partly running in $DIR (not running: ${stopped[*]})"
    return 1
  fi
}

[ $# -ge 2 ] || usage
command=$1
DIR=$(realpath -m -- "$2")
[[ $DIR != *[[:space:]]* ]] || fail "DIR must not contain spaces: $DIR"
shift 2
case $command in
  start) cmd_start "$@" ;;
  stop) [ $# -eq 0 ] || usage; cmd_stop ;;
  status) [ $# -eq 0 ] || usage; cmd_status ;;
  *) usage ;;
esac
