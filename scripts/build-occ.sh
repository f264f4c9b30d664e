#!/usr/bin/env bash
# Build OpenChoreo's `occ` CLI from the Go module proxy as a TEST ORACLE (never shipped, never committed).
# Usage: scripts/build-occ.sh [VERSION...]   (default: v1.2.3; v0.17.0 is not served by the module proxy). Prints the binary paths. Idempotent.
set -euo pipefail
CACHE=${PACK_ORACLE_DIR:-/root/.cache/pack-oracles}
versions=("$@")
((${#versions[@]})) || versions=(v1.2.3)
mkdir -p "$CACHE"
for version in "${versions[@]}"; do
  bin="$CACHE/occ-$version"
  if [[ ! -x "$bin" ]]; then
    mod="$CACHE/occ-$version.mod"
    rm -rf "$mod" && mkdir -p "$mod"
    # `go install pkg@version` fails on the proxy's deprecation lookup here; a throwaway module works.
    (cd "$mod" && go mod init occoracle >/dev/null 2>&1 \
      && go get "github.com/openchoreo/openchoreo/cmd/occ@$version" >/dev/null 2>&1 \
      && go build -o "$bin" github.com/openchoreo/openchoreo/cmd/occ) >&2
  fi
  echo "$bin"
done
