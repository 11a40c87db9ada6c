#!/usr/bin/env bash
# Bounded fuzzing of the parser + rewrite (fuzz/fuzz_targets/patch.rs): no panic on any input,
# and rofs's output patched again is unchanged. Runs for FUZZ_SECONDS (default 60) from the
# committed seeds. The toolchain here is stable, so nightly-only flags are enabled with
# RUSTC_BOOTSTRAP=1 (the same compiler; cargo-fuzz needs -Zsanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -q
mkdir -p fuzz/corpus/patch
cp -n fuzz/seeds/patch/* fuzz/corpus/patch/ 2>/dev/null || true
# The real-world corpus beside the repository (shared/corpus/realworld, or $ROFS_CORPUS): its
# manifests and every YAML test suite case (valid and invalid) are seeds too.
corpus=${ROFS_CORPUS:-../shared/corpus/realworld}
if [ -d "$corpus" ]; then
    for f in "$corpus"/*.yaml "$corpus"/*.json; do
        [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && cp -n "$f" "fuzz/corpus/patch/realworld-$(basename "$f")"
    done
    for d in "$corpus"/yaml-test-suite/*/; do
        cp -n "$d/in.yaml" "fuzz/corpus/patch/yts-$(basename "$d").yaml"
    done
elif [ "${CI:-}" = true ]; then
    echo "fuzz-smoke: the real-world corpus is missing ($corpus)" >&2
    exit 1
fi
RUSTC_BOOTSTRAP=1 cargo fuzz run patch fuzz/corpus/patch -- \
  -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 | tail -n 25
