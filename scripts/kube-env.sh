# Shared settings of the test cluster (sourced by scripts/kube-*.sh; see docs/cluster.md).
# shellcheck shell=bash
STATE="${ROFS_KUBE_STATE:-/var/lib/rofs-kube}"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
STATE_BIN_FILE="$STATE/bin-dir"
# containerd 2, built by scripts/kube-build.sh: its containerd, shim and ctr come first on PATH
# (Debian's are 1.6).
CONTAINERD_BIN_FILE="$STATE/containerd-bin-dir"
if [ -s "$CONTAINERD_BIN_FILE" ]; then PATH="$(cat "$CONTAINERD_BIN_FILE"):$PATH"; fi
CONTAINERD_STATE=/run/rofs-kube/containerd
CONTAINERD_SOCK=/run/rofs-kube/containerd.sock
NODE_NAME=rofs-node
NODE_IP=10.223.0.1
POD_CIDR=10.222.0.0/24
BRIDGE=rofs-kube0
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
ETCD_PORT=2379
ETCD_PEER_PORT=2380
ETCD_METRICS_PORT=2381
APISERVER_PORT=6443
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259
KUBELET_HEALTHZ_PORT=10248
PAUSE_IMAGE=localhost/rofs-pause:catatonit
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }
