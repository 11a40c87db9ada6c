#!/usr/bin/env bash
# Build (or reuse) the binaries of the test cluster from upstream Go modules:
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl   scripts/kube/go.mod
#   etcd                                                                    scripts/kube/etcd/go.mod
#   containerd, containerd-shim-runc-v2, ctr (`containerd` mode)            scripts/kube/containerd/go.mod
# The wrapper modules pin the versions (go.sum locks them); nothing but the Go module proxy is
# fetched. Binaries are cached in $ROFS_KUBE_CACHE/<kubernetes version>-<hash>/bin, the hash
# covering both go.mod/go.sum pairs, the Go version and the build flags, so the same machine
# builds once (cold: 20-30 min on 2 cores) and then reuses them in a second.
#
# containerd 2 (Debian 12 has 1.6; the ImageVolume needs >= 2.1, the evented PLEG >= 1.7) has
# its own cache entry, $ROFS_KUBE_CACHE/containerd-<version>-<hash>/bin, keyed the same way.
#
# Usage: scripts/kube-build.sh            build if needed; prints the bin dir on stdout
#        scripts/kube-build.sh containerd build containerd if needed; prints its bin dir
#        scripts/kube-build.sh --regen    regenerate scripts/kube/go.mod's replace block from
#                                         the pinned k8s.io/kubernetes go.mod, then tidy
# Env:   ROFS_KUBE_CACHE (default /var/cache/rofs/kube), ROFS_KUBE_GOFLAGS (default -p=2)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$repo/scripts/kube"
CACHE="${ROFS_KUBE_CACHE:-/var/cache/rofs/kube}"
log() { printf '[kube-build] %s\n' "$*" >&2; }
die() { printf '[kube-build] ERROR: %s\n' "$*" >&2; exit 1; }

# The machine image has Go in /usr/local/go/bin, which a non-login shell may not have on PATH.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || die "go missing (Go 1.24 or later; the machine image has it in /usr/local/go/bin)"

# version of MODULE required in GOMOD (a "require M v" line or a line of a require block)
required() { awk -v m="$1" '$1 == "require" && $2 == m {print $3} $1 == m && $2 ~ /^v/ {print $2}' "$2" | head -1; }
kube_version="$(required k8s.io/kubernetes "$mod/go.mod")"
[ -n "$kube_version" ] || die "no 'require k8s.io/kubernetes vX' line in $mod/go.mod"

if [ "${1:-}" = "--regen" ]; then
    # The staging modules are published as k8s.io/<name> v0.<minor>.<patch>.
    staging_version="v0.${kube_version#v1.}"
    gomod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$gomod" ] || die "cannot download k8s.io/kubernetes@$kube_version's go.mod"
    block="$(grep '=> ./staging' "$gomod" | awk -v s="$staging_version" '{print "\t" $1 " => " $1 " " s}')"
    awk -v block="$block" '
        /^replace \($/ { print; print block; skip = 1; next }
        skip && /^\)$/ { skip = 0 }
        !skip { print }' "$mod/go.mod" > "$mod/go.mod.new"
    mv "$mod/go.mod.new" "$mod/go.mod"
    (cd "$mod" && go mod tidy) && (cd "$mod/etcd" && go mod tidy)
    log "regenerated $(grep -c '=> k8s.io' "$mod/go.mod") replace lines for $kube_version"
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

