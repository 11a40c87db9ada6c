//! The built-in profiles hold exactly the paths the applications need: each path is
//! removed in turn (the others are passed as `--writable` flags) and the patched pod then
//! fails. Paths that no failure here proves are documented where they are kept.

use std::time::Duration;

use rofs_e2e::{
    NGINX_IMAGE, PlayOptions, Pod, TOMCAT_IMAGE, free_port, http_get, require, rofs, rofs_image,
    rofs_patch, unique_name,
};

/// The profile's paths, from `rofs profiles` (the binary under test, not a copy).
fn profile_paths(profile: &str) -> Vec<String> {
    let out = rofs(&["profiles"], "");
    assert!(out.status.success(), "rofs profiles failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().skip_while(|l| l.trim() != profile);
    lines
        .find_map(|l| l.trim().strip_prefix("writable: "))
        .unwrap_or_else(|| panic!("profile {profile} not in:\n{text}"))
        .split(", ")
        .map(str::to_string)
        .collect()
}

/// Patches `input` with every path of `profile` except the one starting with `without`.
fn patch_without(profile: &str, without: &str, input: &str) -> String {
    let paths = profile_paths(profile);
    assert!(
        paths.iter().any(|p| p.split(':').next() == Some(without)),
        "{without} is not in profile {profile}: {paths:?} (update this test)"
    );
    let agent_image = rofs_image();
    let mut args = vec!["--agent-image", agent_image.as_str()];
    for p in paths
        .iter()
        .filter(|p| p.split(':').next() != Some(without))
    {
        args.extend(["--writable", p.as_str()]);
    }
    rofs_patch(&args, input)
}

const KEEP: PlayOptions = PlayOptions {
    keep_init_containers: true,
};

// ---------------------------------------------------------------------------------
// nginx: every path is needed at start; without one nginx exits 1 naming it.

fn nginx_without(path: &str, erofs_line: &str) {
    require!(NGINX_IMAGE, &rofs_image());
    let name = unique_name("e2e-prof-nginx");
    let input = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    ports:
    - {{containerPort: 80, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: true
"#,
        port = free_port()
    );
    let pod = Pod::try_play_with(&patch_without("nginx", path, &input), KEEP)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pod.wait_exit("nginx", Duration::from_secs(60)), 1);
    let log = pod.logs("nginx");
    assert!(
        log.contains(erofs_line),
        "expected {erofs_line:?} in:\n{log}"
    );
}

#[test]
fn nginx_needs_var_lib_nginx() {
    nginx_without(
        "/var/lib/nginx",
        r#"mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)"#,
    );
}

#[test]
fn nginx_needs_var_log_nginx() {
    nginx_without(
        "/var/log/nginx",
        r#"open() "/var/log/nginx/error.log" failed (30: Read-only file system)"#,
    );
}

#[test]
fn nginx_needs_run() {
    nginx_without(
        "/run",
        r#"open() "/run/nginx.pid" failed (30: Read-only file system)"#,
    );
}

// ---------------------------------------------------------------------------------
// Tomcat

fn tomcat_pod(path_removed: Option<&str>, image: &str) -> (Pod, u16) {
    let name = unique_name("e2e-prof-tomcat");
    let port = free_port();
    let input = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: tomcat
    image: {image}
    ports:
    - {{containerPort: 8080, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: true
"#
    );
    let patched = match path_removed {
        Some(path) => patch_without("tomcat", path, &input),
        None => rofs_patch(
            &["--profile", "tomcat", "--agent-image", &rofs_image()],
            &input,
        ),
    };
    let pod = Pod::try_play_with(&patched, KEEP).unwrap_or_else(|e| panic!("{e}"));
    pod.wait_log("tomcat", "Server startup in", Duration::from_secs(120));
    (pod, port)
}

fn get(port: u16, path: &str) -> (u16, String) {
    http_get(port, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Without /var/log/tomcat10 Tomcat serves, but its logs are lost: catalina.<date>.log
/// and the access log cannot be opened (EROFS, on stderr).
#[test]
fn tomcat_needs_var_log() {
    require!(TOMCAT_IMAGE, &rofs_image());
    let (pod, port) = tomcat_pod(Some("/var/log/tomcat10"), TOMCAT_IMAGE);
    assert_eq!(get(port, "/rofs-e2e.jsp").0, 200);
    let log = pod.logs("tomcat");
    for needle in [
        "java.io.FileNotFoundException: /var/lib/tomcat10/logs/catalina.",
        "Failed to open access log file [/var/lib/tomcat10/logs/localhost_access_log.",
        ".txt (Read-only file system)",
    ] {
        assert!(log.contains(needle), "expected {needle:?} in:\n{log}");
    }
}

/// Without /var/cache/tomcat10 (CATALINA_BASE/work) JSPs cannot be compiled: 500.
#[test]
fn tomcat_needs_var_cache() {
    require!(TOMCAT_IMAGE, &rofs_image());
    let (pod, port) = tomcat_pod(Some("/var/cache/tomcat10"), TOMCAT_IMAGE);
    let (status, body) = get(port, "/rofs-e2e.jsp");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("No output directory"), "{body}");
    let log = pod.logs("tomcat");
    let needle = "Unable to create output directory [/var/lib/tomcat10/work/Catalina/localhost/ROOT/org/apache/jsp/] required for JSP compilation";
    assert!(log.contains(needle), "expected {needle:?} in:\n{log}");
}

/// Without /tmp (java.io.tmpdir = CATALINA_TMPDIR) Tomcat starts and serves, but a webapp
/// that creates a temporary file (as upload libraries do) answers 500.
#[test]
fn tomcat_needs_tmp() {
    require!(TOMCAT_IMAGE, &rofs_image());
    let (_pod, port) = tomcat_pod(Some("/tmp"), crate::tomcat::war_image());
    assert_eq!(get(port, "/hello/index.jsp").0, 200);
    let (status, body) = get(port, "/hello/tmp.jsp");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Read-only file system"), "{body}");
}

/// Why the profile has no /var/lib/tomcat10/webapps (appBase) and no /etc/tomcat10/Catalina:
/// with the profile alone, a WAR in webapps/ cannot be expanded (unpackWARs) and Tomcat
/// logs SEVERE lines, but it deploys the WAR packed and serves it (JSPs, temp files), so
/// nothing fails. Seeding webapps would copy every WAR at each pod start for nothing.
#[test]
fn tomcat_profile_serves_a_war_unexpanded() {
    require!(TOMCAT_IMAGE, &rofs_image());
    let paths = profile_paths("tomcat");
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("/var/lib/tomcat10/webapps")),
        "{paths:?}"
    );
    let (pod, port) = tomcat_pod(None, crate::tomcat::war_image());
    let (status, body) = get(port, "/hello/index.jsp");
    assert_eq!((status, body.as_str()), (200, "rofs-e2e-war jsp ok 42\n"));
    let (status, body) = get(port, "/hello/tmp.jsp");
    assert_eq!((status, body.as_str()), (200, "rofs-e2e-war tmp ok\n"));
    assert_eq!(get(port, "/rofs-e2e.jsp").0, 200);
    let log = pod.logs("tomcat");
    for needle in [
        "Unable to create the directory [/var/lib/tomcat10/webapps/hello]",
        "Unable to create directory for deployment: [/etc/tomcat10/Catalina/localhost]",
    ] {
        assert!(log.contains(needle), "expected {needle:?} in:\n{log}");
    }
    assert!(!log.contains("Read-only file system"), "{log}");
}
