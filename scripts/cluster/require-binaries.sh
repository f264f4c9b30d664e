#!/usr/bin/env bash
# Build (or find cached) the real-system tier's binaries, timing it; on failure print ONE clear line and exit 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== real-system tier, gate 1: etcd, kube-apiserver, openchoreo-api from the Go module proxy (cached)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$SECONDS
if ! bash scripts/cluster/build.sh all 2>"$log"; then
  tail -n 30 "$log" >&2
  echo "FAIL: gate 1: the real OpenChoreo API server's binaries could not be built (scripts/cluster/build.sh all)" >&2
  exit 1
fi
grep '^built ' "$log" >&2 || true
echo "binaries ready in $((SECONDS - started)) s"
