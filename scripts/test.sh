#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit and integration tests (incl. schema validation and
# the front ends through real kubectl/kustomize), then the end-to-end tests on real containers
# (podman, and docker for `rofs discover --engine docker`), then the tests on a real single-node
# Kubernetes cluster (scripts/cluster-test.sh).
# Prerequisites: scripts/install-deps.sh (CI runs it; by hand, tests that need a missing tool
# say so and skip).
set -euo pipefail
cd "$(dirname "$0")/.."

# Under CI, a test that needs a missing tool fails instead of skipping.
if [ "${CI:-}" = "true" ]; then export ROFS_REQUIRE_TOOLS=1; fi

# wait_bg JOB: .ci/run starts slow IO-bound jobs in the background (ROFS_CI_BG: a dir with
# JOB.log, and JOB.rc once done); wait for JOB before the step that needs it, fail with its log.
wait_bg() {
  [ -n "${ROFS_CI_BG:-}" ] && [ -f "$ROFS_CI_BG/$1.log" ] || return 0
  echo "== waiting for $1 (started in the background by .ci/run)"
  while [ ! -f "$ROFS_CI_BG/$1.rc" ]; do sleep 5; done
  if [ "$(cat "$ROFS_CI_BG/$1.rc")" != 0 ]; then
    tail -n 40 "$ROFS_CI_BG/$1.log"
    echo "ERROR: $1 failed (log above: $ROFS_CI_BG/$1.log)"
    exit 1
  fi
  tail -n 3 "$ROFS_CI_BG/$1.log"
}

echo "== unit and integration tests"
cargo test --locked   # the default members: everything but tests/e2e and tests/cluster, which run below

if [ -x scripts/e2e.sh ]; then
  wait_bg images
  echo "== end-to-end tests (podman; docker for discover: scripts/e2e.sh runs setup-docker.sh)"
  scripts/e2e.sh
fi

if [ -x scripts/cluster-test.sh ]; then
  wait_bg kube-build
  echo "== tests on a real Kubernetes cluster (scripts/kube-up.sh)"
  scripts/cluster-test.sh
fi
