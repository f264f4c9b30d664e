#!/usr/bin/env bash
# Build the real-system tier's upstream binaries from the Go module proxy (never shipped, never committed):
#   scripts/cluster/build.sh [NAME...|all|node|argo|planes|eso]   (default: all = gate 1's three)
# NAME is etcd, kube-apiserver, openchoreo-api (gate 1), kubelet, kube-controller-manager, kube-scheduler (gate 2,
# `node`), workflow-controller, argoexec (gate 3, `argo`), openchoreo-manager, openchoreo-cluster-gateway,
# openchoreo-cluster-agent (gate 4, `planes`), external-secrets (gate 4's optional operator, `eso`).
# Prints one binary path per line. PACK_CLUSTER_CACHED_ONLY=1: build nothing, exit 3 if one is not cached. Binaries are cached by version in ${PACK_CLUSTER_CACHE:-/root/.cache/pack-cluster}
# as <name>-<version>; a cached binary is reused at once; overlapping runs are safe (scripts/lib/cached-build.sh).
# Cold builds on 2 cores: etcd ~2 min, kube-apiserver ~8-10 min (2 GB RSS), openchoreo-api ~5-14 min (1.2 GB RSS);
# with kube-apiserver's caches warm: kubelet ~2 min, kube-controller-manager ~1-2 min, kube-scheduler <1 min;
# workflow-controller + argoexec ~6 min cold. They run one after another on purpose.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/cached-build.sh
source scripts/lib/cached-build.sh

CACHE=${PACK_CLUSTER_CACHE:-/root/.cache/pack-cluster}
ETCD_VERSION=${PACK_ETCD_VERSION:-v3.6.5}
KUBERNETES_VERSION=${PACK_KUBERNETES_VERSION:-v1.36.3}
OPENCHOREO_VERSION=${PACK_OPENCHOREO_VERSION:-v1.2.3}
ARGO_VERSION=${PACK_ARGO_VERSION:-v4.0.5}
EXTERNAL_SECRETS_VERSION=${PACK_EXTERNAL_SECRETS_VERSION:-v0.16.2}

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

build_kubernetes_command() { # WORKDIR OUTPUT COMMAND (kube-apiserver, kubelet, kube-controller-manager, ...)
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
  # Without the version stamp `kubectl version` cannot parse the server's version (and the kubelet reports none).
  go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$2" "./cmd/$3"
}

build_openchoreo_api() { # WORKDIR OUTPUT
  writable_module_copy "github.com/openchoreo/openchoreo@$OPENCHOREO_VERSION" "$1/src"
  cd "$1/src"
  go build -trimpath -o "$2" ./cmd/openchoreo-api
}

build_openchoreo_command() { # WORKDIR OUTPUT PACKAGE (./cmd is the manager, ./cmd/cluster-gateway, ./cmd/cluster-agent)
  writable_module_copy "github.com/openchoreo/openchoreo@$OPENCHOREO_VERSION" "$1/src"
  cd "$1/src"
  go build -trimpath -o "$2" "$3"
}

build_external_secrets() { # WORKDIR OUTPUT
  writable_module_copy "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION" "$1/src"
  cd "$1/src"
  go build -trimpath -o "$2" .
}

build_argo_command() { # WORKDIR OUTPUT COMMAND (workflow-controller or argoexec)
  writable_module_copy "github.com/argoproj/argo-workflows/v4@$ARGO_VERSION" "$1/src"
  cd "$1/src"
  # Upstream, osspecific/signal_linux.go is a symlink to signal_darwin.go; module zips drop symlinks, so argoexec
  # does not compile from the zip ("undefined: Setpgid"). Restore the link's target as a file.
  local signal=workflow/executor/osspecific
  if [[ ! -e "$signal/signal_linux.go" && -f "$signal/signal_darwin.go" ]]; then
    cp "$signal/signal_darwin.go" "$signal/signal_linux.go"
  fi
  go build -trimpath -o "$2" "./cmd/$3"
}

build_one() { # NAME
  if [[ "${PACK_CLUSTER_CACHED_ONLY:-}" == 1 ]]; then # report, never build: exit 3 when a binary is not cached
    local version
    case "$1" in
      etcd) version=$ETCD_VERSION ;;
      openchoreo-*) version=$OPENCHOREO_VERSION ;;
      external-secrets) version=$EXTERNAL_SECRETS_VERSION ;;
      workflow-controller | argoexec) version=$ARGO_VERSION ;;
      *) version=$KUBERNETES_VERSION ;;
    esac
    [[ -x "$CACHE/$1-$version" ]] || { echo "not cached: $1-$version" >&2; exit 3; }
    echo "$CACHE/$1-$version"
    return
  fi
  case "$1" in
    etcd) cached_build "$CACHE" "etcd-$ETCD_VERSION" build_etcd ;;
    kube-apiserver | kubelet | kube-controller-manager | kube-scheduler)
      cached_build "$CACHE" "$1-$KUBERNETES_VERSION" build_kubernetes_command "$1" ;;
    openchoreo-api) cached_build "$CACHE" "openchoreo-api-$OPENCHOREO_VERSION" build_openchoreo_api ;;
    workflow-controller | argoexec) cached_build "$CACHE" "$1-$ARGO_VERSION" build_argo_command "$1" ;;
    openchoreo-manager) cached_build "$CACHE" "$1-$OPENCHOREO_VERSION" build_openchoreo_command ./cmd ;;
    openchoreo-cluster-gateway | openchoreo-cluster-agent)
      cached_build "$CACHE" "$1-$OPENCHOREO_VERSION" build_openchoreo_command "./cmd/${1#openchoreo-}" ;;
    external-secrets) cached_build "$CACHE" "$1-$EXTERNAL_SECRETS_VERSION" build_external_secrets ;;
    *)
      echo "usage: $0 [NAME...|all|node|argo|planes|eso]; NAME: etcd kube-apiserver openchoreo-api kubelet" \
        "kube-controller-manager kube-scheduler workflow-controller argoexec openchoreo-manager" \
        "openchoreo-cluster-gateway openchoreo-cluster-agent external-secrets" >&2
      exit 2
      ;;
  esac
}

[[ $# -gt 0 ]] || set -- all
for what in "$@"; do
  case "$what" in
    all) names=(etcd kube-apiserver openchoreo-api) ;;
    node) names=(kubelet kube-controller-manager kube-scheduler) ;;
    argo) names=(workflow-controller argoexec) ;;
    planes) names=(openchoreo-manager openchoreo-cluster-gateway openchoreo-cluster-agent) ;;
    eso) names=(external-secrets) ;;
    *) names=("$what") ;;
  esac
  for name in "${names[@]}"; do
    build_one "$name"
  done
done
