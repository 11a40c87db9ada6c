#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit and integration tests (incl. schema validation and
# the front ends through real kubectl/kustomize), then the end-to-end tests on real containers
# (podman), then the tests on a real single-node Kubernetes cluster (scripts/cluster-test.sh).
# Prerequisites: scripts/install-deps.sh (CI runs it; by hand, tests that need a missing tool
# say so and skip).
set -euo pipefail
cd "$(dirname "$0")/.."

# Under CI, a test that needs a missing tool fails instead of skipping.
if [ "${CI:-}" = "true" ]; then export ROFS_REQUIRE_TOOLS=1; fi

echo "== unit and integration tests"
cargo test --locked   # the default members: everything but tests/e2e and tests/cluster, which run below

if [ -x scripts/e2e.sh ]; then
  echo "== end-to-end tests (podman)"
  scripts/e2e.sh
fi

if [ -x scripts/cluster-test.sh ]; then
  echo "== tests on a real Kubernetes cluster (scripts/kube-up.sh)"
  scripts/cluster-test.sh
fi
