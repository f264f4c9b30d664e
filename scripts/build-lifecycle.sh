#!/usr/bin/env bash
# Build the Cloud Native Buildpacks lifecycle from the Go module proxy for the local TEST builder image (never
# shipped, never committed). Prints the directory that holds the /cnb/lifecycle tree:
#   <cache>/lifecycle-<version>/lifecycle/{lifecycle,launcher,lifecycle.toml,detector,analyzer,...}
#
#   scripts/build-lifecycle.sh [VERSION]   (default: v0.20.4; env PACK_LIFECYCLE_VERSION, PACK_LIFECYCLE_CACHE)
#
# The layout is the one the lifecycle's release tarball (and so every builder's /cnb/lifecycle) has: the
# `lifecycle` binary, the phases as symlinks to it, and a separate `launcher` binary (its own main package, kept
# small because it ends up in every app image). Flags as upstream's Makefile: -s -w and the version stamped in.
# Idempotent and safe when runs overlap: one flock per version, each run builds in its own temp dir and renames
# the finished tree into place. Cold build on 2 shared CPUs: a few minutes; warm: instant.
set -euo pipefail
VERSION=${1:-${PACK_LIFECYCLE_VERSION:-v0.20.4}}
CACHE=${PACK_LIFECYCLE_CACHE:-/root/.cache/pack-buildpacks}
if [[ ! "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "build-lifecycle: VERSION must be an exact version like v0.20.4, got '$VERSION'" >&2
  exit 2
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOOS=linux GOARCH=amd64
MODULE=github.com/buildpacks/lifecycle
target="$CACHE/lifecycle-$VERSION"
PHASES=(detector analyzer restorer builder exporter rebaser extender creator)

mkdir -p "$CACHE"
exec 9>"$CACHE/lifecycle-$VERSION.lock"
flock 9
if [[ -f "$target/.complete" ]]; then
  echo "$target/lifecycle"
  exit 0
fi
work=$(mktemp -d "$CACHE/lifecycle-$VERSION.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
out="$work/tree/lifecycle"
mkdir -p "$out" "$work/mod"
started=$SECONDS
(
  cd "$work/mod"
  # `go install pkg@version` trips over the proxy's deprecation lookup here; a throwaway module works.
  go mod init lifecyclebuild >/dev/null 2>&1
  go get "$MODULE@$VERSION" >/dev/null
  ldflags="-s -w -X '$MODULE/cmd.Version=${VERSION#v}' -X '$MODULE/cmd.SCMRepository=$MODULE'"
  go build -trimpath -ldflags "$ldflags" -o "$out/lifecycle" "$MODULE/cmd/lifecycle"
  go build -trimpath -ldflags "$ldflags" -o "$out/launcher" "$MODULE/cmd/launcher"
) >&2
for phase in "${PHASES[@]}"; do
  ln -s lifecycle "$out/$phase"
done
# lifecycle.toml as the release tarball has it: the APIs this version supports (read from its own source).
src=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
apis=$(grep -E '^\s*(Platform|Buildpack)\s*=\s*newApisMustParse' "$src/api/apis.go")
platform=$(sed -n 's/.*Platform *= *newApisMustParse(\[\]string{\([^}]*\)}.*/\1/p' <<<"$apis")
buildpack=$(sed -n 's/.*Buildpack *= *newApisMustParse(\[\]string{\([^}]*\)}.*/\1/p' <<<"$apis")
if [[ -z "$platform" || -z "$buildpack" ]]; then
  echo "build-lifecycle: could not read the supported APIs from $src/api/apis.go" >&2
  exit 1
fi
cat >"$out/lifecycle.toml" <<EOF
[apis]
[apis.buildpack]
  deprecated = []
  supported = [$buildpack]
[apis.platform]
  deprecated = []
  supported = [$platform]

[api]
  platform = "0.7"
  buildpack = "0.7"

[lifecycle]
  version = "${VERSION#v}"
EOF
"$out/lifecycle" -version >&2 || true
echo "$VERSION" >"$work/tree/.complete"
rm -rf "$target"
mv "$work/tree" "$target"
echo "build-lifecycle: $MODULE@$VERSION built in $((SECONDS - started))s" >&2
echo "$target/lifecycle"
