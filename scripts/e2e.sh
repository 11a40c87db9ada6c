#!/usr/bin/env bash
# rofs end-to-end suite, from a fresh Debian 12 machine (root) to test results:
#   1. scripts/setup-podman.sh   installs + configures podman, proves it runs a container
#   2. scripts/setup-docker.sh   installs docker.io, starts dockerd (for `discover --engine docker`)
#   3. scripts/build-images.sh   static rofs binaries, rofs image, app images (cached)
#   4. cargo test -p rofs-e2e    real pods under `podman kube play`; discover under podman and docker
# CI=true is exported: a test that cannot run (no podman, missing image) fails instead
# of skipping. Extra arguments go to the test binary (e.g. a test name filter).
# Env: ROFS_E2E_THREADS (default 2), plus those of the three scripts.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CI=true
log() { printf '[e2e] %s\n' "$*" >&2; }

t0=$(date +%s)
scripts/setup-podman.sh
t1=$(date +%s)
scripts/setup-docker.sh   # after podman: its smoke test copies podman's busybox image
t1d=$(date +%s)
scripts/build-images.sh
t2=$(date +%s)

threads="${ROFS_E2E_THREADS:-2}"
if cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q '"name":"rofs-e2e"'; then
    cargo test -p rofs-e2e -- --test-threads="$threads" "$@"
else
    # tests/e2e is not (yet) a workspace member: build it as its own workspace from a
    # shadow manifest, sharing the workspace's target dir.
    log "rofs-e2e is not a workspace member: running it from a shadow manifest"
    shadow="$repo/target/rofs-e2e-shadow"
    mkdir -p "$shadow"
    ln -sfn "$repo/tests/e2e/src" "$shadow/src"
    ln -sfn "$repo/tests/e2e/tests" "$shadow/tests"
    { cat tests/e2e/Cargo.toml; printf '\n[workspace]\n'; } > "$shadow/Cargo.toml"
    ROFS_WORKSPACE_ROOT="$repo" CARGO_TARGET_DIR="$repo/target" \
        cargo test --manifest-path "$shadow/Cargo.toml" -- --test-threads="$threads" "$@"
fi
t3=$(date +%s)
log "setup-podman $((t1 - t0))s, setup-docker $((t1d - t1))s, build-images $((t2 - t1d))s, tests $((t3 - t2))s, total $((t3 - t0))s"
