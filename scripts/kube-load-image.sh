#!/usr/bin/env bash
# Copy images from podman's store into the test cluster's containerd (namespace k8s.io), where
# pods use them with imagePullPolicy Never/IfNotPresent. Skips an image containerd already has
# from the same podman image ID (kept in a label), so a warm run costs a second per image.
# The others go in ONE multi-image archive (`podman save -m`, one `ctr images import`): layers
# shared by several images (the catalog images' Debian base) are saved and imported once.
# Usage: scripts/kube-load-image.sh IMAGE...   (e.g. localhost/rofs:dev)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/kube-env.sh
. "$repo/scripts/kube-env.sh"
[ "$#" -gt 0 ] || die "usage: $0 IMAGE..."
ctr_() { timeout 900 ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
stale=() ids=()
for image in "$@"; do
    id="$(timeout 60 podman image inspect --format '{{.ID}}' "$image" 2>/dev/null)" \
        || die "$image is not in podman's store (scripts/build-images.sh builds the test images)"
    if ctr_ images ls "name==$image" | grep "dev.rofs.podman-id=$id" >/dev/null; then
        log "$image: up to date"
        continue
    fi
    stale+=("$image") ids+=("$id")
done
[ "${#stale[@]}" -gt 0 ] || exit 0
# A docker-archive (the only format `podman save -m` writes): each image is named by its
# RepoTags entry (podman writes the full name). Not an oci-archive with --index-name:
# containerd 1.6's ctr then fails, on re-imports of a name it has, with `content digest
# sha256:<index>: not found` (seen with rofs:dev rebuilt and with Tomcat). Failed imports are
# tried again, up to three times.
t0=$(date +%s)
tmp="$(mktemp --suffix .tar)"
trap 'rm -f "$tmp"' EXIT
for attempt in 1 2 3; do
    if timeout 900 podman save -q -m --format docker-archive -o "$tmp" "${stale[@]}" >/dev/null &&
        ctr_ images import --platform linux/amd64 "$tmp" >/dev/null; then
        break
    fi
    [ "$attempt" = 3 ] && die "import of ${stale[*]} failed 3 times"
    log "import failed (attempt $attempt), trying again"
    rm -f "$tmp"
done
rm -f "$tmp"
names="$(ctr_ images ls -q)"
for i in "${!stale[@]}"; do
    image="${stale[$i]}"
    grep -x "$image" >/dev/null <<<"$names" || die "$image: import did not create the name (ctr images ls: $(tr '\n' ' ' <<<"$names"))"
    ctr_ images label "$image" "dev.rofs.podman-id=${ids[$i]}" >/dev/null
done
log "loaded ${stale[*]} in $(( $(date +%s) - t0 ))s"
