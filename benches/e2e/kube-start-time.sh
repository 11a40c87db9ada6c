#!/usr/bin/env bash
# Pod start time per app on the real kubelet of the test cluster: unpatched (writable root,
# no rofs) vs `rofs patch`ed (read-only root, seeded), median of ROFS_BENCH_RUNS (default 5),
# alternating, one warm-up pair per app not counted. NOT part of CI.
#
#   scripts/kube-up.sh && scripts/build-images.sh && scripts/kube-load-image.sh \
#       localhost/rofs:dev localhost/rofs-e2e-nginx:bookworm localhost/rofs-e2e-tomcat:bookworm \
#       localhost/rofs-e2e-noshell:dev
#   benches/e2e/kube-start-time.sh
#   ROFS_BENCH_RUNS=9 ROFS_BENCH_APPS=nginx benches/e2e/kube-start-time.sh
#
# One sample: from `kubectl create` to the first HTTP 200 at the pod IP (tests/cluster/tests/
# start_time.rs). The podman figures: benches/e2e/start-time.sh, examples/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CI=true
state="${ROFS_KUBE_STATE:-/var/lib/rofs-kube}"
export KUBECONFIG="$state/admin.kubeconfig" ROFS_KUBECTL="$(cat "$state/bin-dir")/kubectl"
cargo test -q -p rofs-cluster --test cluster -- --ignored --exact start_time::report \
    --nocapture --test-threads=1
