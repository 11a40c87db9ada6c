//! Debian Tomcat 10 (`localhost/rofs-e2e-tomcat:bookworm`, Debian layout, port 8080).
//!
//! Under a read-only root Tomcat does not exit: it logs
//! `java.io.FileNotFoundException: /var/lib/tomcat10/logs/catalina.<date>.log (Read-only file system)`
//! and SEVERE errors, serves static files, and answers 500 for JSPs (their compiled
//! classes go to the work dir, /var/cache/tomcat10).

use std::time::Duration;

use rofs_e2e::{Pod, TOMCAT_IMAGE, free_port, http_get, require, unique_name, wait_http};

/// Tomcat needs ~5-10 s (2 cores) to answer; give it room when the machine is busy.
const START: Duration = Duration::from_secs(120);

fn pod_yaml(name: &str, port: u16, read_only: bool, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: tomcat}}
spec:
  containers:
  - name: tomcat
    image: {TOMCAT_IMAGE}
    ports:
    - {{containerPort: 8080, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: {read_only}
{extra}"#
    )
}

#[test]
fn readonly_root_fails_with_erofs() {
    require!(TOMCAT_IMAGE);
    let name = unique_name("e2e-tomcat-ro");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, true, ""));
    let log = pod.wait_log("tomcat", "Server startup in", START);
    assert!(
        log.contains("java.io.FileNotFoundException: /var/lib/tomcat10/logs/catalina.")
            && log.contains(".log (Read-only file system)"),
        "expected the EROFS FileNotFoundException in:\n{log}"
    );
    let (status, body) = http_get(port, "/rofs-e2e.jsp").expect("GET /rofs-e2e.jsp");
    assert_eq!(
        status, 500,
        "a JSP cannot compile under a read-only root: {body}"
    );
}

#[test]
fn writable_root_serves() {
    require!(TOMCAT_IMAGE);
    let name = unique_name("e2e-tomcat-rw");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, false, ""));
    wait_http(port, "/", 200, START, Some((&pod, "tomcat")));
    let body = wait_http(
        port,
        "/rofs-e2e.jsp",
        200,
        Duration::from_secs(60),
        Some((&pod, "tomcat")),
    );
    assert!(body.contains("rofs-e2e-tomcat jsp ok 42"), "{body}");
    let log = pod.logs("tomcat");
    assert!(!log.contains("Read-only file system"), "{log}");
}
