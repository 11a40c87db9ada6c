#!/usr/bin/env bash
# Side-by-side benchmark of `rofs-agent sync` against the loops people write
# (inotifywait + cp, a 1 s polling loop) and against the agent of an earlier
# revision (PEER_REV: the sync before issue 14's work). Not part of CI
# (~3 minutes). Results go to docs/performance.md#sync.
#
#   benches/sync/run.sh                      # 1,000 swaps, 60 s idle
#   SWAPS=200 IDLE=10 benches/sync/run.sh    # quick
#
# Builds the shipped agent (profile `agent`, static), of this tree and of
# PEER_REV (default b05894c; PEER_REV= to skip it). Needs inotify-tools
# (installed with apt-get when missing and run as root) and strace for the
# system call counts (optional). Work directory: $WORK (default a fresh
# directory under /dev/shm, like a tmpfs-backed volume). See driver.py for
# what is measured and how.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/dev/shm/rofs-sync-bench}
PEER_REV=${PEER_REV-b05894c}
TARGET=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_INCREMENTAL=0

if ! command -v inotifywait >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing inotify-tools (the inotifywait peer)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq inotify-tools >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq inotify-tools >/dev/null; }
    else
        echo "needs inotifywait: apt-get install -y inotify-tools" >&2
        exit 1
    fi
fi
build() { # tree, target directory -> the agent binary, copied to $3
    # Each tree has its own target directory: cargo records a path crate's
    # sources relative to the crate, so a tree built into a target directory
    # that an older tree of the same crates was just built into is taken as
    # up to date when its files are older than that build (the peer's binary
    # was measured as this tree's on 2026-11-30).
    (cd "$1" && RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --quiet --profile agent -p rofs-agent --target "$TARGET" --target-dir "$2")
    cp "$2/$TARGET/agent/rofs-agent" "$3"
}
bins=$(mktemp -d)
trap 'rm -rf "$bins" "$WORK"' EXIT
BEFORE=()
if [ -n "$PEER_REV" ]; then
    # Kept in target/ per revision: later runs start at once.
    peer_bin="$ROOT/target/bench-peer/rofs-agent-$(git -C "$ROOT" rev-parse --short "$PEER_REV")"
    if [ ! -x "$peer_bin" ]; then
        mkdir -p "$bins/peer" "$(dirname "$peer_bin")"
        git -C "$ROOT" archive "$PEER_REV" | tar -x -C "$bins/peer"
        build "$bins/peer" "$ROOT/target/bench-peer/build" "$peer_bin"
        rm -rf "$bins/peer"
    fi
    BEFORE=("$peer_bin")
fi
build "$ROOT" "$ROOT/target" "$bins/rofs-agent"
AGENT="$bins/rofs-agent"
echo "agent: $(stat -c %s "$AGENT") bytes, kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/driver.py" "$AGENT" "$WORK" "${BEFORE[@]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
