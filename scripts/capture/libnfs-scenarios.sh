#!/bin/bash
# Guest script for scripts/uml/run.sh --no-mount: the libnfs command-line tools (nfs-ls, nfs-cat, nfs-cp)
# against the server, one marked scenario each (see guest-lib.sh), then showmount and rpcinfo. They run in the guest so that their
# traffic crosses the captured tap device. Needs NFS_PORT and MOUNT_PORT; the export should be empty.
# shellcheck source=scripts/capture/guest-lib.sh
source "$CAPTURE_LIB"
set -u

BASE="nfs://$UML_HOST_ADDR$NFS_EXPORT"
Q="version=3&nfsport=$NFS_PORT&mountport=$MOUNT_PORT"

# Unmarked setup, local to the guest.
echo "hello from libnfs" >/tmp/small.txt
head -c 300000 /dev/urandom >/tmp/medium.bin

# A path that is not exported: MNT answers MNT3ERR_ACCES and nfs-ls fails.
mount_denied() { ! nfs-ls "nfs://$UML_HOST_ADDR/not-exported?$Q"; }
read_back() { nfs-cp "$BASE/medium.bin?$Q" /tmp/medium.copy && cmp /tmp/medium.bin /tmp/medium.copy; }

scenario write-small nfs-cp /tmp/small.txt "$BASE/small.txt?$Q"
scenario write-large nfs-cp /tmp/medium.bin "$BASE/medium.bin?$Q"
scenario ls nfs-ls "$BASE?$Q"
scenario cat nfs-cat "$BASE/small.txt?$Q"
scenario read read_back
scenario mount-denied mount_denied
# No ports given: libnfs asks the portmapper on port 111 for MOUNT and NFS.
scenario ls-portmap nfs-ls "$BASE?version=3"
# Other user-space clients on the same run, for MOUNT and portmapper procedures the rest does not use.
scenario showmount:exports showmount -e "$UML_HOST_ADDR"     # portmapper, then MOUNT EXPORT
scenario showmount:dump showmount -a "$UML_HOST_ADDR"        # portmapper, then MOUNT DUMP
scenario rpcinfo:dump rpcinfo -p "$UML_HOST_ADDR"            # PORTMAP v2 DUMP
scenario rpcinfo:ping-mount rpcinfo -t "$UML_HOST_ADDR" 100005 3 # port lookup, then MOUNT NULL
finish_scenarios
