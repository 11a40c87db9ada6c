#!/usr/bin/env bash
# Benchmark `rofs webhook` on loopback TLS with keep-alive, this tree against a peer build of an
# earlier revision (the webhook before issue 14's work), one after the other in the same run.
# Not part of CI (timings are not assertions); results go to docs/performance.md#webhook.
#
#   benches/webhook/run.sh
#
# Each request is a whole AdmissionReview that the webhook patches: the full path, TLS + HTTP +
# JSON parse + rewrite + diff + base64 + JSON out. The pod (crates/webhook/tests/data/
# realistic-pod.json, sent compact as the API server does: ~6 KB, the pod ~5 KB) is a
# Deployment's as the API server sends it: defaulted fields, the ServiceAccount token volume in
# every container, two containers and an initContainer, annotations. The server logs one line
# per patched pod as in production (--log-level info, to /dev/null).
#
# Per server:
# - max throughput: wrk (2 threads, $CONNS connections) and the load example (crates/webhook/
#   examples/load.rs, closed loop, $CONNS connections);
# - latency at $RATE/s: the load example in open loop (latency from each request's due time:
#   no coordinated omission), $RATE_CONNS connections;
# - CPU per review (the server's utime+stime over the reviews it answered), RSS and peak RSS.
# The load generators run on the same machine (2 CPUs shared with whatever else runs: the load
# average is printed, and skews everything).
#
# Needs: wrk (`apt-get install wrk`), python3, git. Env: DURATION (seconds per run, default
# 15), RATE (default 1000), RATE_CONNS (default 4), CONNS (default 16), PEER_REV (default
# b05894c, the webhook before issue 14), BODY (an AdmissionReview file).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
DURATION=${DURATION:-15}
RATE=${RATE:-1000}
RATE_CONNS=${RATE_CONNS:-4}
CONNS=${CONNS:-16}
PORT=${PORT:-18443}
PEER_REV=${PEER_REV:-b05894c}
BODY=${BODY:-$repo/crates/webhook/tests/data/realistic-pod.json}
export CARGO_INCREMENTAL=0
for tool in wrk python3 git; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (see the header)" >&2; exit 1; }
done

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The peer: the tree at PEER_REV, built into a target directory of its own (cargo records a
# path crate's sources relative to the crate: after an older tree's build into the same
# directory, this tree's older files would look up to date) and its binary copied aside.
# Kept in target/ per revision: later runs start at once.
echo "building the peer ($PEER_REV) and this tree..." >&2
peer_bin="$repo/target/bench-peer/rofs-$(git rev-parse --short "$PEER_REV")"
if [ ! -x "$peer_bin" ]; then
    mkdir -p "$work/peer" "$(dirname "$peer_bin")"
    git archive "$PEER_REV" | tar -x -C "$work/peer"
    (cd "$work/peer" && cargo build --release -q -p rofs-cli --target-dir "$repo/target/bench-peer/build")
    cp "$repo/target/bench-peer/build/release/rofs" "$peer_bin"
    rm -rf "$work/peer"
fi
cp "$peer_bin" "$work/rofs-peer"
cargo build --release -q -p rofs-cli
cargo build --release -q -p rofs-webhook --example load
cp "$repo/target/release/rofs" "$work/rofs-this"
load="$repo/target/release/examples/load"

"$work/rofs-this" webhook certs --out "$work/certs" --service rofs-webhook --namespace rofs-system >/dev/null 2>&1
python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), separators=(",", ":"))' \
    "$BODY" "$work/body.json"
export ROFS_BENCH_BODY="$work/body.json"
url="https://127.0.0.1:$PORT/mutate"

start() { # binary
    "$1" webhook --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
        --listen "127.0.0.1:$PORT" --log-level info 2>/dev/null &
    server=$!
    pids+=("$server")
    for _ in $(seq 100); do
        curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "run.sh: the server did not start" >&2
    exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
reviews() { curl -sk "https://127.0.0.1:$PORT/metrics" | awk '/^rofs_webhook_review_duration_seconds_count/ {print $2}'; }
mib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }

results="$work/results"
: >"$results"
for label in peer this; do
    start "$work/rofs-$label"
    idle=$(mib VmRSS)
    t0=$(cpu_ticks); n0=$(reviews)
    wrk_rps=$(wrk -t2 -c "$CONNS" -d "${DURATION}s" -s "$repo/benches/webhook/post.lua" "$url" \
        | tee "$work/wrk-$label.txt" | awk '/Requests\/sec/ {print $2}')
    bad=$(awk '/non-200/ {print $NF}' "$work/wrk-$label.txt")
    t1=$(cpu_ticks); n1=$(reviews)
    max=$("$load" "127.0.0.1:$PORT" "$work/certs/ca.crt" "$work/body.json" 0 "$CONNS" "$DURATION")
    at_rate=$("$load" "127.0.0.1:$PORT" "$work/certs/ca.crt" "$work/body.json" "$RATE" "$RATE_CONNS" "$DURATION")
    cpu_us=$(python3 -c "import os; print(round(($t1 - $t0) / os.sysconf('SC_CLK_TCK') / max(1, $n1 - $n0) * 1e6))")
    echo "$label|$wrk_rps|$bad|$max|$at_rate|$cpu_us|$idle|$(mib VmRSS)|$(mib VmHWM)" >>"$results"
    stop
done

python3 - "$results" "$RATE" "$DURATION" "$CONNS" "$RATE_CONNS" "$PEER_REV" "$(wc -c <"$work/body.json")" <<'PY'
import json, os, sys
path, rate, duration, conns, rate_conns, peer, size = sys.argv[1:]
rows = {}
for line in open(path):
    label, wrk, bad, mx, at, cpu, idle, rss, hwm = line.rstrip("\n").split("|")
    rows[label] = dict(wrk=float(wrk), bad=bad, max=json.loads(mx), at=json.loads(at),
                       cpu=float(cpu), idle=idle, rss=rss, hwm=hwm)
print(f"body {size} bytes, {duration} s per run, {os.cpu_count()} CPUs, load average "
      f"{open('/proc/loadavg').read().split()[:3]} (other work on the machine skews everything)")
print()
print(f"| webhook | wrk req/s ({conns} conns) | load req/s max | CPU µs/review | "
      f"p50 / p99 / p99.9 ms at {rate}/s | service p99 ms | errors | RSS idle / after / peak MiB |")
print("|---|---|---|---|---|---|---|---|")
for label, name in (("peer", f"before ({peer})"), ("this", "this tree")):
    r = rows[label]
    a = r["at"]
    l = a["latency_us"]
    print(f"| {name} | {r['wrk']:.0f} | {r['max']['achieved']:.0f} | {r['cpu']:.0f} | "
          f"{l['p50']/1000:.3f} / {l['p99']/1000:.3f} / {l['p99.9']/1000:.3f} "
          f"({a['achieved']:.0f}/s achieved) | {a['service_us']['p99']/1000:.3f} | "
          f"wrk {r['bad']}, load {r['max']['errors'] + a['errors']} | {r['idle']} / {r['rss']} / {r['hwm']} |")
p, t = rows["peer"], rows["this"]
print()
print(f"ratios this/before: wrk throughput x{t['wrk'] / p['wrk']:.2f}, "
      f"load-example throughput x{t['max']['achieved'] / p['max']['achieved']:.2f}, "
      f"CPU per review x{t['cpu'] / p['cpu']:.2f}, "
      f"p99 at {rate}/s x{t['at']['latency_us']['p99'] / max(1, p['at']['latency_us']['p99']):.2f}")
PY
