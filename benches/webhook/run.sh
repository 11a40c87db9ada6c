#!/usr/bin/env bash
# Benchmark `rofs webhook` on loopback TLS with keep-alive. Not part of CI (timings are not
# assertions); results are recorded in docs/webhook.md#benchmark.
#
#   benches/webhook/run.sh            fixed rates (oha) and max throughput (oha and wrk)
#
# Each request is a whole AdmissionReview (crates/webhook/tests/data/deployment-pod.json: a
# Deployment's pod, nginx profile) that the webhook patches: the full path, TLS + HTTP + JSON
# parse + rewrite + diff + base64 + JSON out. The server logs one line per patched pod as in
# production (--log-level info, to /dev/null).
#
# Needs: oha (`cargo install oha --locked`), wrk (`apt-get install wrk`), python3.
# Env: DURATION (seconds per run, default 15), RATES (default "1000 2000"), CONNS (default 16),
#      PIN=1 to pin the server to CPU 0 and the load generator to CPU 1.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
DURATION=${DURATION:-15}
RATES=${RATES:-1000 2000}
CONNS=${CONNS:-16}
PORT=${PORT:-18443}
for tool in oha wrk python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (see the header)" >&2; exit 1; }
done

cargo build --release -q -p rofs-cli
rofs="$repo/target/release/rofs"
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$rofs" webhook certs --out "$work/certs" --service rofs-webhook --namespace rofs-system >/dev/null 2>&1
body="$repo/crates/webhook/tests/data/deployment-pod.json"
export ROFS_BENCH_BODY="$body"

srv_pin=(); gen_pin=()
if [ "${PIN:-0}" = 1 ]; then srv_pin=(taskset -c 0); gen_pin=(taskset -c 1); fi
"${srv_pin[@]}" "$rofs" webhook --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
    --listen "127.0.0.1:$PORT" --log-level info 2>/dev/null &
server=$!
for _ in $(seq 50); do
    curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
url="https://127.0.0.1:$PORT/mutate"
rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%.1f / %.1f", r/1024, h/1024}' "/proc/$server/status"; }
echo "rofs webhook $("$rofs" --version | cut -d' ' -f2), $(nproc) CPUs, body $(wc -c <"$body") bytes, ${DURATION}s per run, $CONNS connections"
echo "idle RSS / peak (MiB): $(rss)"

oha_run() { # label, extra oha args...
    local label="$1"; shift
    "${gen_pin[@]}" oha --no-tui --insecure -z "${DURATION}s" -c "$CONNS" -m POST \
        -T application/json -D "$body" --output-format json "$@" "$url" >"$work/oha.json"
    python3 - "$label" "$work/oha.json" "$(rss)" <<'PY'
import json, sys
label, path, rss = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ms = lambda v: f"{v * 1000:.3f}"
print(f"| {label} | {s['requestsPerSec']:.0f} | {ms(p['p50'])} | {ms(p['p99'])} | {ms(p['p99.9'])} | {rss} | {codes} |")
PY
}

echo
echo "| load (oha) | achieved req/s | p50 ms | p99 ms | p99.9 ms | RSS / peak MiB | status codes |"
echo "|---|---|---|---|---|---|---|"
for rate in $RATES; do
    oha_run "fixed $rate/s" -q "$rate" --latency-correction
done
oha_run "max" 
echo
echo "wrk (max, 2 threads, $CONNS connections):"
"${gen_pin[@]}" wrk -t2 -c "$CONNS" -d "${DURATION}s" --latency -s "$repo/benches/webhook/post.lua" "$url" \
    | grep -E "Requests/sec|50%|99%|Latency|non-200"
echo "RSS / peak after all runs (MiB): $(rss)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the tails)"
# Server-side time (request received -> response ready), from the server's own histogram: the
# part of the latency that is rofs's, without the load generator and the scheduler queueing.
curl -sk "https://127.0.0.1:$PORT/metrics" | python3 -c '
import re, sys
b, n, s = {}, 0, 0.0
for l in sys.stdin:
    m = re.match(r"rofs_webhook_review_duration_seconds_bucket\{le=\"([^\"]+)\"\} (\d+)", l)
    if m: b[m.group(1)] = int(m.group(2))
    if l.startswith("rofs_webhook_review_duration_seconds_count"): n = int(l.split()[1])
    if l.startswith("rofs_webhook_review_duration_seconds_sum"): s = float(l.split()[1])
print(f"server-side: {n} reviews, mean {s / n * 1e6:.0f} us; " + ", ".join(
    f"<= {float(k) * 1000:g} ms: {v / n:.2%}" for k, v in b.items() if k != "+Inf" and float(k) <= 0.01))
'
