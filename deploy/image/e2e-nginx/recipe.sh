# Recipe for localhost/rofs-e2e-nginx:bookworm, sourced by scripts/build-images.sh.
# Debian's own nginx-light, unmodified Debian configuration: this is the image a
# user would run, so the e2e tests see the failures users see.
#   - listens on port 80 (sites-enabled/default, IPv4 and IPv6);
#   - serves /var/www/html/index.nginx-debian.html at GET /;
#   - writes /var/lib/nginx/{body,proxy,fastcgi,...}, /var/log/nginx/*.log, /run/nginx.pid.
# Tests reach it through `ports: [{containerPort: 80, hostPort: N}]` (distinct N per
# test); see tests/e2e/README.md.
PACKAGES=nginx-light
CHANGES=(
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'CMD ["/usr/sbin/nginx", "-g", "daemon off;"]'
    'EXPOSE 80'
    'STOPSIGNAL SIGQUIT'
)
customize() {
    local root="$1"
    # The Debian default page is the index; add a tiny page whose content the tests can check.
    printf 'rofs-e2e-nginx ok\n' > "$root/var/www/html/rofs-e2e.txt"
}
