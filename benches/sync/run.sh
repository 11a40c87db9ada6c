#!/usr/bin/env bash
# Side-by-side benchmark of `rofs-agent sync` against the loops people write
# (inotifywait + cp, a 1 s polling loop). Not part of CI (~2 minutes).
#
#   benches/sync/run.sh                      # 1,000 swaps, 60 s idle
#   SWAPS=200 IDLE=10 benches/sync/run.sh    # quick
#
# Builds the shipped agent (profile `agent`, static), needs inotify-tools.
# Work directory: $WORK (default a fresh directory under /dev/shm, like a
# tmpfs-backed volume). See driver.py for what is measured and how.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/dev/shm/rofs-sync-bench}
TARGET=$(rustc -vV | sed -n 's/^host: //p')

command -v inotifywait >/dev/null || {
    echo "needs inotifywait: apt-get install -y inotify-tools" >&2
    exit 1
}
(cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --profile agent -p rofs-agent --target "$TARGET")
AGENT="$ROOT/target/$TARGET/agent/rofs-agent"
echo "agent: $AGENT ($(stat -c %s "$AGENT") bytes), kernel $(uname -r), $(nproc) CPUs"
python3 "$HERE/driver.py" "$AGENT" "$WORK"
rm -rf "$WORK"
