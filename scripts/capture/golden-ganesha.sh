#!/usr/bin/env bash
# Regenerates test/fixtures/golden from the reference server (nfs-ganesha, FSAL VFS, scripts/uml/ganesha.sh):
# one capture with the Linux kernel client and one with the libnfs tools, each against a fresh empty export,
# then checks the fixtures (every call paired with its reply) and prints the per-procedure table.
#
#   scripts/capture/golden-ganesha.sh [OUT_DIR (default test/fixtures/golden)] [PCAP_DIR (pcaps kept there)]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/test/fixtures/golden}
PCAPS=${2:-}

(cd "$ROOT" && npm run --silent build) || echo "golden-ganesha: build reported errors; using what it emitted" >&2
work=$(mktemp -d /tmp/s3nfs-golden.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -z "$PCAPS" ] || mkdir -p "$PCAPS"

for client in kernel libnfs; do
  mkdir -p "$work/$client-export"
  bash "$HERE/capture.sh" --client "$client" --out "$OUT" \
    --server "$ROOT/scripts/uml/ganesha.sh --dir $work/$client-export --nfs-port 20490 --mount-port 20491" \
    ${PCAPS:+--pcap "$PCAPS/$client.pcap"}
done
node "$ROOT/dist/scripts/capture/summarize.js" "$OUT"/*.jsonl
