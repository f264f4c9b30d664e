#!/usr/bin/env bash
# Build the TEST ORACLES from the Go module proxy (never shipped, never committed). Prints one binary path per line.
#   scripts/build-oracles.sh [argo|occ|all]   (default: all). Idempotent: a built binary is reused.
#
# argo: `argo lint --offline` (Argo's own strict decoding + workflow/validate, templateRef resolved across the
#       given files) as a ~30-line main over github.com/argoproj/argo-workflows/v4/cmd/argo/lint; the full argo
#       CLI does not build from the module zip (ui/embed.go needs ui/dist). The proxy serves v4.0.5 as the newest
#       v4 version (v4.1.x: "not available"), so the oracle is v4.0.5 while the pack targets v4.1.2.
#       Cold build (2 CPUs): ~30 s of downloads + ~3-4 min of compiling; warm: well under a second.
#       Overlapping runs are safe (scripts/lib/cached-build.sh: lock, a temp dir per run, atomic rename).
# occ:  OpenChoreo's CLI, delegated to scripts/build-occ.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/cached-build.sh
source scripts/lib/cached-build.sh
CACHE=${PACK_ORACLE_DIR:-/root/.cache/pack-oracles}
ARGO_VERSION=${PACK_ARGO_ORACLE_VERSION:-v4.0.5}
what=${1:-all}
ARGO_MAIN=$PWD/scripts/oracles/argo-lint-offline/main.go

build_argo() { # WORKDIR OUTPUT
  cp "$ARGO_MAIN" "$1/main.go"
  cd "$1"
  # `go install pkg@version` fails on the proxy's deprecation lookup here; a throwaway module works.
  go mod init argolintoracle >/dev/null 2>&1
  go get "github.com/argoproj/argo-workflows/v4@$ARGO_VERSION"
  go build -trimpath -o "$2" .
}

case "$what" in
  argo) cached_build "$CACHE" "argo-lint-offline-$ARGO_VERSION" build_argo ;;
  occ) bash scripts/build-occ.sh ;;
  all)
    cached_build "$CACHE" "argo-lint-offline-$ARGO_VERSION" build_argo
    if [[ -f scripts/build-occ.sh ]]; then bash scripts/build-occ.sh; fi
    ;;
  *) echo "usage: $0 [argo|occ|all]" >&2; exit 2 ;;
esac
