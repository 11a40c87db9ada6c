# Recipe for localhost/rofs-e2e-debian:bookworm, sourced by scripts/build-images.sh: the one
# base layer every catalog image (tests/e2e/images/<name>/Containerfile) is built on, so they
# share it on disk and the base is bootstrapped once. debootstrap minbase, no extra package;
# apt and dpkg set up like Debian's -slim images: no recommends, no docs/man/locales.
PACKAGES=
CHANGES=(
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV DEBIAN_FRONTEND=noninteractive'
    'CMD ["/bin/bash"]'
)
customize() {
    local root="$1"
    # no binary package caches (75 MB per image; Debian's docker-clean does the same)
    printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
        'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
        > "$root/etc/apt/apt.conf.d/50rofs-e2e"
    cat > "$root/etc/dpkg/dpkg.cfg.d/50rofs-e2e" <<'CFG'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
    # no service starts during `apt-get install` (as in Debian's container images)
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
}
