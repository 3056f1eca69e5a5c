#!/usr/bin/env bash
# Captures the RPC traffic of a real NFS client against a server and turns it into golden vectors.
#
#   scripts/capture/capture.sh --client kernel|libnfs --server 'CMD' --out DIR
#        [--export /export] [--nfs-port 20490] [--mount-port 20491] [--pcap FILE] [--keep-results DIR]
#
# kernel: the Linux 6.1 client in UML mounts EXPORT (vers=3,proto=tcp,port=…,mountport=…,mountproto=tcp,
#   nolock,rsize=65536,wsize=65536) and runs kernel-scenarios.sh; fixtures kernel-mount.jsonl (everything
#   before the first scenario), kernel-<scenario>.jsonl, kernel-umount.jsonl (after the last).
# libnfs: nfs-ls/nfs-cat/nfs-cp run in the guest (no kernel mount) with libnfs-scenarios.sh;
#   fixtures libnfs-<scenario>.jsonl.
# The server command is run by scripts/uml/run.sh inside the test namespace and must export EXPORT with NFS on
# --nfs-port and MOUNT on --mount-port, to an empty directory. The pcap is kept if --pcap is given.
# Needs a build (npm run build) for dist/scripts/capture/golden.js.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

CLIENT="" SERVER="" OUT="" EXPORT=/export NFS_PORT=20490 MOUNT_PORT=20491 PCAP="" KEEP=""
while [ $# -gt 0 ]; do
  case $1 in
    --client) CLIENT=$2 ;;
    --server) SERVER=$2 ;;
    --out) OUT=$2 ;;
    --export) EXPORT=$2 ;;
    --nfs-port) NFS_PORT=$2 ;;
    --mount-port) MOUNT_PORT=$2 ;;
    --pcap) PCAP=$2 ;;
    --keep-results) KEEP=$2 ;;
    *) echo "capture.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [ -z "$CLIENT" ] || [ -z "$SERVER" ] || [ -z "$OUT" ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
[ -f "$ROOT/dist/scripts/capture/golden.js" ] || { echo "capture.sh: run npm run build first" >&2; exit 2; }

tmp=$(mktemp -d /tmp/s3nfs-capture.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pcap=${PCAP:-$tmp/capture.pcap}
common=(--server "$SERVER" --export "$EXPORT" --server-port "$NFS_PORT" --capture "$pcap"
  --capture-filter "tcp port $NFS_PORT or tcp port $MOUNT_PORT or port 111 or udp port 7"
  --guest-env "CAPTURE_LIB=$HERE/guest-lib.sh" --timeout 180 ${KEEP:+--results "$KEEP"})

case $CLIENT in
  kernel)
    bash "$ROOT/scripts/uml/run.sh" "${common[@]}" --guest-script "$HERE/kernel-scenarios.sh" \
      --mount-options "vers=3,proto=tcp,port=$NFS_PORT,mountport=$MOUNT_PORT,mountproto=tcp,nolock,rsize=65536,wsize=65536"
    golden=(--before mount --after umount)
    ;;
  libnfs)
    bash "$ROOT/scripts/uml/run.sh" "${common[@]}" --no-mount --guest-script "$HERE/libnfs-scenarios.sh" \
      --guest-env "NFS_PORT=$NFS_PORT" --guest-env "MOUNT_PORT=$MOUNT_PORT"
    golden=()
    ;;
  *) echo "capture.sh: --client is kernel or libnfs" >&2; exit 2 ;;
esac
node "$ROOT/dist/scripts/capture/golden.js" --pcap "$pcap" --out "$OUT" --prefix "$CLIENT" "${golden[@]}"
