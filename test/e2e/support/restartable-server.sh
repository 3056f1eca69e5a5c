#!/usr/bin/env bash
# Runs a server in the foreground for scripts/uml/run.sh and restarts it when the guest asks, so a test
# can check what a client mounted across a server restart sees.
#
#   restartable-server.sh PORT CMD [ARGS...]
#
# The guest asks by creating $UML_FILES/restart-server (the run directory's files/ on the host). The
# server gets SIGTERM, is waited for, started again with the same command line (same port, same state
# directory), and once it listens on PORT again, files/server-restarted-N is created (N counts restarts)
# for the guest to wait on. A SIGTERM to this script (the harness's teardown) is passed on to the server.
set -uo pipefail

port=${1:?usage: restartable-server.sh PORT CMD [ARGS...]}
shift
[ $# -gt 0 ] || { echo "restartable-server: no command" >&2; exit 2; }
files=${UML_RUN_DIR:?UML_RUN_DIR is not set (run me from scripts/uml/run.sh)}/files
mkdir -p "$files"
trigger=$files/restart-server

say() { echo "restartable-server: $*" >&2; }

child=""
# The server runs in a session of its own: the harness's SIGTERM to this script's process group then
# reaches it once, through on_term, and not twice (a second SIGTERM makes s3nfs skip its clean shutdown).
start() {
  setsid "$@" &
  child=$!
}

listening() { [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; }

stopping=0
on_term() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
}
trap on_term TERM INT

start "$@"
restarts=0
while :; do
  if ! kill -0 "$child" 2>/dev/null; then
    wait "$child"
    status=$?
    [ "$stopping" = 1 ] || say "server exited by itself with status $status"
    exit "$status"
  fi
  if [ "$stopping" = 0 ] && [ -e "$trigger" ]; then
    rm -f "$trigger"
    say "restart requested: SIGTERM to pid $child"
    kill -TERM "$child" 2>/dev/null
    wait "$child"
    say "server exited with status $?; starting it again"
    [ "$stopping" = 1 ] && exit 143
    start "$@"
    for _ in $(seq 1 600); do
      listening && break
      kill -0 "$child" 2>/dev/null || break
      sleep 0.05
    done
    restarts=$((restarts + 1))
    if listening; then
      say "server listening again (pid $child, restart $restarts)"
      : >"$files/server-restarted-$restarts"
    else
      say "server did not listen on port $port after restart $restarts"
      : >"$files/server-restart-failed-$restarts"
    fi
  fi
  sleep 0.1
done
