#!/usr/bin/env bash
# Pod start time per app: unpatched (writable root, no rofs) vs `rofs patch`ed (read-only
# root, emptyDirs seeded by the agent), side by side in one run, plus image sizes.
# Real pods under `podman kube play` (tests/e2e harness), NOT part of CI.
#
#   benches/e2e/start-time.sh                  # nginx, tomcat, noshell; median of 5
#   ROFS_BENCH_RUNS=9 ROFS_BENCH_APPS=nginx benches/e2e/start-time.sh
#
# One sample: fresh pod, from before volume creation + `podman kube play` to the first
# HTTP 200 (polled every 50 ms): nginx /rofs-e2e.txt, Tomcat /rofs-e2e.txt (static, i.e.
# "Server startup" done), noshell /. Runs alternate unpatched/patched; one warm-up pair per
# app is not counted. Run it on an idle machine (no other e2e tests): it is single-threaded.
# Prerequisites: scripts/setup-podman.sh && scripts/build-images.sh (or scripts/e2e.sh once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CI=true   # fail, do not skip, when podman or an image is missing
if podman pod ls -q | grep -q .; then
    echo "start-time: warning: other pods are running; numbers will be noisy:" >&2
    podman pod ls >&2
fi
cargo test -q -p rofs-e2e --test e2e -- --ignored --exact start_time::report \
    --nocapture --test-threads=1 2>&1 | grep -v 'dropped annotation'
