#!/usr/bin/env bash
# Copy images from podman's store into the test cluster's containerd (namespace k8s.io), where
# pods use them with imagePullPolicy Never/IfNotPresent. Skips an image containerd already has
# from the same podman image ID (kept in a label), so a warm run costs a second per image.
# Usage: scripts/kube-load-image.sh IMAGE...   (e.g. localhost/rofs:dev)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/kube-env.sh
. "$repo/scripts/kube-env.sh"
[ "$#" -gt 0 ] || die "usage: $0 IMAGE..."
ctr_() { timeout 300 ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
for image in "$@"; do
    id="$(timeout 60 podman image inspect --format '{{.ID}}' "$image" 2>/dev/null)" \
        || die "$image is not in podman's store (scripts/build-images.sh builds the test images)"
    if ctr_ images ls "name==$image" | grep "dev.rofs.podman-id=$id" >/dev/null; then
        log "$image: up to date"
        continue
    fi
    # The name comes from the archive's org.opencontainers.image.ref.name (podman writes the
    # full name). Not --index-name: containerd 1.6's ctr then fails, on re-imports of a name it
    # has, with `content digest sha256:<index>: not found` (seen with rofs:dev rebuilt and with
    # Tomcat). Failed imports are tried again, up to three times.
    tmp="$(mktemp --suffix .tar)"
    for attempt in 1 2 3; do
        if timeout 300 podman save --format oci-archive -o "$tmp" "$image" >/dev/null &&
            ctr_ images import --platform linux/amd64 "$tmp" >/dev/null; then
            break
        fi
        [ "$attempt" = 3 ] && { rm -f "$tmp"; die "$image: import failed 3 times"; }
        log "$image: import failed (attempt $attempt), trying again"
        rm -f "$tmp"
    done
    rm -f "$tmp"
    ctr_ images label "$image" "dev.rofs.podman-id=$id" >/dev/null
    ctr_ images ls -q | grep -x "$image" >/dev/null || die "$image: import did not create the name (ctr images ls: $(ctr_ images ls -q | tr '\n' ' '))"
    log "$image: loaded"
done
