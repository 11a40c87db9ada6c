#!/usr/bin/env bash
# rofs on a real single-node Kubernetes cluster (docs/cluster.md), from a fresh Debian machine
# (root) to test results:
#   1. scripts/kube-up.sh           build (cold: 20-30 min) or reuse the binaries, start the cluster
#   2. scripts/build-images.sh      the test images (cached; scripts/test.sh built them already)
#   3. scripts/kube-load-image.sh   the images into the cluster's containerd
#   4. cargo test -p rofs-cluster   in namespaces of their own
#   5. scripts/kube-down.sh         on exit, unless the cluster was already up when this started
#                                   (then it is left running), or ROFS_KUBE_KEEP_UP=1
# CI=true is exported: a test that cannot run fails instead of skipping. Extra arguments go to
# the test binary (e.g. a test name filter). Env: ROFS_CLUSTER_THREADS (default 2).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CI=true
# shellcheck source=scripts/kube-env.sh
. scripts/kube-env.sh

was_up=0
if bin="$(cat "$STATE_BIN_FILE" 2>/dev/null)" && [ -x "$bin/kubectl" ] &&
    timeout 10 "$bin/kubectl" --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz >/dev/null 2>&1; then
    was_up=1
    log "the cluster is already up: it stays up afterwards"
fi
down() {
    local rc=$?
    if [ "$was_up" = 0 ] && [ "${ROFS_KUBE_KEEP_UP:-0}" != 1 ]; then
        scripts/kube-down.sh || true
    fi
    exit $rc
}
trap down EXIT

t0=$(date +%s)
scripts/kube-up.sh >/dev/null
t1=$(date +%s)
scripts/build-images.sh
images=(localhost/rofs:dev localhost/rofs-e2e-nginx:bookworm localhost/rofs-e2e-tomcat:bookworm localhost/rofs-e2e-noshell:dev)
# the catalog images (tests/cluster/tests/catalog.rs): one per tests/e2e/images/<app>/Containerfile
for f in tests/e2e/images/*/Containerfile; do
    a="$(basename "$(dirname "$f")")"
    images+=("localhost/rofs-e2e-$a:bookworm")
done
scripts/kube-load-image.sh "${images[@]}"
t2=$(date +%s)
export KUBECONFIG="$STATE/admin.kubeconfig"
ROFS_KUBECTL="$(cat "$STATE_BIN_FILE")/kubectl"
export ROFS_KUBECTL
cargo test -p rofs-cluster -- --test-threads="${ROFS_CLUSTER_THREADS:-2}" "$@"
t3=$(date +%s)
log "kube-up $((t1 - t0))s, images $((t2 - t1))s, tests $((t3 - t2))s, total $((t3 - t0))s"
