#!/usr/bin/env bash
# Install and configure podman for rofs' end-to-end tests. Idempotent.
#
#  - apt-get installs podman, runc, catatonit, netavark, iptables, debootstrap,
#    busybox-static, curl (only those missing; curl is the webhook test's HTTPS client)
#  - installs scripts/containers.conf as the drop-in
#    /etc/containers/containers.conf.d/50-rofs.conf (podman reads drop-ins after
#    containers.conf, so an existing containers.conf is left untouched; plain
#    `podman ...` commands typed by a person then behave like the tests)
#  - imports a tiny busybox image (localhost/rofs-e2e-busybox:latest) from the
#    Debian busybox-static package and proves `podman run` works.
#
# Env: ROFS_E2E_SKIP_APT=1 skips the apt step (for machines managed otherwise).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[setup-podman] %s\n' "$*" >&2; }
die() { printf '[setup-podman] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (rootful podman is what the e2e tests use)"

# 1. packages -----------------------------------------------------------------
need=()
# podman's Recommends are not installed (--no-install-recommends), so name what
# kube play needs: catatonit (podman builds its pod "pause" image from it),
# netavark + iptables (pod networking and hostPort forwarding; without netavark
# the CNI plugins would be picked).
pkgs=(podman runc catatonit netavark aardvark-dns iptables debootstrap busybox-static curl)
for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    [ "${ROFS_E2E_SKIP_APT:-0}" = 1 ] && die "missing packages: ${need[*]} (and ROFS_E2E_SKIP_APT=1)"
    log "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    log "packages present: ${pkgs[*]}"
fi

# 2. configuration ------------------------------------------------------------
dropin=/etc/containers/containers.conf.d/50-rofs.conf
mkdir -p "$(dirname "$dropin")"
if ! cmp -s "$here/containers.conf" "$dropin"; then
    install -m 0644 "$here/containers.conf" "$dropin"
    log "wrote $dropin"
else
    log "$dropin up to date"
fi
if [ -n "${CONTAINERS_CONF:-}" ]; then
    log "WARNING: CONTAINERS_CONF=$CONTAINERS_CONF is set; podman reads that file instead of the system config"
fi

# 3. smoke test ---------------------------------------------------------------
bb_image=localhost/rofs-e2e-busybox:latest
if ! timeout 60 podman image exists "$bb_image"; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # busybox-static (installed above) ships a static /bin/busybox: all we need
    mkdir -p "$tmp/root/bin"
    cp /bin/busybox "$tmp/root/bin/busybox"
    file_out="$(file -b "$tmp/root/bin/busybox" 2>/dev/null || true)"
    case "$file_out" in *dynamically*) die "/bin/busybox is not static ($file_out)";; esac
    for applet in sh cp ls cat mkdir sleep echo id wget; do ln -s busybox "$tmp/root/bin/$applet"; done
    mkdir -p "$tmp/root/tmp" "$tmp/root/etc"
    chmod 1777 "$tmp/root/tmp"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$tmp/root/etc/passwd"
    echo 'root:x:0:' > "$tmp/root/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$tmp/root" -c . \
        | timeout 120 podman import -q --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$bb_image" >/dev/null
    log "imported $bb_image"
fi
out="$(timeout 120 podman run --rm "$bb_image" /bin/busybox echo rofs-podman-ok 2>&1)" \
    || die "podman cannot run a container: $out"
[ "$out" = rofs-podman-ok ] || die "unexpected output from podman run: $out"
log "podman works ($(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'))"
