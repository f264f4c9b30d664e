#!/usr/bin/env bash
# Host packages of the real node (issue 12, gates 2-3), installed if missing; idempotent. Debian's containerd and
# runc run as a private second containerd instance started by testkit/real_node.py (Docker's engine and its
# containerd are never touched); catatonit is the sandbox ("pause") image; busybox-static the test pods' image.
set -euo pipefail
PACKAGES=(containerd runc containernetworking-plugins catatonit busybox-static media-types)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "node-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
