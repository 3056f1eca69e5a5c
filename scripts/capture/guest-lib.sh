# shellcheck shell=bash
# Sourced by capture scenario scripts running inside the UML guest (scripts/uml/run.sh).
# Scenarios are bracketed by UDP marker datagrams to port 7 of the host side ("s3nfs-mark begin NAME",
# "s3nfs-mark end NAME"); golden.ts cuts the capture at them. Nothing listens on port 7: the datagrams only
# need to cross the captured tap device, in order with the NFS traffic.

SCENARIO_FAILURES=0

mark() { printf 's3nfs-mark %s %s\n' "$1" "$2" >"/dev/udp/$UML_HOST_ADDR/7"; }

# Let earlier traffic finish and make the next scenario start cold: no cached pages, dentries or inodes,
# so its LOOKUPs, GETATTRs and READs go to the wire.
settle() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
  sleep "${SETTLE_SECONDS:-0.5}"
}

# scenario NAME COMMAND...: runs COMMAND (a shell function or program) between markers.
scenario() {
  local name=$1 rc
  shift
  settle
  mark begin "$name"
  "$@"
  rc=$?
  sleep 0.2 # replies to the last calls are on the wire before the end marker
  mark end "$name"
  echo "scenario $name: exit $rc"
  [ "$rc" = 0 ] || SCENARIO_FAILURES=$((SCENARIO_FAILURES + 1))
}

finish_scenarios() {
  settle
  echo "scenarios failed: $SCENARIO_FAILURES"
  [ "$SCENARIO_FAILURES" = 0 ]
}
