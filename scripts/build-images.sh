#!/usr/bin/env bash
# Build the images rofs' end-to-end tests run, with no registry and no Docker engine.
#
#   localhost/rofs:dev                  $ROFS_IMAGE; FROM scratch: /rofs, /rofs-agent (static)
#   localhost/rofs-e2e-nginx:bookworm   debootstrap + Debian nginx-light
#   localhost/rofs-e2e-tomcat:bookworm  debootstrap + Debian tomcat10 + default-jre-headless
#   localhost/rofs-e2e-noshell:dev      FROM scratch: a static HTTP server, no sh, no cp
#   localhost/rofs-e2e-discover:dev     FROM scratch: rofs discover's fixture (known writes)
#   localhost/rofs-e2e-debian:bookworm  debootstrap minbase: the base layer of the catalog images
#   localhost/rofs-e2e-<app>:bookworm   catalog images: tests/e2e/images/<app>/Containerfile
#                                       FROM the base + Debian packages (apt, no recommends):
#                                       postgresql mariadb redis rabbitmq apache-php php-fpm
#                                       jetty gunicorn nodejs prometheus
#
# Caching: every image carries the label dev.rofs.inputs = sha256 of its inputs
# (recipe files, binaries, builder version). An image is rebuilt only when it is
# missing or its label differs, so a warm run costs seconds. The rofs image's inputs
# include the binaries, so it follows every change of the code.
# Debian packages are cached in $ROFS_E2E_CACHE/debootstrap (debootstrap --cache-dir),
# so even a rebuild of a Debian image downloads nothing new.
#
# The catalog images download their packages through apt in `podman build` (host network),
# with /var/cache/apt/archives and /var/lib/apt/lists bind-mounted from $ROFS_E2E_CACHE/apt
# (not in the image), so a rebuild downloads nothing new either.
#
# Usage: scripts/build-images.sh [rofs|nginx|tomcat|noshell|discover|catalog|APP ...]   (default: all;
#        catalog = every tests/e2e/images/<app>)
# Env:
#   ROFS_IMAGE            tag of the rofs image (default localhost/rofs:dev)
#   ROFS_E2E_CACHE        cache dir (default /var/cache/rofs-e2e)
#   ROFS_E2E_MIRROR       Debian mirror (default: the first `URIs:` line of the machine's own
#                         apt sources, or its sources.list `deb` line)
#   ROFS_SKIP_CARGO=1     package the binaries already in target/ instead of building
#   ROFS_E2E_FORCE=1      rebuild even when the label matches
#   ROFS_E2E_JOBS         catalog images built at a time (default 3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

ROFS_IMAGE="${ROFS_IMAGE:-localhost/rofs:dev}"
NGINX_IMAGE=localhost/rofs-e2e-nginx:bookworm
TOMCAT_IMAGE=localhost/rofs-e2e-tomcat:bookworm
NOSHELL_IMAGE=localhost/rofs-e2e-noshell:dev
DISCOVER_IMAGE=localhost/rofs-e2e-discover:dev
CACHE="${ROFS_E2E_CACHE:-/var/cache/rofs-e2e}"
# The machine's own Debian mirror, as apt uses it (never a host written into the project).
apt_mirror() {
    local uri
    uri=$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    printf '%s' "$uri"
}
MIRROR="${ROFS_E2E_MIRROR:-$(apt_mirror)}"
SUITE=bookworm
TARGET=x86_64-unknown-linux-gnu
LABEL=dev.rofs.inputs
# Bump when the shared Debian builder below changes in a way that changes images.
DEBIAN_BUILDER_VERSION=1

log() { printf '[build-images] %s\n' "$*" >&2; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d} (set ROFS_E2E_MIRROR)"

command -v podman >/dev/null || die "podman missing: run scripts/setup-podman.sh first"

