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
    pod.assert_root_read_only("nginx");
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
    pod.assert_root_read_only("nginx");
}

/// The profile's paths as explicit flags.
pub const WRITABLE_FLAGS: &[&str] = &[
    "--writable",
    "/var/lib/nginx",
    "--writable",
    "/var/log/nginx",
    "--writable",
    "/run:memory:1Mi:empty",
];

/// www-data (uid 33), restricted-style. Debian's config listens on port 80 (and the image
/// offers no other port without a config change), so it needs NET_BIND_SERVICE, which podman
/// 4.3 puts in the ambient set; on Kubernetes with containerd use the pod sysctl
/// `net.ipv4.ip_unprivileged_port_start=0` instead (see tests/e2e/README.md).
pub const NON_ROOT: &str = "      runAsUser: 33\n      runAsGroup: 33\n      runAsNonRoot: true\n      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n";

fn access_log(pod: &Pod) -> String {
    pod.sh("nginx", "cat /var/log/nginx/access.log")
}

/// `rofs patch ARGS` on the failing manifest (with `security` in the container's
/// securityContext), then on the real pod: 200 with the root still read-only; a request
/// logged to access.log survives a container restart and a pod replay, where the seed runs
/// again and must skip (not clobber) the volumes.
fn patched_case(prefix: &str, how: &[&str], security: &str, uid: &str) {
    let agent_image = rofs_e2e::rofs_image();
    require!(NGINX_IMAGE, &agent_image);
    let name = unique_name(prefix);
    let port = free_port();
    let input = pod_yaml(&name, port, true, security);
    let mut args = how.to_vec();
    args.extend(["--agent-image", &agent_image]);
    let patched = rofs_e2e::rofs_patch(&args, &input);
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&patched, opts).unwrap_or_else(|e| panic!("{e}"));
    let serve = |pod: &Pod| {
        let body = wait_http(
            port,
            "/rofs-e2e.txt",
            200,
            Duration::from_secs(30),
            Some((pod, "nginx")),
        );
        assert_eq!(body, "rofs-e2e-nginx ok\n");
    };
    serve(&pod);
    wait_http(port, "/", 200, Duration::from_secs(5), None);
    pod.assert_root_read_only("nginx");
    assert_eq!(pod.sh("nginx", "id -u").trim(), uid);
    let seed_log = pod.logs("rofs-seed-nginx");
    assert!(
        seed_log.contains("/var/lib/nginx -> ") && seed_log.contains(": done: "),
        "{seed_log}"
    );

    wait_http(port, "/before-restart", 404, Duration::from_secs(5), None);
    pod.restart("nginx");
    serve(&pod);
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "access.log lost across restart"
    );

    pod.replay().unwrap_or_else(|e| panic!("{e}"));
    serve(&pod);
    let seed_log = pod.logs("rofs-seed-nginx");
    assert!(
        seed_log.contains("/var/log/nginx -> ") && seed_log.contains("already seeded"),
        "the seed should skip on replay:\n{seed_log}"
    );
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "the seed re-run clobbered access.log"
    );
}

#[test]
fn patched_with_profile_serves() {
    patched_case("e2e-nginx-prof", &["--profile", "nginx"], "", "0");
}

#[test]
fn patched_with_writable_flags_serves() {
    patched_case("e2e-nginx-flags", WRITABLE_FLAGS, "", "0");
}

#[test]
fn patched_with_profile_serves_as_non_root() {
    patched_case("e2e-nginx-prof-nr", &["--profile", "nginx"], NON_ROOT, "33");
}

#[test]
fn patched_with_writable_flags_serves_as_non_root() {
    patched_case("e2e-nginx-flags-nr", WRITABLE_FLAGS, NON_ROOT, "33");
}

/// The profile and the same paths as flags give the same bytes.
#[test]
fn profile_equals_flags() {
    let input = pod_yaml("same", 8080, true, NON_ROOT);
    let a = rofs_e2e::rofs_patch(&["--profile", "nginx", "--agent-image", "x"], &input);
    let mut args = WRITABLE_FLAGS.to_vec();
    args.extend(["--agent-image", "x"]);
    assert_eq!(a, rofs_e2e::rofs_patch(&args, &input));
}
