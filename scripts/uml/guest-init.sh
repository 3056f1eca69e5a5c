#!/bin/bash
# PID 1 of the User-Mode Linux guest booted by scripts/uml/run.sh. The guest's root is the host's root,
# read-only (hostfs). The harness's run directory on the host comes in as the kernel command-line variable
# uml_run and is mounted read-write at /tmp/run; everything the host gets back is written there:
#   out/status   key=value lines (mount_exit, mounted_at, script_exit, umount_exit, ...)
#   out/stdout, out/stderr   the guest script's output
#   files/       free for the guest script ($UML_FILES)
# Progress goes to the console (the host's guest.log) prefixed with "uml-init:".
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "uml-init: [$(cut -d" " -f1 /proc/uptime 2>/dev/null)] $*"; }
finish() {
  sync
  umount /tmp/run 2>/dev/null
  say "halt"
  halt -f 2>/dev/null
  echo o >/proc/sysrq-trigger # in case halt is missing: PID 1 must never return
  sleep 10
}
trap finish EXIT

mount -t proc proc /proc
mount -t sysfs sys /sys
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mount -t tmpfs tmp /tmp
# A checkout under the host's /tmp (CI clones into a temp dir) would be hidden by that tmpfs:
# show it again at the same path so guest scripts can run the project's files.
case "$REPO_ROOT" in
  /tmp/*) mkdir -p "$REPO_ROOT" && mount -t hostfs none "$REPO_ROOT" -o "$REPO_ROOT" ;;
esac
mount -t tmpfs run /run
mount -t devtmpfs dev /dev 2>/dev/null # may already be there; /dev/urandom etc. come from it
mkdir -p /dev/shm /dev/pts && mount -t tmpfs shm /dev/shm # Python multiprocessing needs it
mount -t devpts devpts /dev/pts 2>/dev/null

mkdir -p /tmp/run
if ! mount -t hostfs none /tmp/run -o "${uml_run:?uml_run missing from the kernel command line}"; then
  say "cannot mount the run directory $uml_run"
  exit 1
fi
RUN=/tmp/run
OUT=$RUN/out
mkdir -p "$OUT" "$RUN/files"
status() { echo "$1=$2" >>"$OUT/status"; }
status booted_at "$(date +%s.%N)"

# shellcheck source=/dev/null
source "$RUN/guest.env" # UML_HOST_ADDR UML_GUEST_ADDR UML_PREFIX UML_DEADLINE NFS_* (written by run.sh)

say "loading modules"
M=/usr/lib/uml/modules/$(uname -r)/kernel
for m in net/sunrpc/sunrpc fs/nfs_common/grace fs/lockd/lockd fs/nfs_common/nfs_acl \
  fs/netfs/netfs fs/fscache/fscache fs/nfs/nfs fs/nfs/nfsv3; do
  if [ -f "$M/$m.ko" ]; then insmod "$M/$m.ko" || say "insmod $m failed"; fi
done

say "network"
ip link set lo up
ip link set vec0 up
ip addr add "$UML_GUEST_ADDR/$UML_PREFIX" dev vec0
ip route add default via "$UML_HOST_ADDR" # tools that find their own address by a UDP connect need one
hostname uml-guest 2>/dev/null

export NFS_MOUNT=/tmp/mnt
mkdir -p "$NFS_MOUNT"
if [ "${NFS_NO_MOUNT:-0}" != 1 ]; then
  say "mount -t nfs -o $NFS_MOUNT_OPTIONS $UML_HOST_ADDR:$NFS_EXPORT $NFS_MOUNT"
  mount -t nfs -o "$NFS_MOUNT_OPTIONS" "$UML_HOST_ADDR:$NFS_EXPORT" "$NFS_MOUNT" 2>"$OUT/mount.err"
  rc=$?
  status mount_exit "$rc"
  status mounted_at "$(date +%s.%N)"
  if [ "$rc" != 0 ]; then
    say "mount failed ($rc): $(cat "$OUT/mount.err")"
    exit 0
  fi
fi

# The script runs from the mount point with the caller's variables plus NFS_MOUNT, NFS_EXPORT,
# NFS_MOUNT_OPTIONS, UML_FILES, UML_HOST_ADDR and UML_GUEST_ADDR.
export UML_FILES=$RUN/files UML_HOST_ADDR UML_GUEST_ADDR NFS_EXPORT NFS_MOUNT_OPTIONS
set -a
# shellcheck source=/dev/null
source "$RUN/script.env"
set +a
# Leave a little time before the host's deadline so the status still gets written.
budget=$(awk -v d="$UML_DEADLINE" -v n="$(date +%s.%N)" 'BEGIN { b = int(d - n - 3); print (b < 1 ? 1 : b) }')
interpreter=()
head -c2 "$RUN/guest-script" | grep -q '^#!' || interpreter=(bash)
say "script start (budget ${budget}s)"
status script_started_at "$(date +%s.%N)"
(cd "${NFS_MOUNT}" && exec timeout -k 2 "$budget" "${interpreter[@]}" "$RUN/guest-script") \
  </dev/null >"$OUT/stdout" 2>"$OUT/stderr"
rc=$?
status script_exit "$rc"
status script_ended_at "$(date +%s.%N)"
say "script exit $rc"

if [ "${NFS_NO_MOUNT:-0}" != 1 ] && mountpoint -q "$NFS_MOUNT"; then
  # Unmounting flushes whatever the script left dirty, so the host sees all of it once the guest is gone.
  umount "$NFS_MOUNT" 2>>"$OUT/mount.err"
  status umount_exit "$?"
fi
status finished 1
