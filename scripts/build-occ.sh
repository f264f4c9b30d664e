#!/usr/bin/env bash
# Build OpenChoreo's `occ` CLI from the Go module proxy as a TEST ORACLE (never shipped, never committed).
# Usage: scripts/build-occ.sh [VERSION...]   (default: v1.2.3; v0.17.0 is not served by the module proxy). Prints the binary paths.
# Idempotent, and safe when two runs overlap (scripts/lib/cached-build.sh: lock, a temp dir per run, atomic rename).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/cached-build.sh
source scripts/lib/cached-build.sh
CACHE=${PACK_ORACLE_DIR:-/root/.cache/pack-oracles}
versions=("$@")
((${#versions[@]})) || versions=(v1.2.3)

build_occ() { # WORKDIR OUTPUT VERSION
  cd "$1"
  # `go install pkg@version` fails on the proxy's deprecation lookup here; a throwaway module works.
  go mod init occoracle >/dev/null 2>&1
  go get "github.com/openchoreo/openchoreo/cmd/occ@$3"
  go build -trimpath -o "$2" github.com/openchoreo/openchoreo/cmd/occ
}

for version in "${versions[@]}"; do
  cached_build "$CACHE" "occ-$version" build_occ "$version"
done
