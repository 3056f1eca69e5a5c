#!/usr/bin/env bash
# Quick start on a fresh Debian machine (as root): installs what s3nfs needs, starts a local Ceph RGW
# with a demo bucket, shows the bucket mounted through the Linux NFS client (this kernel's own client
# when it has one, else a real Linux kernel in User-Mode Linux), then serves the bucket on
# 127.0.0.1 until Ctrl-C.
#   ./scripts/quickstart.sh [--port N] [--no-demo]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=2049
DEMO=1
while [ $# -gt 0 ]; do
  case $1 in
    --port) PORT=${2:?--port needs a number}; shift 2 ;;
    --no-demo) DEMO=0; shift ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown option $1" >&2; exit 2 ;;
  esac
done
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

bash scripts/setup.sh

STATE=$ROOT/.state/quickstart
bash scripts/local-s3.sh stop "$STATE/s3" >/dev/null 2>&1 || true
rm -rf "$STATE"
mkdir -p "$STATE"
bash scripts/local-s3.sh start "$STATE/s3" --bucket demo
set -a
# shellcheck disable=SC1091
source "$STATE/s3/env"
set +a
cleanup() { bash scripts/local-s3.sh stop "$STATE/s3" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# A signal otherwise ends bash without running the EXIT trap: exit through it.
trap 'exit 130' INT
trap 'exit 143' TERM

node dist/scripts/quickstart-seed.js "$S3NFS_TEST_ENDPOINT" demo

SERVE_FLAGS=(--endpoint-url "$S3NFS_TEST_ENDPOINT" --allow-delete --allow-overwrite --publish-delay 1)

if [ "$DEMO" = 1 ]; then
  if grep -qw nfs /proc/filesystems 2>/dev/null || modprobe -q nfs 2>/dev/null; then
    echo "== this kernel has an NFS client: mounting the demo bucket at $STATE/mnt"
    mkdir -p "$STATE/mnt"
    ./bin/s3nfs serve demo "${SERVE_FLAGS[@]}" --port "$PORT" --state-dir "$STATE/server" >"$STATE/server.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do grep -q "listening on" "$STATE/server.log" && break; sleep 0.2; done
    mount -t nfs -o "vers=3,proto=tcp,port=$PORT,mountport=$PORT,mountproto=tcp,nolock" "127.0.0.1:/demo" "$STATE/mnt"
    (cd "$STATE/mnt" && set -x && ls -l . data && cat hello.txt && echo "written through NFS" >notes.txt && cat notes.txt)
    umount "$STATE/mnt"
    kill "$server"
    wait "$server" || true
  else
    echo "== this kernel has no NFS client: mounting the demo bucket from a Linux kernel in User-Mode Linux"
    cat >"$STATE/guest.sh" <<'EOF'
cd "$NFS_MOUNT"
set -x
ls -l . data
cat hello.txt
echo "written through NFS" >notes.txt
cat notes.txt
EOF
    bash scripts/uml/run.sh --timeout 120 \
      --server "exec $ROOT/bin/s3nfs serve demo ${SERVE_FLAGS[*]} --listen \$UML_HOST_ADDR --allow-client \$UML_GUEST_ADDR/32 --port $PORT --state-dir $STATE/server" \
      --s3-endpoint "$S3NFS_TEST_ENDPOINT" --export /demo \
      --mount-options "vers=3,proto=tcp,port=$PORT,mountport=$PORT,mountproto=tcp,nolock" \
      --guest-script "$STATE/guest.sh"
  fi
  echo
fi

echo "== serving s3://demo on 127.0.0.1:$PORT (Ctrl-C stops it and the local Ceph RGW)"
echo "   mount:   mount -t nfs -o vers=3,proto=tcp,port=$PORT,mountport=$PORT,mountproto=tcp,nolock 127.0.0.1:/demo /mnt"
echo "   libnfs:  nfs-ls 'nfs://127.0.0.1/demo?version=3&nfsport=$PORT&mountport=$PORT'"
./bin/s3nfs serve demo "${SERVE_FLAGS[@]}" --port "$PORT" --state-dir "$STATE/server"
