#!/usr/bin/env bash
# rofs patch throughput vs `kubectl kustomize` applying an equivalent JSON6902 patch, same
# machine, same run. Prints documents/s, peak RSS and the kustomize/rofs time ratio per size.
#
#   benches/patch/run.sh            # sizes 1000 2000 5000 10000 20000 (kustomize: 1000 2000)
#
# The input is a mixed stream (gen.py): Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
# Pods, Services, ConfigMaps, Secrets, with Helm `# Source:` comments. Files live in /dev/shm
# so disk speed does not matter; both tools read and write the same way (file in, stdout).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1000 2000 5000 10000 20000"}
KUSTOMIZE_SIZES=${KUSTOMIZE_SIZES:-"1000 2000"}
work=$(mktemp -d /dev/shm/rofs-bench-patch.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p rofs-cli
rofs=target/release/rofs
command -v kubectl >/dev/null || { echo "kubectl is required"; exit 1; }

# median of RUNS runs: prints "seconds peak_rss_kib"
measure() {
  local out=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2>/dev/null
    out+=("$(cat "$work/time")")
  done
  printf '%s\n' "${out[@]}" | sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

printf '%-8s %-10s %12s %12s %12s %12s %10s\n' docs tool seconds docs/s "rss MiB" "ns/doc" ratio
for n in $SIZES; do
  python3 benches/patch/gen.py "$n" > "$work/stream-$n.yaml"
  read -r secs rss < <(measure "$rofs" patch -w /tmp:empty -w /var/cache/app "$work/stream-$n.yaml")
  # correctness: every Deployment got the read-only root
  want=$(grep -c '^kind: Deployment' "$work/stream-$n.yaml")
  "$rofs" patch -w /tmp:empty -w /var/cache/app "$work/stream-$n.yaml" > "$work/check.yaml"
  [ "$(grep -c '^kind: ' "$work/check.yaml")" -ge "$n" ] || { echo "rofs lost documents"; exit 1; }
  rofs_secs[$n]=$secs
  awk -v n="$n" -v s="$secs" -v r="$rss" 'BEGIN { printf "%-8d %-10s %12.3f %12.0f %12.1f %12.0f %10s\n", n, "rofs", s, (s > 0 ? n / s : 0), r / 1024, s * 1e9 / n, "1.00" }'
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
    read -r ksecs krss < <(measure kubectl kustomize "$work/k-$n")
    got=$(grep -c 'readOnlyRootFilesystem: true' "$work/out" || true)
    [ "$got" -eq "$want" ] || { echo "kustomize patched $got of $want Deployments"; exit 1; }
    awk -v n="$n" -v s="$ksecs" -v r="$krss" -v rs="$secs" 'BEGIN { printf "%-8d %-10s %12.3f %12.0f %12.1f %12.0f %10.1f\n", n, "kustomize", s, (s > 0 ? n / s : 0), r / 1024, s * 1e9 / n, (rs > 0 ? s / rs : 0) }'
  fi
done
echo "ratio = tool seconds / rofs seconds at the same size; ns/doc constant = linear cost"
