#!/usr/bin/env bash
# A reference NFSv3 server for the harness: nfs-ganesha with FSAL VFS exporting one host directory,
# in the foreground, with all of its state (config, pid file, v4 recovery dir) under a directory of its own.
#
#   scripts/uml/ganesha.sh --dir EXPORT_DIR [--nfs-port 20490] [--mount-port 20491] [--pseudo /export]
#                          [--state DIR] [--log-level NIV_EVENT]
#
# Run it inside the test's network namespace (it is meant as the --server command of scripts/uml/run.sh).
# NFSv3 over TCP only, no NLM/RQUOTA (mount with nolock). Clients mount PSEUDO (default /export), which is
# EXPORT_DIR. The log goes to stderr.
#
# ganesha exits at start if it cannot register with a portmapper, so this script runs a private rpcbind:
# inside a new mount namespace with its own /run (rpcbind's socket and state files live there), so it does
# not meet the host's rpcbind or another run's. That rpcbind answers on port 111 of the namespace, which
# also lets clients find the ports through the portmapper.
set -euo pipefail

EXPORT_DIR="" NFS_PORT=20490 MOUNT_PORT=20491 PSEUDO=/export STATE="" LOG_LEVEL=NIV_EVENT
while [ $# -gt 0 ]; do
  case $1 in
    --dir) EXPORT_DIR=$2 ;;
    --nfs-port) NFS_PORT=$2 ;;
    --mount-port) MOUNT_PORT=$2 ;;
    --pseudo) PSEUDO=$2 ;;
    --state) STATE=$2 ;;
    --log-level) LOG_LEVEL=$2 ;;
    *) echo "ganesha.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -d "$EXPORT_DIR" ] || { echo "ganesha.sh: --dir must be an existing directory" >&2; exit 2; }
EXPORT_DIR=$(cd "$EXPORT_DIR" && pwd)
STATE=${STATE:-$(mktemp -d "${UML_RUN_DIR:-/tmp}/ganesha.XXXXXX")}
mkdir -p "$STATE/recovery"

if [ "${GANESHA_SH_IN_MOUNT_NS:-}" != 1 ]; then
  export GANESHA_SH_IN_MOUNT_NS=1
  exec unshare --mount --propagation private "$0" --dir "$EXPORT_DIR" --nfs-port "$NFS_PORT" \
    --mount-port "$MOUNT_PORT" --pseudo "$PSEUDO" --state "$STATE" --log-level "$LOG_LEVEL"
fi

cat >"$STATE/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  Protocols = 3;
  NFS_Port = $NFS_PORT;
  MNT_Port = $MOUNT_PORT;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  mount_path_pseudo = true;
}
NFS_KRB5 { Active_krb5 = false; }
NFSV4 { RecoveryBackend = fs; RecoveryRoot = "$STATE/recovery"; Graceless = true; }
EXPORT {
  Export_Id = 1;
  Path = "$EXPORT_DIR";
  Pseudo = "$PSEUDO";
  Protocols = 3;
  Transports = TCP;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  FSAL { Name = VFS; }
}
EOF

mount -t tmpfs ganesha-run /run
mkdir -p /run/rpcbind
rpcbind -f -w &
for _ in $(seq 1 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.02; done
exec ganesha.nfsd -F -f "$STATE/ganesha.conf" -p "$STATE/ganesha.pid" -L /dev/stderr -N "$LOG_LEVEL"
