#!/usr/bin/env bash
# Idempotent host set-up for tests and benchmarks: system tools, a running Docker engine (host networking only).
# Safe to run repeatedly; does nothing that is already done.
set -euo pipefail

PACKAGES=(docker.io buildah skopeo docker-registry git debootstrap apache2-utils podman openssl openssh-server openssh-client busybox-static libnss-wrapper)
# `kubectl kustomize` for the kustomize test: Debian's kubernetes-client, unless a kubectl is already installed
# (another package owning /usr/bin/kubectl would make the install fail on the file conflict).
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's 20.10 CLI matches the engine's API; the machine may carry a newer client first on PATH.
if ! /usr/bin/docker version >/dev/null 2>&1; then
  echo "setup-host: starting dockerd (no bridge, no iptables: containers use host networking)"
  mkdir -p /var/log
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/dockerd-pack.log 2>&1 &
  for _ in $(seq 1 60); do
    /usr/bin/docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  /usr/bin/docker version >/dev/null 2>&1 || { echo "setup-host: dockerd did not start"; tail -20 /var/log/dockerd-pack.log; exit 1; }
fi
echo "setup-host: docker engine $(/usr/bin/docker version --format '{{.Server.Version}}') ready"
