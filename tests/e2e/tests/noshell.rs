//! The "no shell" image (`localhost/rofs-e2e-noshell:dev`): one static server, no
//! `/bin/sh`, no `cp`. Only the rofs agent can seed it.

use std::time::Duration;

use rofs_e2e::{NOSHELL_IMAGE, Pod, free_port, require, unique_name, wait_http};

/// The server listens on 8080 (image CMD) and appends to /srv/www/hits.log.
fn pod_yaml(name: &str, port: u16, read_only: bool, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: web
    image: {NOSHELL_IMAGE}
    ports:
    - {{containerPort: 8080, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: {read_only}
{extra}"#
    )
}

#[test]
fn readonly_root_fails_with_erofs() {
    require!(NOSHELL_IMAGE);
    let name = unique_name("e2e-noshell-ro");
    let pod = Pod::play(&pod_yaml(&name, free_port(), true, ""));
    assert_eq!(pod.wait_exit("web", Duration::from_secs(30)), 1);
    let log = pod.logs("web");
    assert!(
        log.contains("cannot open log /srv/www/hits.log: Read-only file system (os error 30)"),
        "{log}"
    );
}

#[test]
fn writable_root_serves_and_has_no_shell() {
    require!(NOSHELL_IMAGE);
    let name = unique_name("e2e-noshell-rw");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, false, ""));
    let body = wait_http(port, "/", 200, Duration::from_secs(30), Some((&pod, "web")));
    assert!(body.contains("rofs-e2e-noshell ok"), "{body}");
    let hits = wait_http(port, "/hits.log", 200, Duration::from_secs(5), None);
    assert!(hits.starts_with("start pid="), "{hits}");
    for missing in ["/bin/sh", "/bin/cp", "/usr/bin/cp"] {
        let out = pod.exec("web", &[missing, "--help"]);
        assert!(
            !out.status.success(),
            "{missing} exists in the no-shell image"
        );
    }
}

/// An emptyDir over /srv/www without seeding: the server starts (the dir is writable) but
/// the image's index.html is hidden: 404. This is what seeding must fix.
#[test]
fn unseeded_emptydir_hides_the_site() {
    require!(NOSHELL_IMAGE);
    let name = unique_name("e2e-noshell-empty");
    let port = free_port();
    let extra = "    volumeMounts: [{name: www, mountPath: /srv/www}]\n  volumes:\n  - {name: www, emptyDir: {}}\n";
    let pod = Pod::play(&pod_yaml(&name, port, true, extra));
    wait_http(port, "/", 404, Duration::from_secs(30), Some((&pod, "web")));
    wait_http(port, "/hits.log", 200, Duration::from_secs(5), None);
}
