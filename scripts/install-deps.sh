#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in podman runc debootstrap busybox-static attr rsync; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  pip install -q kubernetes-validate
fi
# A real Helm engine (Helm v4 as a library) to render and lint the webhook chart: no helm
# binary can be installed on these machines.
python3 -c 'import helm_python' 2>/dev/null || pip install -q helm-python-sdk
command -v kubectl >/dev/null || { echo "kubectl is missing (the front-end tests run it)"; exit 1; }
