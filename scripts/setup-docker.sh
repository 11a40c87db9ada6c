#!/usr/bin/env bash
# Install and start Debian's docker for the e2e tests of `rofs discover --engine docker`.
# Idempotent (a second run only checks).
#
#  - apt-get installs docker.io (only if missing; from the machine's own apt sources), with
#    service starts refused while it installs (there is no systemd here: this script starts the
#    daemon itself)
#  - starts dockerd in the background if `docker version` does not answer:
#      data root   /var/lib/docker     socket /run/docker.sock (docker's default: plain `docker`
#      pidfile     /run/docker.pid     commands reach it)
#      log         /var/log/rofs-dockerd.log
#    with its own supervised containerd (under /run/docker/containerd) unless a system containerd
#    answers on /run/containerd/containerd.sock. The test cluster's containerd
#    (/run/rofs-kube/containerd.sock, /var/lib/rofs-kube; scripts/kube-env.sh) is never touched.
#    --iptables=false: docker adds no firewall rules (podman's netavark and the test cluster's CNI
#    keep theirs; published ports still work on 127.0.0.1 through docker-proxy);
#    --ip-forward=false: it leaves the forwarding sysctl (and so the FORWARD policy) alone;
#    --oom-score-adjust 0: root here lacks CAP_SYS_RESOURCE and cannot lower a score.
#  - waits until `docker version` answers (else: error with the log tail).
#
# No registry is reachable: tests copy images in from podman (`podman save IMAGE | docker load`).
# Env: ROFS_E2E_SKIP_APT=1 skips the apt step; ROFS_DOCKER_TIMEOUT (default 60 s) for the start.
#
# `setup-docker.sh --stop`: stops the dockerd this script started (its pid is in
# /run/rofs-dockerd.started), and nothing else: a daemon that answered already (a system
# service, another run's) is left alone. .ci/run calls it on exit.
set -euo pipefail

log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { printf '[setup-docker] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (dockerd runs rootful)"

DATA_ROOT=/var/lib/docker
PIDFILE=/run/docker.pid
STARTED=/run/rofs-dockerd.started
LOG=/var/log/rofs-dockerd.log
SYSTEM_CONTAINERD=/run/containerd/containerd.sock
timeout_s="${ROFS_DOCKER_TIMEOUT:-60}"
# Debian's client: /usr/local/bin may hold another docker (a newer static client, or a wrapper).
DOCKER=/usr/bin/docker

if [ "${1:-}" = --stop ]; then
    [ -s "$STARTED" ] || exit 0
    pid="$(cat "$STARTED")"
    rm -f "$STARTED"
    # Only the daemon started here: the pid must still be a dockerd.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || exit 0
    log "stopping dockerd (pid $pid), started by this script"
    kill -TERM "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.5
    done
    log "dockerd (pid $pid) still runs 30 s after SIGTERM: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    exit 0
fi

# 1. package ------------------------------------------------------------------
if dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'install ok installed'; then
    log "package present: docker.io"
else
    [ "${ROFS_E2E_SKIP_APT:-0}" = 1 ] && die "missing package: docker.io (and ROFS_E2E_SKIP_APT=1)"
    log "installing: docker.io"
    # Its postinst would start the sysv service (default flags, firewall rules): refuse it.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
[ -x "$DOCKER" ] || die "$DOCKER missing after installing docker.io"
command -v dockerd >/dev/null || die "dockerd missing after installing docker.io"

# 2. daemon -------------------------------------------------------------------
answers() { timeout 10 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if answers; then
    log "dockerd already answers"
else
    if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        die "dockerd (pid $(cat "$PIDFILE")) runs but does not answer; log tail:
$(tail -n 30 "$LOG" 2>/dev/null)"
    fi
    rm -f "$PIDFILE"   # stale: its process is gone
    if [ -S "$SYSTEM_CONTAINERD" ] && ! timeout 10 ctr --address "$SYSTEM_CONTAINERD" version >/dev/null 2>&1; then
        # dockerd would use it (it only checks the socket exists) and fail.
        die "$SYSTEM_CONTAINERD exists but no containerd answers there; remove the stale socket or start that containerd"
    fi
    mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
    log "starting dockerd (log $LOG)"
    # A clean PATH: the supervised containerd and its shims are Debian's, never the test
    # cluster's containerd 2 (which scripts/kube-env.sh puts first on PATH).
    (
        cd /
        exec setsid env PATH=/usr/sbin:/usr/bin:/sbin:/bin dockerd \
            --data-root "$DATA_ROOT" --pidfile "$PIDFILE" \
            --iptables=false --ip-forward=false --oom-score-adjust 0 \
            </dev/null >>"$LOG" 2>&1
    ) &
    pid=$!
    deadline=$(( $(date +%s) + timeout_s ))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            die "dockerd exited; log tail ($LOG):
$(tail -n 30 "$LOG")"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die "dockerd (pid $pid) did not answer within ${timeout_s}s; log tail ($LOG):
$(tail -n 30 "$LOG")"
        fi
        sleep 0.5
    done
    echo "$pid" > "$STARTED"
    log "dockerd started (pid $pid)"
fi

# 3. smoke test ---------------------------------------------------------------
# The tiny busybox image setup-podman.sh imports, copied in from podman.
bb_image=localhost/rofs-e2e-busybox:latest
if ! timeout 30 "$DOCKER" image inspect "$bb_image" >/dev/null 2>&1; then
    timeout 60 podman image exists "$bb_image" \
        || die "$bb_image missing in podman: run scripts/setup-podman.sh first"
    timeout 300 podman save "$bb_image" | timeout 300 "$DOCKER" load -q >/dev/null \
        || die "podman save $bb_image | docker load failed"
    log "loaded $bb_image from podman"
fi
out="$(timeout 120 "$DOCKER" run --rm "$bb_image" /bin/busybox echo rofs-docker-ok 2>&1)" \
    || die "docker cannot run a container: $out"
[ "$out" = rofs-docker-ok ] || die "unexpected output from docker run: $out"
log "docker works (client $("$DOCKER" version --format '{{.Client.Version}}'), server $("$DOCKER" version --format '{{.Server.Version}}'), containerd $("$DOCKER" info --format '{{.ContainerdCommit.ID}}' 2>/dev/null))"
