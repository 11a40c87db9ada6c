#!/usr/bin/env bash
# rofs patch throughput vs yq (mikefarah's, the Go one) and `kubectl kustomize`, each making
# an equivalent edit, same machine, same run. Prints wall seconds, user+system CPU, documents/s,
# peak RSS and the tool/rofs time ratio per size, and the machine's load before and after.
#
#   benches/patch/run.sh                        # sizes 1000 2000 5000 10000 20000
#   ROFS_BASELINE=/tmp/rofs-old benches/patch/run.sh   # also another rofs binary (before/after),
#                                                      # named ROFS_BASELINE_NAME in the table
#
# rofs runs twice per size: on every core (the default, `--jobs 0`) and on one (`--jobs 1`,
# the row "rofs -j1"), so the gain of the threads is measured in the same run.
#
# The input is a mixed stream (gen.py): Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
# Pods, Services, ConfigMaps, Secrets, with Helm `# Source:` comments. Files live in /dev/shm
# so disk speed does not matter; every tool reads the file and writes to stdout.
#
# The edit: rofs `-w /tmp:empty -w /var/cache/app` (two emptyDirs and mounts, read-only root,
# its status annotation, on every container of every workload kind). yq: an emptyDir, its mount
# and readOnlyRootFilesystem on every container of every workload kind. kustomize: the same as
# a JSON6902 patch targeted at the Deployments (it has no "every workload kind" target).
# kpt is not a peer: its module does not build from the Go module proxy (a dependency it needs,
# github.com/kptdev/kpt/rollouts, is refused), see docs/performance.md.
#
# yq is built once with `go install` into $ROFS_BENCH_CACHE/yq-<version> (default
# /var/cache/rofs/bench), keyed by version; kustomize is kubectl's.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1000 2000 5000 10000 20000"}
YQ_SIZES=${YQ_SIZES-"1000 2000 5000 10000"}
KUSTOMIZE_SIZES=${KUSTOMIZE_SIZES-"1000 2000"}
YQ_VERSION=v4.54.3
CACHE=${ROFS_BENCH_CACHE:-/var/cache/rofs/bench}
work=$(mktemp -d /dev/shm/rofs-bench-patch.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p rofs-cli
rofs=target/release/rofs
command -v kubectl >/dev/null || { echo "kubectl is required (kustomize)"; exit 1; }
yq="$CACHE/yq-$YQ_VERSION/yq"
if [ ! -x "$yq" ]; then
  command -v go >/dev/null || { echo "go is required to build yq $YQ_VERSION"; exit 1; }
  mkdir -p "$CACHE/yq-$YQ_VERSION"
  echo "building yq $YQ_VERSION into $CACHE/yq-$YQ_VERSION" >&2
  GOBIN="$CACHE/yq-$YQ_VERSION" GOFLAGS=-buildvcs=false \
    go install "github.com/mikefarah/yq/v4@$YQ_VERSION"
fi

# The yq edit: every container of every workload kind.
spec_edit='.volumes += [{"name": "rofs-app-tmp", "emptyDir": {}}] |
  .containers[] |= (.securityContext.readOnlyRootFilesystem = true |
    .volumeMounts += [{"name": "rofs-app-tmp", "mountPath": "/tmp"}])'
yq_expr="with(select(.kind == \"Pod\") | .spec; $spec_edit) |
with(select(.kind == \"Deployment\" or .kind == \"StatefulSet\" or .kind == \"DaemonSet\" or .kind == \"ReplicaSet\" or .kind == \"Job\") | .spec.template.spec; $spec_edit) |
with(select(.kind == \"CronJob\") | .spec.jobTemplate.spec.template.spec; $spec_edit)"

# median (by wall time) of RUNS runs: prints "wall_seconds cpu_seconds peak_rss_kib"
measure() {
  local out=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2>/dev/null
    out+=("$(awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time")")
  done
  printf '%s\n' "${out[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

row() { # docs tool wall cpu rss rofs_wall rofs_cpu
  awk -v n="$1" -v t="$2" -v s="$3" -v c="$4" -v r="$5" -v rs="$6" -v rc="$7" 'BEGIN {
    printf "%-8d %-14s %9.3f %9.2f %10.0f %9.1f %10.0f %8.1f %8.1f\n", n, t, s, c,
      (s > 0 ? n / s : 0), r / 1024, c * 1e6 / n, (rs > 0 ? s / rs : 0), (rc > 0 ? c / rc : 0) }'
}

echo "machine: $(nproc) cores; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "yq $("$yq" --version | awk '{ print $NF }'), $(kubectl version --client 2>/dev/null | grep -i kustomize)"
printf '%-8s %-14s %9s %9s %10s %9s %10s %8s %8s\n' docs tool "wall s" "cpu s" docs/s "rss MiB" "µs cpu/doc" "x wall" "x cpu"
for n in $SIZES; do
  python3 benches/patch/gen.py "$n" > "$work/stream-$n.yaml"
  workload_containers=$(grep -c -E '^kind: (Deployment|StatefulSet|DaemonSet|Job|CronJob|Pod)$' "$work/stream-$n.yaml")
  deployments=$(grep -c '^kind: Deployment$' "$work/stream-$n.yaml")
  read -r secs cpu rss < <(measure "$rofs" patch -w /tmp:empty -w /var/cache/app "$work/stream-$n.yaml")
  # correctness: no document lost, every workload's container read-only
  [ "$(grep -c '^kind: ' "$work/out")" -ge "$n" ] || { echo "rofs lost documents"; exit 1; }
  got=$(grep -c 'readOnlyRootFilesystem: true' "$work/out" || true)
  [ "$got" -ge "$workload_containers" ] || { echo "rofs: $got of $workload_containers containers read-only"; exit 1; }
  row "$n" rofs "$secs" "$cpu" "$rss" "$secs" "$cpu"
  read -r ssecs scpu srss < <(measure "$rofs" patch --jobs 1 -w /tmp:empty -w /var/cache/app "$work/stream-$n.yaml")
  row "$n" "rofs -j1" "$ssecs" "$scpu" "$srss" "$secs" "$cpu"
  if [ -n "${ROFS_BASELINE:-}" ]; then
    read -r bsecs bcpu brss < <(measure "$ROFS_BASELINE" patch -w /tmp:empty -w /var/cache/app "$work/stream-$n.yaml")
    row "$n" "${ROFS_BASELINE_NAME:-rofs baseline}" "$bsecs" "$bcpu" "$brss" "$secs" "$cpu"
  fi
  if [[ " $YQ_SIZES " == *" $n "* ]]; then
    read -r ysecs ycpu yrss < <(measure "$yq" "$yq_expr" "$work/stream-$n.yaml")
    got=$(grep -c 'readOnlyRootFilesystem: true' "$work/out" || true)
    [ "$got" -eq "$workload_containers" ] || { echo "yq made $got of $workload_containers containers read-only"; exit 1; }
    [ "$(grep -c '^kind: ' "$work/out")" -eq "$n" ] || { echo "yq lost documents"; exit 1; }
    row "$n" yq "$ysecs" "$ycpu" "$yrss" "$secs" "$cpu"
  fi
  if [[ " $KUSTOMIZE_SIZES " == *" $n "* ]]; then
    mkdir -p "$work/k-$n"
    cp "$work/stream-$n.yaml" "$work/k-$n/stream.yaml"
    cat > "$work/k-$n/kustomization.yaml" <<'K'
resources: [stream.yaml]
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: add
        path: /spec/template/spec/volumes/-
        value: {name: rofs-app-tmp, emptyDir: {}}
      - op: add
        path: /spec/template/spec/containers/0/volumeMounts/-
        value: {name: rofs-app-tmp, mountPath: /tmp}
      - op: add
        path: /spec/template/spec/containers/0/securityContext
        value: {readOnlyRootFilesystem: true}
K
    read -r ksecs kcpu krss < <(measure kubectl kustomize "$work/k-$n")
    got=$(grep -c 'readOnlyRootFilesystem: true' "$work/out" || true)
    [ "$got" -eq "$deployments" ] || { echo "kustomize patched $got of $deployments Deployments"; exit 1; }
    row "$n" kustomize "$ksecs" "$kcpu" "$krss" "$secs" "$cpu"
  fi
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "x wall, x cpu = the tool's wall time, CPU time / rofs's at the same size (median of $RUNS"
echo "runs by wall time); cpu = user + system; constant µs cpu/doc = linear cost; on a loaded"
echo "machine (load average above the cores) compare CPU, not wall"
