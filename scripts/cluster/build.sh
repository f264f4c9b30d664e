#!/usr/bin/env bash
# Build the real-system tier's upstream binaries from the Go module proxy (never shipped, never committed):
#   scripts/cluster/build.sh [etcd|kube-apiserver|openchoreo-api|all]   (default: all)
# Prints one binary path per line. Binaries are cached by version in ${PACK_CLUSTER_CACHE:-/root/.cache/pack-cluster}
# as <name>-<version>; a cached binary is reused at once; overlapping runs are safe (scripts/lib/cached-build.sh).
# Cold builds on 2 cores: etcd ~2 min, kube-apiserver ~8-10 min (2 GB RSS), openchoreo-api ~5-14 min (1.2 GB RSS);
# they run one after another on purpose.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/cached-build.sh
source scripts/lib/cached-build.sh

CACHE=${PACK_CLUSTER_CACHE:-/root/.cache/pack-cluster}
ETCD_VERSION=${PACK_ETCD_VERSION:-v3.6.5}
KUBERNETES_VERSION=${PACK_KUBERNETES_VERSION:-v1.36.3}
OPENCHOREO_VERSION=${PACK_OPENCHOREO_VERSION:-v1.2.3}

build_etcd() { # WORKDIR OUTPUT
  writable_module_copy "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$1/src"
  cd "$1/src"
  # The module's go.mod points its sibling modules (api, client, pkg) at ../ paths the zip does not contain; the
  # require lines name the same release, which the proxy serves.
  local path
  for path in $(local_replacements); do
    go mod edit -dropreplace="$path"
  done
  go build -trimpath -o "$2" .
}

build_kube_apiserver() { # WORKDIR OUTPUT
  writable_module_copy "k8s.io/kubernetes@$KUBERNETES_VERSION" "$1/src"
  cd "$1/src"
  # k8s.io/kubernetes requires its staging modules as v0.0.0 replaced by ./staging/...; use the published
  # k8s.io/* releases of the same Kubernetes version instead.
  local staging_version="v0.${KUBERNETES_VERSION#v1.}" path
  for path in $(local_replacements); do
    go mod edit -dropreplace="$path" -require="$path@$staging_version"
  done
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  # Without the version stamp `kubectl version` cannot parse the server's version.
  go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$2" ./cmd/kube-apiserver
}

build_openchoreo_api() { # WORKDIR OUTPUT
  writable_module_copy "github.com/openchoreo/openchoreo@$OPENCHOREO_VERSION" "$1/src"
  cd "$1/src"
  go build -trimpath -o "$2" ./cmd/openchoreo-api
}

what=${1:-all}
case "$what" in
  etcd) cached_build "$CACHE" "etcd-$ETCD_VERSION" build_etcd ;;
  kube-apiserver) cached_build "$CACHE" "kube-apiserver-$KUBERNETES_VERSION" build_kube_apiserver ;;
  openchoreo-api) cached_build "$CACHE" "openchoreo-api-$OPENCHOREO_VERSION" build_openchoreo_api ;;
  all)
    cached_build "$CACHE" "etcd-$ETCD_VERSION" build_etcd
    cached_build "$CACHE" "kube-apiserver-$KUBERNETES_VERSION" build_kube_apiserver
    cached_build "$CACHE" "openchoreo-api-$OPENCHOREO_VERSION" build_openchoreo_api
    ;;
  *) echo "usage: $0 [etcd|kube-apiserver|openchoreo-api|all]" >&2; exit 2 ;;
esac
