#!/usr/bin/env bash
# rofs audit vs checkov (CKV_K8S_22, the read-only root filesystem check) on the same generated
# streams, side by side in one run: wall and CPU time, peak RSS, ratios, the machine's load, and
# the containers each one flags compared (compare.py: every difference counted with its reason).
#
#   benches/audit/run.sh                  # 1,000 and 10,000 documents
#   SIZES="1000" RUNS=3 benches/audit/run.sh
#
# checkov is installed once from PyPI into a virtualenv at $ROFS_BENCH_CACHE/checkov-<version>
# (default /var/cache/rofs/bench), keyed by version; it runs with --skip-download (it would
# otherwise try to fetch its guidelines from its vendor's API).
# kube-linter is not a peer: the Go module proxy refuses it (golang.stackrox.io/kube-linter and
# github.com/stackrox/kube-linter, the list and an exact version: 403), see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1}
SIZES=${SIZES:-"1000 10000"}
CHECKOV_VERSION=3.3.30
CACHE=${ROFS_BENCH_CACHE:-/var/cache/rofs/bench}
work=$(mktemp -d /dev/shm/rofs-bench-audit.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p rofs-cli
rofs=target/release/rofs
venv="$CACHE/checkov-$CHECKOV_VERSION"
if [ ! -x "$venv/bin/checkov" ]; then
  echo "installing checkov $CHECKOV_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "checkov==$CHECKOV_VERSION"
fi
checkov="$venv/bin/checkov"

# median (by wall time) of RUNS runs: prints "wall_seconds cpu_seconds peak_rss_kib";
# the last run's stdout is in $work/out (both tools exit 1 when they find something)
measure() {
  local out=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2>"$work/err" || true
    grep -q '^Command exited with non-zero status' "$work/time" && sed -i 1d "$work/time"
    out+=("$(awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time")")
  done
  printf '%s\n' "${out[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

row() { # docs tool wall cpu rss rofs_wall rofs_cpu
  awk -v n="$1" -v t="$2" -v s="$3" -v c="$4" -v r="$5" -v rs="$6" -v rc="$7" 'BEGIN {
    printf "%-8d %-10s %9.3f %9.2f %10.0f %9.1f %10.0f %8.1f %8.1f\n", n, t, s, c,
      (s > 0 ? n / s : 0), r / 1024, c * 1e6 / n, (rs > 0 ? s / rs : 0), (rc > 0 ? c / rc : 0) }'
}

echo "machine: $(nproc) cores; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "checkov $("$checkov" --version)"
for n in $SIZES; do
  python3 benches/audit/gen.py "$n" > "$work/stream-$n.yaml"
  printf '%-8s %-10s %9s %9s %10s %9s %10s %8s %8s\n' docs tool "wall s" "cpu s" docs/s "rss MiB" "µs cpu/doc" "x wall" "x cpu"
  read -r secs cpu rss < <(measure "$rofs" audit --format json "$work/stream-$n.yaml")
  cp "$work/out" "$work/rofs-$n.json"
  row "$n" rofs "$secs" "$cpu" "$rss" "$secs" "$cpu"
  read -r csecs ccpu crss < <(measure "$checkov" -f "$work/stream-$n.yaml" --framework kubernetes \
    --check CKV_K8S_22 -o json --quiet --skip-download)
  cp "$work/out" "$work/checkov-$n.json"
  row "$n" checkov "$csecs" "$ccpu" "$crss" "$secs" "$cpu"
  "$venv/bin/python" benches/audit/compare.py "$work/stream-$n.yaml" "$work/rofs-$n.json" "$work/checkov-$n.json"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "x wall, x cpu = checkov's wall time, CPU time / rofs's at the same size (median of $RUNS runs"
echo "by wall time); cpu = user + system; on a loaded machine compare CPU, not wall"