# sha256 of files/dirs (paths + contents, sorted) plus extra strings.
inputs_hash() {
    local extra="$1"; shift
    {
        printf '%s\n' "$extra"
        find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

image_label() {
    timeout 60 podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" 2>/dev/null || true
}

# up_to_date IMAGE HASH: 0 when IMAGE exists with the same inputs hash
up_to_date() {
    [ "${ROFS_E2E_FORCE:-0}" = 1 ] && return 1
    [ "$(image_label "$1")" = "$2" ]
}

cleanup_dirs=()
cleanup() {
    local d
    for d in "${cleanup_dirs[@]}"; do
        [ -d "$d" ] || continue
        for m in proc sys; do mountpoint -q "$d/root/$m" 2>/dev/null && umount -R "$d/root/$m"; done
        rm -rf "$d"
    done
}
trap cleanup EXIT

elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# --- rofs ---------------------------------------------------------------------
build_rofs() {
    local t0; t0=$(date +%s)
    local bin_dir="target/$TARGET"
    if [ "${ROFS_SKIP_CARGO:-0}" != 1 ]; then
        log "cargo build (static, $TARGET): rofs-cli (release), rofs-agent (profile agent)"
        # Same RUSTFLAGS for both builds so they share one cache; +crt-static on the gnu
        # target gives static-pie binaries that run FROM scratch.
        RUSTFLAGS="-C target-feature=+crt-static" \
            cargo build --release --target "$TARGET" -p rofs-cli --bin rofs
        RUSTFLAGS="-C target-feature=+crt-static" \
            cargo build --profile agent --target "$TARGET" -p rofs-agent --bin rofs-agent
    fi
    local rofs="$bin_dir/release/rofs" agent="$bin_dir/agent/rofs-agent"
    [ -x "$rofs" ] || die "$rofs not built"
    [ -x "$agent" ] || die "$agent not built"
    local h; h="$(inputs_hash "rofs-image-v1" deploy/image/Containerfile "$rofs" "$agent")"
    if up_to_date "$ROFS_IMAGE" "$h"; then
        log "$ROFS_IMAGE up to date"
        return
    fi
    local ctx; ctx="$(mktemp -d)"; cleanup_dirs+=("$ctx")
    cp "$rofs" "$agent" "$ctx/"
    timeout 600 podman build -q --label "$LABEL=$h" -f deploy/image/Containerfile -t "$ROFS_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
    log "built $ROFS_IMAGE in $(elapsed "$t0")"
}

# --- noshell --------------------------------------------------------------------
build_noshell() {
    local t0; t0=$(date +%s)
    local src=tests/e2e/src/bin/rofs-e2e-static-server.rs
    local out="target/rofs-e2e/$TARGET/rofs-e2e-static-server"
    mkdir -p "$(dirname "$out")"
    # One dependency-free file: plain rustc, no cargo workspace needed, ~1 s.
    if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
        rustc --edition 2024 -O -C target-feature=+crt-static -C strip=symbols \
            --target "$TARGET" --crate-name rofs_e2e_static_server -o "$out" "$src"
    fi
    local h; h="$(inputs_hash "noshell-v1" deploy/image/e2e-noshell "$out")"
    if up_to_date "$NOSHELL_IMAGE" "$h"; then
        log "$NOSHELL_IMAGE up to date"
        return
    fi
    local ctx; ctx="$(mktemp -d)"; cleanup_dirs+=("$ctx")
    cp "$out" "$ctx/rofs-e2e-static-server"
    cp -r deploy/image/e2e-noshell/www "$ctx/www"
    timeout 600 podman build -q --label "$LABEL=$h" -f deploy/image/e2e-noshell/Containerfile -t "$NOSHELL_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
    log "built $NOSHELL_IMAGE in $(elapsed "$t0")"
}

# --- discover fixture ------------------------------------------------------------------
# The files the fixture reads, rewrites and deletes are written here (not kept in the
# repository as a tree): the fixture's source lists them, the test derives its answer from it.
build_discover() {
    local t0; t0=$(date +%s)
    local src=tests/e2e/src/bin/rofs-e2e-discover-fixture.rs
    local out="target/rofs-e2e/$TARGET/rofs-e2e-discover-fixture"
    mkdir -p "$(dirname "$out")"
    if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
        rustc --edition 2024 -O -C target-feature=+crt-static -C strip=symbols \
            --target "$TARGET" --crate-name rofs_e2e_discover_fixture -o "$out" "$src"
    fi
    local h; h="$(inputs_hash "discover-v1" deploy/image/e2e-discover "$out")"
    if up_to_date "$DISCOVER_IMAGE" "$h"; then
        log "$DISCOVER_IMAGE up to date"
        return
    fi
    local ctx; ctx="$(mktemp -d)"; cleanup_dirs+=("$ctx")
    local r="$ctx/root"
    mkdir -p "$r/etc/fixture" "$r/var/lib/fixture" "$r/var/log/fixture" "$r/var/cache" \
        "$r/data" "$r/home/fixture" "$r/srv/fixture/spool" "$r/opt/fixture/cache" "$r/tmp" "$r/run"
    printf 'name = fixture\n' > "$r/etc/fixture/app.conf"
    printf 'seed-v1\n' > "$r/var/lib/fixture/seed.txt"
    printf 'an old log line\n' > "$r/var/log/fixture/old.log"
    printf 'in the image\n' > "$r/data/initial.txt"
    chmod 1777 "$r/tmp"
    cp "$out" "$ctx/rofs-e2e-discover-fixture"
    timeout 600 podman build -q --label "$LABEL=$h" -f deploy/image/e2e-discover/Containerfile -t "$DISCOVER_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
    log "built $DISCOVER_IMAGE in $(elapsed "$t0")"
}

# --- Debian application images ---------------------------------------------------
# build_debian IMAGE RECIPE_DIR: debootstrap --variant=minbase --include=$PACKAGES,
# the recipe's customize(), trim docs/caches, then `tar | podman import` with CHANGES.
build_debian() {
    local image="$1" dir="$2"
    local h; h="$(inputs_hash "debian-v$DEBIAN_BUILDER_VERSION $SUITE" "$dir")"
    if up_to_date "$image" "$h"; then
        log "$image up to date"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/setup-podman.sh first"
    local PACKAGES CHANGES=()
    unset -f customize
    # shellcheck disable=SC1091
    . "$dir/recipe.sh"
    local t0; t0=$(date +%s)
    local work; work="$(mktemp -d /var/tmp/rofs-e2e-rootfs.XXXXXX)"
    cleanup_dirs+=("$work")
    mkdir -p "$CACHE/debootstrap"
    log "debootstrap $SUITE + ${PACKAGES:-nothing} for $image (cache $CACHE/debootstrap)"
    local include=()
    [ -z "$PACKAGES" ] || include=(--include="$PACKAGES")
    if ! debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" "${include[@]}" \
        "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed for $image (log above)"
    fi
    local t1; t1=$(date +%s)
    for m in proc sys; do mountpoint -q "$work/root/$m" && umount -R "$work/root/$m"; done
    if declare -F customize >/dev/null; then customize "$work/root"; fi
    # Trim what a container never uses (like Debian's -slim images).
    rm -rf "$work/root"/var/cache/apt/*.bin "$work/root"/var/cache/apt/archives/*.deb \
        "$work/root"/var/lib/apt/lists/* "$work/root"/usr/share/doc/* "$work/root"/usr/share/man/* \
        "$work/root"/usr/share/info/* "$work/root"/usr/share/locale/* "$work/root"/var/log/*.log \
        "$work/root"/var/log/apt/* "$work/root"/var/cache/debconf/*-old "$work/root"/dev/*
    local args=(-q --change "LABEL $LABEL=$h")
    local c
    for c in "${CHANGES[@]}"; do args+=(--change "$c"); done
    tar --numeric-owner --xattrs -C "$work/root" -c . | timeout 600 podman import "${args[@]}" - "$image" >/dev/null
    rm -rf "$work"
    log "built $image in $(elapsed "$t0") (debootstrap $((t1 - t0))s)"
}

# --- catalog images ---------------------------------------------------------------------
# build_app APP: tests/e2e/images/APP/Containerfile (FROM $BASE, ARG BASE) with that directory
# as the context, on the shared base layer. Its inputs hash includes the base's.
# build_apps APP...: the base once, then the apps $ROFS_E2E_JOBS at a time (they mostly wait on
# apt downloads and dpkg). apt locks its lists and archives directories (and fails instead of
# waiting), so each build gets directories of its own, hard-linked from the shared cache
# $CACHE/apt and linked back into it afterwards: a rebuild still downloads nothing new.
BASE_IMAGE=localhost/rofs-e2e-debian:bookworm
APPS_DIR=tests/e2e/images
build_app() {
    local app="$1" dir="$APPS_DIR/$1" image="localhost/rofs-e2e-$1:bookworm"
    local h; h="$(inputs_hash "app-v1 $(image_label "$BASE_IMAGE")" "$dir")"
    if up_to_date "$image" "$h"; then
        log "$image up to date"
        return
    fi
    local t0; t0=$(date +%s)
    local apt="$CACHE/apt/build-$app" d
    rm -rf "$apt"
    for d in archives lists; do
        mkdir -p "$CACHE/apt/$d/partial" "$apt/$d/partial"
        find "$CACHE/apt/$d" -maxdepth 1 -type f ! -name lock -exec cp -l -t "$apt/$d" {} +
    done
    log "podman build $image"
    # --layers=false: no intermediate images left behind (disk); the inputs hash is the cache
    local rc=0
    timeout 1200 podman build --layers=false --network host --build-arg "BASE=$BASE_IMAGE" \
        --label "$LABEL=$h" -v "$apt/archives:/var/cache/apt/archives" \
        -v "$apt/lists:/var/lib/apt/lists" -f "$dir/Containerfile" -t "$image" "$dir" \
        >"$CACHE/build-$app.log" 2>&1 || rc=$?
    for d in archives lists; do
        find "$apt/$d" -maxdepth 1 -type f ! -name lock -exec cp -l -n -t "$CACHE/apt/$d" {} + || true
    done
    rm -rf "$apt"
    if [ "$rc" != 0 ]; then
        tail -n 30 "$CACHE/build-$app.log" >&2
        die "podman build failed for $image (log above, $CACHE/build-$app.log)"
    fi
    log "built $image in $(elapsed "$t0")"
}
build_apps() {
    local app i jobs="${ROFS_E2E_JOBS:-3}" pids=() failed=()
    for app in "$@"; do
        [ -f "$APPS_DIR/$app/Containerfile" ] || die "unknown image $app (no $APPS_DIR/$app/Containerfile)"
    done
    build_debian "$BASE_IMAGE" "$APPS_DIR/debian-base"
    for app in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        build_app "$app" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed+=("${@:i+1:1}")
    done
    [ "${#failed[@]}" = 0 ] || die "failed to build ${failed[*]} (logs above)"
}
catalog_apps() {
    local d
    for d in "$APPS_DIR"/*/Containerfile; do basename "$(dirname "$d")"; done
}

# --- main ----------------------------------------------------------------------------
want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(rofs noshell discover nginx tomcat catalog)
apps=()
for w in "${want[@]}"; do
    case "$w" in
        rofs) build_rofs ;;
        noshell) build_noshell ;;
        discover) build_discover ;;
        nginx) build_debian "$NGINX_IMAGE" deploy/image/e2e-nginx ;;
        tomcat) build_debian "$TOMCAT_IMAGE" deploy/image/e2e-tomcat ;;
        catalog) mapfile -t -O "${#apps[@]}" apps < <(catalog_apps) ;;
        *) apps+=("$w") ;;
    esac
done
[ "${#apps[@]}" = 0 ] || build_apps "${apps[@]}"

# drop our images that a rebuild left untagged
timeout 120 podman image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true

log "images:"
timeout 60 podman images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' \
    | grep -E "^(${ROFS_IMAGE%%:*}|localhost/rofs-e2e-)" | sort >&2 || true
