#!/bin/bash
# Guest script for scripts/uml/run.sh: everyday file operations through the Linux kernel NFS client,
# one marked scenario each (see guest-lib.sh). Runs in the mounted export ($NFS_MOUNT), which should be
# empty. The mount itself comes before the first marker and the unmount after the last one.
# shellcheck source=scripts/capture/guest-lib.sh
source "$CAPTURE_LIB"
set -u

# Setup: the files the scenarios work on ("_" scenarios are left out of the fixtures).
setup() {
  echo "hello, world" >hello.txt
  head -c 200000 /dev/urandom >data.bin
  ln -s hello.txt link-to-hello
  echo remove-me >to-remove
  echo rename-me >to-rename
  mkdir empty-dir sub-dir
  echo in-sub >sub-dir/file
  echo chmod-me >chmod-me
  head -c 5000 /dev/urandom >truncate-me
  echo touch-me >touch-me
}

ls_long() { ls -l; }
cat_files() { cat hello.txt && cat data.bin | sha256sum; }
write_small() { echo hello >small.txt && sync; }
write_large() { head -c 3145728 /dev/urandom >large.bin && sync; }
# Calls the server refuses, for the failure arms of the replies.
failing_calls() {
  ! cat no-such-file 2>/dev/null &&     # LOOKUP: NFS3ERR_NOENT
    ! mkdir hello.txt 2>/dev/null &&    # MKDIR: NFS3ERR_EXIST
    ! rmdir sub-dir 2>/dev/null         # RMDIR: NFS3ERR_NOTEMPTY
}
# READDIR (not READDIRPLUS) is only sent when the mount says nordirplus.
ls_nordirplus() {
  mkdir -p /tmp/mnt3 &&
    mount -t nfs -o "$NFS_MOUNT_OPTIONS,nordirplus,nosharecache" "$UML_HOST_ADDR:$NFS_EXPORT" /tmp/mnt3 &&
    ls -l /tmp/mnt3 >/dev/null &&
    umount /tmp/mnt3
}
remount_via_portmap() {
  # No ports given: mount.nfs and the kernel ask the portmapper (rpcbind) on port 111.
  mkdir -p /tmp/mnt2 &&
    mount -t nfs -o vers=3,proto=tcp,nolock,nosharecache "$UML_HOST_ADDR:$NFS_EXPORT" /tmp/mnt2 &&
    ls /tmp/mnt2 >/dev/null &&
    umount /tmp/mnt2
}

scenario _setup setup
scenario ls ls_long
scenario cat cat_files
scenario write-small write_small
scenario write-large write_large
scenario mkdir mkdir new-dir
scenario rm rm to-remove
scenario mv mv to-rename renamed
scenario symlink ln -s hello.txt new-link
scenario readlink readlink link-to-hello
scenario statfs stat -f .
scenario rmdir rmdir empty-dir
scenario touch touch touch-me touched-new
scenario truncate truncate -s 1000 truncate-me
scenario chmod chmod 600 chmod-me
scenario link ln hello.txt hard-link
scenario mkfifo mkfifo fifo
scenario errors failing_calls
scenario readdir ls_nordirplus
scenario mount-portmap remount_via_portmap
finish_scenarios
