#!/usr/bin/env bash
# Build (or find cached) the real-system tier's binaries, timing it; on failure print ONE clear line and exit 1.
#   scripts/cluster/require-binaries.sh [SET...]   SET: all (gate 1, the default), node (gate 2), argo (gate 3),
#   planes (gate 4), eso (gate 4's External Secrets Operator)
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -gt 0 ]] || set -- all
declare -A WHAT=(
  [all]="gate 1: etcd, kube-apiserver, openchoreo-api"
  [node]="gate 2: kubelet, kube-controller-manager, kube-scheduler"
  [argo]="gate 3: workflow-controller, argoexec"
  [planes]="gate 4: OpenChoreo manager, cluster-gateway, cluster-agent"
  [eso]="gate 4: External Secrets Operator"
)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for set_name in "$@"; do
  echo "== real-system tier, ${WHAT[$set_name]} from the Go module proxy (cached)"
  started=$SECONDS
  if ! bash scripts/cluster/build.sh "$set_name" 2>"$log" >/dev/null; then
    tail -n 30 "$log" >&2
    echo "FAIL: ${WHAT[$set_name]%%:*}: the real-system tier's binaries could not be built (scripts/cluster/build.sh $set_name)" >&2
    exit 1
  fi
  grep '^built ' "$log" >&2 || true
  echo "binaries ready in $((SECONDS - started)) s"
done
