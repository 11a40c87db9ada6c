//! Issue 11, item 2: nginx and Tomcat patched with their profiles run on the kubelet with a
//! read-only root: HTTP 200, writing to `/` fails, data survives a container restart,
//! non-root works, in a namespace enforcing Pod Security `restricted` for the restricted
//! variants. The podman versions: tests/e2e/tests/{nginx,tomcat}.rs.

use std::time::Duration;

use rofs_cluster::{
    NGINX_IMAGE, Namespace, TOMCAT_IMAGE, http_get, pod_ip, require_cluster, rofs_image,
    rofs_patch, wait_http,
};

const RESTRICTED: (&str, &str) = ("pod-security.kubernetes.io/enforce", "restricted");
/// Tomcat needs 5-10 s on 2 cores, more when the machine is busy.
const START: Duration = Duration::from_secs(180);

struct App {
    container: &'static str,
    image: &'static str,
    port: u16,
    profile: &'static str,
    /// a path that answers 200 only when the app's writable paths work
    probe: &'static str,
    probe_body: &'static str,
    /// a log the app appends each request to (survives a restart only if it is a volume)
    access_log: &'static str,
    uid: &'static str,
}

const NGINX: App = App {
    container: "nginx",
    image: NGINX_IMAGE,
    port: 80,
    profile: "nginx",
    probe: "/rofs-e2e.txt",
    probe_body: "rofs-e2e-nginx ok",
    access_log: "/var/log/nginx/access.log",
    uid: "33",
};

const TOMCAT: App = App {
    container: "tomcat",
    image: TOMCAT_IMAGE,
    port: 8080,
    profile: "tomcat",
    // the JSP compiles into the work dir (/var/cache/tomcat10): 500 under a plain read-only root
    probe: "/rofs-e2e.jsp",
    probe_body: "rofs-e2e-tomcat jsp ok 42",
    access_log: "/var/log/tomcat10/localhost_access_log.*",
    uid: "997",
};

/// The pod as users write it. `restricted`: the app's non-root user and everything the
/// `restricted` standard asks. Debian nginx listens on port 80: as non-root on containerd it
/// needs the (namespaced, "safe") sysctl `net.ipv4.ip_unprivileged_port_start=0`: an added
/// NET_BIND_SERVICE is not in the ambient set of a non-root process there (under podman 4.3
/// it is, which is why the podman tests add the capability instead).
fn pod_yaml(app: &App, name: &str, read_only: bool, restricted: bool) -> String {
    let (pod_sec, ctr_sec) = if restricted {
        (
            format!(
                "  securityContext:\n    runAsNonRoot: true\n    runAsUser: {uid}\n    runAsGroup: {uid}\n    seccompProfile: {{type: RuntimeDefault}}\n    sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: \"0\"}}]\n",
                uid = app.uid
            ),
            "      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL]}\n",
        )
    } else {
        (String::new(), "")
    };
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  automountServiceAccountToken: false
{pod_sec}  containers:
  - name: {c}
    image: {image}
    imagePullPolicy: Never
    ports: [{{containerPort: {port}}}]
    securityContext:
      readOnlyRootFilesystem: {read_only}
{ctr_sec}"#,
        c = app.container,
        image = app.image,
        port = app.port,
    )
}

/// `rofs patch --profile P` of the read-only pod, created on the cluster: serves with the
/// root read-only, as the expected user; a request in the access log survives a container
/// restart (the kubelet restarts the killed container; the init containers do not run again).
fn patched_serves(app: &App, restricted: bool) {
    require_cluster!(app.image, &rofs_image());
    let labels: &[(&str, &str)] = if restricted { &[RESTRICTED] } else { &[] };
    let ns = Namespace::create(&format!("app-{}", app.container), labels);
    let name = app.container;
    let patched = rofs_patch(
        &["--profile", app.profile, "--agent-image", &rofs_image()],
        &pod_yaml(app, name, true, restricted),
    );
    ns.kubectl_ok(&["create", "-f", "-"], Some(&patched));
    let pod = ns.wait_ready(name, START);
    let ip = pod_ip(&pod);
    let serve = || {
        let body = wait_http(&ip, app.port, app.probe, 200, START, || ns.diagnose(name));
        assert!(body.contains(app.probe_body), "{body}");
    };
    serve();
    ns.assert_root_read_only(name, app.container);
    let uid = if restricted { app.uid } else { "0" };
    assert_eq!(ns.sh(name, app.container, "id -u").trim(), uid);
    let logs = ns.logs(name, app.container);
    assert!(!logs.contains("Read-only file system"), "{logs}");

    assert_eq!(
        http_get(&ip, app.port, "/before-restart").map(|r| r.0),
        Ok(404)
    );
    // Tomcat's access log valve buffers (flushed every ~10 s): wait until the request is on
    // disk, then crash the container (SIGKILL) and look again
    let logged = || ns.sh(name, app.container, &format!("cat {}", app.access_log));
    let start = std::time::Instant::now();
    while !logged().contains("GET /before-restart") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the request never reached {}",
            app.access_log
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let pod = ns.kill_container(name, app.container, START);
    assert_eq!(pod_ip(&pod), ip, "same pod, same sandbox");
    serve();
    let log = logged();
    assert!(
        log.contains("GET /before-restart"),
        "the access log did not survive the container restart:\n{log}"
    );
}

#[test]
fn nginx_patched_serves() {
    patched_serves(&NGINX, false);
}

#[test]
fn nginx_patched_serves_restricted_non_root() {
    patched_serves(&NGINX, true);
}

#[test]
fn tomcat_patched_serves() {
    patched_serves(&TOMCAT, false);
}

#[test]
fn tomcat_patched_serves_restricted_non_root() {
    patched_serves(&TOMCAT, true);
}

/// The check can fail: the same nginx pod unpatched, read-only, exits with the EROFS line.
#[test]
fn nginx_unpatched_read_only_fails() {
    require_cluster!(NGINX_IMAGE);
    let ns = Namespace::create("app-nginx-ro", &[]);
    let yaml = pod_yaml(&NGINX, "nginx", true, false)
        .replace("spec:\n", "spec:\n  restartPolicy: Never\n");
    ns.kubectl_ok(&["create", "-f", "-"], Some(&yaml));
    let start = std::time::Instant::now();
    loop {
        let pod = ns.pod("nginx");
        if pod["status"]["phase"] == "Failed" {
            break;
        }
        assert!(
            start.elapsed() < START,
            "unpatched read-only nginx did not fail:\n{}",
            ns.diagnose("nginx")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = ns.logs("nginx", "nginx");
    assert!(
        log.contains(r#"mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)"#),
        "{log}"
    );
}
