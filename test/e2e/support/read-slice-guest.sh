#!/bin/bash
# Guest side of test/e2e/read-slice.test.ts: runs in the UML guest from the root of an s3nfs mount and
# writes what the kernel client (and libnfs) saw into $UML_FILES, in forms the host parses exactly
# (NUL-terminated records wherever a file name appears, so names with spaces, tabs or newlines survive).
#
# Environment (from the test): CHECKS (space-separated list of: tree ranges writes libnfs restart),
# EXPORT_PATH (what libnfs mounts), NFS_PORT, BIG (path of the big file), BIG_SIZE, plus the harness's
# UML_FILES, UML_HOST_ADDR, NFS_MOUNT.
set -u
F=$UML_FILES
has() { [[ " $CHECKS " == *" $1 "* ]]; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# Progress on stdout, so a slow or stuck step shows in the test's failure message.
phase() { echo "phase $1 at $(cut -d' ' -f1 /proc/uptime)"; }

# The whole tree as the kernel client lists it: type, size, mtime, path.
if has tree; then
  phase tree
  find . -mindepth 1 -printf '%y\t%s\t%T@\t%P\0' >"$F/find" 2>"$F/find.err"
  echo $? >"$F/find.rc"
  ls -lan --time-style=+%s . >"$F/ls-root" 2>&1
  [ -d many ] && ls -lan --time-style=+%s many >"$F/ls-many" 2>&1
  stat -f -c '%T %s %S %b %f %a %c %d %l' . >"$F/statfs" 2>&1
  # The mtime a file shows must not depend on how the client learnt it: from READDIRPLUS (find above),
  # then from GETATTR (open revalidates attributes: close-to-open).
  for f in readme.txt nested/top.txt many/f00001 'odd/with space.txt'; do
    [ -e "$f" ] || continue
    before=$(stat -c %.9Y "$f")
    cat "$f" >/dev/null
    printf '%s %s %s\0' "$before" "$(stat -c %.9Y "$f")" "$f" >>"$F/mtimes"
  done
fi

# Byte ranges of the big object, read cold: nothing of it is cached yet.
if has ranges; then
  phase ranges
  drop_caches
  range() { # NAME DD-ARGS...
    local name=$1
    shift
    dd if="$BIG" of=/tmp/range "$@" status=none 2>"$F/range-$name.err"
    local rc=$?
    printf '%s %s %s %s\n' "$name" "$rc" "$(stat -c %s /tmp/range)" "$(sha256sum </tmp/range | cut -c1-64)" >>"$F/ranges"
    rm -f /tmp/range
  }
  range mib bs=1M skip=100 count=7
  range unaligned bs=65536 iflag=skip_bytes,count_bytes skip=123456789 count=3000001
  range tail bs=4096 iflag=skip_bytes,count_bytes skip=$((BIG_SIZE - 1000)) count=5000
  range past-eof bs=4096 iflag=skip_bytes skip=$((BIG_SIZE + 4096))
fi

# Every file's content (the big one included), after the ranges so those were read cold.
if has tree; then
  phase sums
  # Eight readers at once, as a busy machine would: one file at a time costs a few S3 round trips each.
  # Each sha256sum writes a file of its own, so records never interleave.
  mkdir -p /tmp/sums
  find . -type f -print0 | xargs -0 -P 8 -n 50 sh -c 'exec sha256sum -z "$@" >/tmp/sums/$$' sha256 2>"$F/sums.err"
  echo $? >"$F/sums.rc"
  cat /tmp/sums/* >"$F/sums"
fi

# Changes on a --read-only export: label, exit status, error output. (touch -h and chmod change
# attributes without opening the file; touch, truncate, >> and dd open it for writing first.)
if has writes; then
  phase writes
  attempt() { # LABEL CMD...
    local label=$1
    shift
    "$@" >/dev/null 2>/tmp/err
    printf '%s\t%s\t%s\n' "$label" "$?" "$(tr '\n' ' ' </tmp/err)" >>"$F/writes"
  }
  attempt create sh -c ': >new-file'
  attempt touch-new touch new-file
  attempt mkdir mkdir new-dir
  attempt rm rm -f readme.txt
  attempt rmdir rmdir marker-only
  attempt mv mv readme.txt renamed.txt
  attempt symlink ln -s readme.txt new-link
  attempt touch-h touch -h readme.txt
  attempt chmod chmod 600 readme.txt
  attempt touch-existing touch readme.txt
  attempt truncate truncate -s 0 readme.txt
  attempt append sh -c 'echo more >>readme.txt'
  attempt overwrite dd if=/dev/zero of="$BIG" bs=4096 count=1 conv=notrunc,fsync status=none
  drop_caches
  { sha256sum -z readme.txt "$BIG"; find . -maxdepth 1 -printf '%P\0'; } >"$F/after-writes" 2>&1
fi

# The same export through libnfs (a user-space NFS client): a recursive listing and a few files.
if has libnfs; then
  phase libnfs
  base="nfs://$UML_HOST_ADDR$EXPORT_PATH"
  args="?version=3&nfsport=$NFS_PORT&mountport=$NFS_PORT"
  nfs-ls -R "$base$args" >"$F/nfs-ls" 2>"$F/nfs-ls.err"
  echo $? >"$F/nfs-ls.rc"
  # Paths to cat, NUL-separated, chosen by the host (names must not hold '?', which ends a URL path).
  if [ -n "${LIBNFS_CAT:-}" ]; then
    # (A pipe, not <(...): the guest has no /dev/fd.)
    printf '%b' "$LIBNFS_CAT" | {
      n=0
      while IFS= read -r -d '' path; do
        n=$((n + 1))
        nfs-cat "$base/$path$args" >/tmp/cat 2>"$F/nfs-cat.$n.err"
        rc=$?
        printf '%s\t%s\t%s\0' "$rc" "$(sha256sum </tmp/cat | cut -c1-64)" "$path" >>"$F/nfs-cat"
      done
    }
  fi
fi

# A server restart under the mount: hold a directory (as cwd) and open files, drop what the client
# cached of their data, have the host restart the server, then use them again. Nothing may be stale.
if has restart; then
  phase restart
  (
    cd nested/a/b/c || exit 1
    exec 3<deep.txt 4<"$NFS_MOUNT/many/f00500" 5<"$NFS_MOUNT/$BIG"
    drop_caches
    : >"$F/restart-server"
    # Wait for the host's answer (server-restarted-1 or server-restart-failed-1) by reading the directory
    # (a glob): hostfs may cache a failed lookup of a name, never a directory listing.
    answered() {
      local x
      for x in "$F"/server-restart*-1; do [ "$x" != "$F/server-restart*-1" ] && return 0; done
      return 1
    }
    for _ in $(seq 1 600); do
      answered && break
      sleep 0.1
    done
    {
      printf 'cwd-listing\0'
      find . -mindepth 1 -printf '%y %s %P\n' 2>&1
      printf '\0fd-deep\0'
      sha256sum <&3 2>&1
      printf '\0fd-many\0'
      sha256sum <&4 2>&1
      printf '\0fd-big-range\0'
      dd bs=1M skip=50 count=2 status=none <&5 2>&1 | sha256sum
      printf '\0stat\0'
      stat -c '%s %Y %n' deep.txt ../../sibling.bin "$NFS_MOUNT/readme.txt" 2>&1
      printf '\0root-count\0'
      find "$NFS_MOUNT" -mindepth 1 -printf x 2>&1 | wc -c
      printf '\0'
    } >"$F/restart" 2>"$F/restart.err"
  )
fi
phase end
exit 0
