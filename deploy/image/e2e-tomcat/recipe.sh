# Recipe for localhost/rofs-e2e-tomcat:bookworm, sourced by scripts/build-images.sh.
# Debian's tomcat10 + default-jre-headless (OpenJDK 17), Debian layout:
#   CATALINA_HOME=/usr/share/tomcat10   (read-only binaries)
#   CATALINA_BASE=/var/lib/tomcat10     (conf -> /etc/tomcat10, logs -> /var/log/tomcat10,
#                                        work -> /var/cache/tomcat10, webapps/)
# Started the way Debian's systemd unit does (tomcat10.service -> tomcat-start.sh ->
# catalina.sh run), in the foreground, as root by default (the image has no USER;
# the Debian `tomcat` user is uid/gid 997, used by runAsUser tests).
# Listens on 8080 (server.xml); GET / answers 200 with webapps/ROOT/index.html,
# which the Debian package creates (plus our rofs-e2e.txt marker).
# rofs-e2e.jsp is a JSP: Tomcat compiles it into its work dir (/var/cache/tomcat10) on
# first request, so it answers 500 when that dir is not writable; static pages still
# answer 200 under a read-only root (Tomcat then only logs SEVERE errors).
PACKAGES=tomcat10,default-jre-headless
CHANGES=(
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV CATALINA_HOME=/usr/share/tomcat10'
    'ENV CATALINA_BASE=/var/lib/tomcat10'
    'ENV CATALINA_TMPDIR=/tmp'
    'ENV JAVA_OPTS=-Djava.awt.headless=true'
    'CMD ["/bin/sh", "/usr/libexec/tomcat10/tomcat-start.sh"]'
    'EXPOSE 8080'
)
customize() {
    local root="$1"
    install -d "$root/var/lib/tomcat10/webapps/ROOT"
    printf 'rofs-e2e-tomcat ok\n' > "$root/var/lib/tomcat10/webapps/ROOT/rofs-e2e.txt"
    cat > "$root/var/lib/tomcat10/webapps/ROOT/rofs-e2e.jsp" <<'JSP'
<%@ page contentType="text/plain; charset=UTF-8" %>rofs-e2e-tomcat jsp ok <%= 6 * 7 %>
JSP
    # what debootstrap's package configuration left behind while running Java
    rm -rf "$root"/tmp/hsperfdata_*
}
