#!/usr/bin/env bash
# Installs everything s3nfs and its tests need on a fresh Debian machine, then builds.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  # a real S3 server for tests and the quick start: single-node Ceph RADOS Gateway
  radosgw ceph-mon ceph-osd ceph-common
  # a real Linux NFS client (User-Mode Linux) and the tools around it
  user-mode-linux kmod nfs-common iproute2 gcc libc6-dev
  # a reference NFS server and a userspace NFS client
  nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils
  # captures and workloads
  tcpdump tshark fio
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent build
