#!/usr/bin/env bash
# cargo-fuzz on the webhook's review handler, bounded: FUZZ_SECONDS (default 60), seeded with
# the AdmissionReview fixtures of crates/webhook/tests/data. The toolchain here is stable, so
# nightly-only flags are enabled with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Zsanitizer).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -q
mkdir -p corpus/review
cp -n ../tests/data/*.json corpus/review/ 2>/dev/null || true
RUSTC_BOOTSTRAP=1 cargo fuzz run review corpus/review -- \
  -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 | tail -n 25
