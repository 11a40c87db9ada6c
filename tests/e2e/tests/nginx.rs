//! Debian nginx (`localhost/rofs-e2e-nginx:bookworm`, unmodified Debian config on port 80).

use std::time::Duration;

use rofs_e2e::{NGINX_IMAGE, PlayOptions, Pod, free_port, require, unique_name, wait_http};

const EROFS_LINE: &str = r#"mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)"#;

/// The app container as users write it; `extra` is appended to the container.
fn pod_yaml(name: &str, port: u16, read_only: bool, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: nginx}}
spec:
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    ports:
    - {{containerPort: 80, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: {read_only}
{extra}"#
    )
}

#[test]
fn readonly_root_fails_with_erofs() {
    require!(NGINX_IMAGE);
    let name = unique_name("e2e-nginx-ro");
    let yaml = pod_yaml(&name, free_port(), true, "")
        .replace("spec:\n", "spec:\n  restartPolicy: Never\n");
    let pod = Pod::play(&yaml);
    assert_eq!(pod.wait_exit("nginx", Duration::from_secs(60)), 1);
    let log = pod.logs("nginx");
    assert!(
        log.contains(EROFS_LINE),
        "expected {EROFS_LINE:?} in:\n{log}"
    );
}

#[test]
fn writable_root_serves() {
    require!(NGINX_IMAGE);
    let name = unique_name("e2e-nginx-rw");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, false, ""));
    let body = wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert_eq!(body, "rofs-e2e-nginx ok\n");
    wait_http(port, "/", 200, Duration::from_secs(5), None);
}

/// The blog post's workaround written by hand: emptyDirs over the paths nginx writes, an
/// initContainer from the same image copying the originals with `cp -a`. Proves the
/// target layout under podman, with the root still read-only.
fn hand_fixed_yaml(name: &str, port: u16, security: &str) -> String {
    let app = pod_yaml(name, port, true, "").replace(
        "      readOnlyRootFilesystem: true\n",
        &format!(
            "      readOnlyRootFilesystem: true\n{security}    volumeMounts:\n    - {{name: var-lib-nginx, mountPath: /var/lib/nginx}}\n    - {{name: var-log-nginx, mountPath: /var/log/nginx}}\n    - {{name: run, mountPath: /run}}\n"
        ),
    );
    app.replace(
        "  containers:\n",
        &format!(
            r#"  initContainers:
  - name: seed
    image: {NGINX_IMAGE}
    command: ["/bin/sh", "-c", "cp -a /var/lib/nginx/. /seed/var-lib-nginx/ && cp -a /var/log/nginx/. /seed/var-log-nginx/"]
    securityContext:
      readOnlyRootFilesystem: true
{security}    volumeMounts:
    - {{name: var-lib-nginx, mountPath: /seed/var-lib-nginx}}
    - {{name: var-log-nginx, mountPath: /seed/var-log-nginx}}
  volumes:
  - {{name: var-lib-nginx, emptyDir: {{}}}}
  - {{name: var-log-nginx, emptyDir: {{}}}}
  - {{name: run, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}
  containers:
"#
        ),
    )
}

fn assert_root_read_only(pod: &Pod, c: &str) {
    let out = pod.exec(c, &["/bin/sh", "-c", "touch /rofs-e2e-probe"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Read-only file system"),
        "writing / must fail with EROFS: {err}"
    );
}

#[test]
fn hand_fixed_pod_serves_with_readonly_root() {
    require!(NGINX_IMAGE);
    let name = unique_name("e2e-nginx-fixed");
    let port = free_port();
    let pod = Pod::play(&hand_fixed_yaml(&name, port, ""));
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert_root_read_only(&pod, "nginx");
    // what the app wrote survives a container restart
    wait_http(port, "/before-restart", 404, Duration::from_secs(5), None);
    pod.restart("nginx");
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    let log = pod.exec("nginx", &["/bin/cat", "/var/log/nginx/access.log"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("GET /before-restart"),
        "access.log lost across restart:\n{log}"
    );
}

/// Non-root (www-data, uid 33), the blog's `cp -a` fails: a non-root process cannot set
/// the times (or owner) of the emptyDir's root-owned top directory:
/// `cp: preserving times for '/seed/var-lib-nginx/.': Operation not permitted`.
/// Users then fall back to `cp -R` (losing modes/times), which works here.
///
/// Debian's config listens on port 80: a non-root process may bind it only with
/// NET_BIND_SERVICE. podman 4.3 puts added capabilities in the ambient set (Kubernetes
/// with containerd does not: there it needs `net.ipv4.ip_unprivileged_port_start=0`,
/// which podman 4.3 ignores in pod sysctls).
#[test]
fn hand_fixed_pod_as_non_root_needs_more_than_cp_a() {
    require!(NGINX_IMAGE);
    let security = "      runAsUser: 33\n      runAsGroup: 33\n      runAsNonRoot: true\n      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n";
    let opts = PlayOptions {
        keep_init_containers: true,
    };

    let name = unique_name("e2e-nginx-nonroot-cpa");
    let yaml = hand_fixed_yaml(&name, free_port(), security)
        .replace("spec:\n", "spec:\n  restartPolicy: Never\n");
    let err = Pod::try_play_with(&yaml, opts)
        .err()
        .expect("cp -a as non-root must fail");
    assert!(
        err.contains("cp: preserving times for '/seed/var-lib-nginx/.': Operation not permitted"),
        "{err}"
    );

    let name = unique_name("e2e-nginx-nonroot");
    let port = free_port();
    let yaml = hand_fixed_yaml(&name, port, security).replace("cp -a ", "cp -R ");
    let pod = Pod::try_play_with(&yaml, opts).unwrap_or_else(|e| panic!("{e}"));
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    let id = pod.exec("nginx", &["/usr/bin/id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "33");
    assert_root_read_only(&pod, "nginx");
}

/// `rofs patch --profile nginx` on the failing manifest: serves 200 with the root still
/// read-only; what nginx wrote survives a container restart and a pod replay (the seed
/// runs again and must not clobber it).
#[test]
fn patched_with_profile_serves() {
    let agent_image = rofs_e2e::rofs_image();
    require!(NGINX_IMAGE, &agent_image);
    let name = unique_name("e2e-nginx-patched");
    let port = free_port();
    let input = pod_yaml(&name, port, true, "");
    let patched = rofs_e2e::rofs_patch(
        &["--profile", "nginx", "--agent-image", &agent_image],
        &input,
    );
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&patched, opts).unwrap_or_else(|e| panic!("{e}"));
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert_root_read_only(&pod, "nginx");
    wait_http(port, "/before-restart", 404, Duration::from_secs(5), None);
    let access_log = |pod: &Pod| {
        String::from_utf8_lossy(
            &pod.exec("nginx", &["/bin/cat", "/var/log/nginx/access.log"])
                .stdout,
        )
        .into_owned()
    };
    pod.restart("nginx");
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "access.log lost across restart"
    );
    pod.replay().unwrap_or_else(|e| panic!("{e}"));
    wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "the seed re-run clobbered access.log"
    );
}
