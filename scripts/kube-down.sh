#!/usr/bin/env bash
# Stop the test cluster of scripts/kube-up.sh and remove its state (not the binary cache in
# /var/cache/rofs/kube, nor the images in podman). Idempotent. Only processes this cluster
# started are stopped: the pids in $STATE/run, and the containerd shims serving our socket.
# Usage: scripts/kube-down.sh [--keep-state]   (--keep-state: stop everything, keep $STATE)
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/kube-env.sh
. "$repo/scripts/kube-env.sh"
# one kube-up/kube-down at a time
exec 8>/run/rofs-kube.lock
flock 8

pid_of() { local p; p="$(cat "$RUN/$1.pid" 2>/dev/null)" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
stop() { # NAME: TERM, then KILL after 10 s
    local p; p="$(pid_of "$1")" || { rm -f "$RUN/$1.pid"; return 0; }
    log "stopping $1 (pid $p)"
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$p" 2>/dev/null
    rm -f "$RUN/$1.pid"
}

# The controllers first (a ReplicaSet would recreate the pods deleted below), then the pods,
# while the kubelet still runs, so that it tears down their sandboxes (CNI DEL, network
# namespaces, volume mounts) the normal way; bounded.
stop kube-controller-manager
stop kube-scheduler
BIN="$(cat "$STATE_BIN_FILE" 2>/dev/null)"
if [ -n "$BIN" ] && pid_of kubelet >/dev/null && pid_of kube-apiserver >/dev/null; then
    export KUBECONFIG="$STATE/admin.kubeconfig"
    timeout 60 "$BIN/kubectl" delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1
    for _ in $(seq 1 30); do
        [ -z "$(timeout 10 ctr --address "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null)" ] && break
        sleep 1
    done
fi

for c in kubelet kube-apiserver; do stop "$c"; done

# Containers left behind: kill their tasks through containerd, then its shims.
if pid_of containerd >/dev/null; then
    for t in $(timeout 10 ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
        timeout 10 ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1
    done
fi
stop containerd
for p in $(pgrep -f -- "-address $CONTAINERD_SOCK" || true); do
    log "stopping containerd shim (pid $p)"; kill -KILL "$p" 2>/dev/null
done
stop etcd

# Network namespaces of our pods (addresses in our pod CIDR) and the bridge.
prefix="${POD_CIDR%.*}."
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do
    if ip netns exec "$ns" ip -4 addr 2>/dev/null | grep -q "inet $prefix"; then
        ip netns delete "$ns" 2>/dev/null && log "removed netns $ns"
    fi
done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" && log "removed bridge $BRIDGE"
ip -4 addr show dev lo | grep -q " $NODE_IP/" && ip addr del "$NODE_IP/32" dev lo

# Mounts under our directories (kubelet volumes, containerd rootfs/shm), deepest first.
for dir in "$STATE" /run/rofs-kube; do
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
done

if [ "${1:-}" != "--keep-state" ]; then
    rm -rf /run/rofs-kube
    rm -rf "$STATE"
    log "removed $STATE"
fi
log "down"