if [ "${1:-}" = "containerd" ]; then
    cmod="$mod/containerd"
    ctr_version="$(required github.com/containerd/containerd/v2 "$cmod/go.mod")"
    [ -n "$ctr_version" ] || die "no github.com/containerd/containerd/v2 requirement in $cmod/go.mod"
    # As upstream's Makefile builds its static release: no cgo, no btrfs/devmapper snapshotters.
    ctags="urfave_cli_no_docs osusergo netgo static_build no_btrfs no_devmapper"
    cldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$ctr_version"
    ckey="$( { cat "$cmod/go.mod" "$cmod/go.sum"; go env GOVERSION
               printf 'CGO_ENABLED=0 -trimpath -tags=%s -ldflags=%s\n' "$ctags" "$cldflags"; } | sha256sum | cut -c1-16)"
    cdir="$CACHE/containerd-$ctr_version-$ckey"
    if [ -x "$cdir/bin/containerd" ] && [ -x "$cdir/bin/containerd-shim-runc-v2" ] && [ -x "$cdir/bin/ctr" ]; then
        log "cached: $cdir/bin"
        echo "$cdir/bin"
        exit 0
    fi
    rm -rf "$cdir.tmp"; mkdir -p "$cdir.tmp/bin"
    export CGO_ENABLED=0 GOFLAGS="${ROFS_KUBE_GOFLAGS:--p=2} -buildvcs=false -mod=readonly"
    t0=$(date +%s)
    log "building containerd $ctr_version (cold: ~5 min on 2 cores) into $cdir"
    (cd "$cmod" && go build -trimpath -tags "$ctags" -ldflags "$cldflags" -o "$cdir.tmp/bin/" \
        github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr)
    t1=$(date +%s)
    printf 'containerd %s\nkey %s\nbuild %ss\n' "$ctr_version" "$ckey" "$((t1 - t0))" > "$cdir.tmp/BUILD-INFO"
    "$cdir.tmp/bin/containerd" --version | grep -qw -- "$ctr_version" \
        || die "containerd reports '$("$cdir.tmp/bin/containerd" --version)', not $ctr_version"
    rm -rf "$cdir"; mv "$cdir.tmp" "$cdir"
    log "built containerd in $((t1 - t0))s: $cdir/bin"
    echo "$cdir/bin"
    exit 0
fi

minor="${kube_version#v1.}"; minor="${minor%%.*}"
# The version stamp: the API server refuses to start when its binary version and its emulation
# version disagree, and kubectl/kubelet report it. Same variables as upstream's hack/lib/version.sh.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
flags="CGO_ENABLED=0 -trimpath -ldflags=$ldflags"
key="$( { cat "$mod/go.mod" "$mod/go.sum" "$mod/etcd/go.mod" "$mod/etcd/go.sum" "$mod/etcd/main.go"
          go env GOVERSION; printf '%s\n' "$flags"; } | sha256sum | cut -c1-16)"
dir="$CACHE/$kube_version-$key"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd)

complete() { local b; for b in "${bins[@]}"; do [ -x "$dir/bin/$b" ] || return 1; done; }

if complete; then
    log "cached: $dir/bin"
    echo "$dir/bin"
    exit 0
fi

tmp="$dir.tmp"
rm -rf "$tmp"; mkdir -p "$tmp/bin"
export CGO_ENABLED=0 GOFLAGS="${ROFS_KUBE_GOFLAGS:--p=2} -buildvcs=false -mod=readonly"
t0=$(date +%s)
log "building Kubernetes $kube_version (cold: 20-30 min on 2 cores) into $dir"
# One invocation for all five: the packages they share compile once.
(cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl)
t1=$(date +%s)
log "building etcd"
(cd "$mod/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" .)
t2=$(date +%s)
printf 'kubernetes %s\netcd %s\nkey %s\nkubernetes build %ss\netcd build %ss\n' \
    "$kube_version" "$(required go.etcd.io/etcd/server/v3 "$mod/etcd/go.mod")" \
    "$key" "$((t1 - t0))" "$((t2 - t1))" > "$tmp/BUILD-INFO"
"$tmp/bin/kube-apiserver" --version | grep -qx "Kubernetes $kube_version" \
    || die "kube-apiserver reports '$("$tmp/bin/kube-apiserver" --version)', not $kube_version"
rm -rf "$dir"; mv "$tmp" "$dir"
log "built in $((t2 - t0))s (kubernetes $((t1 - t0))s, etcd $((t2 - t1))s): $dir/bin"
echo "$dir/bin"
