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

/// `rofs patch -w /srv/www` (agent seeder, the default): the injected static agent copies
/// the image's files into the emptyDir although the image has no shell and no `cp`; the
/// site is served and its log survives a restart.
#[test]
fn agent_seeded_serves_the_image_site() {
    let agent_image = rofs_e2e::rofs_image();
    require!(NOSHELL_IMAGE, &agent_image);
    let name = unique_name("e2e-noshell-agent");
    let port = free_port();
    let input =
        pod_yaml(&name, port, true, "").replace("restartPolicy: Never", "restartPolicy: OnFailure");
    let patched = rofs_e2e::rofs_patch(&["-w", "/srv/www", "--agent-image", &agent_image], &input);
    let opts = rofs_e2e::PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&patched, opts).unwrap_or_else(|e| panic!("{e}"));
    let body = wait_http(port, "/", 200, Duration::from_secs(30), Some((&pod, "web")));
    assert!(body.contains("rofs-e2e-noshell ok"), "{body}");
    let seed_log = pod.logs("rofs-seed-web");
    assert!(
        seed_log.contains("/srv/www -> ") && seed_log.contains(": done: "),
        "{seed_log}"
    );
    let ro = rofs_e2e::podman_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}}",
        &pod.container("web"),
    ]);
    assert_eq!(ro.trim(), "true");
    wait_http(port, "/before-restart", 404, Duration::from_secs(5), None);
    pod.restart("web");
    wait_http(port, "/", 200, Duration::from_secs(30), Some((&pod, "web")));
    let hits = wait_http(port, "/hits.log", 200, Duration::from_secs(5), None);
    assert!(
        hits.contains("/before-restart"),
        "hits.log lost across restart:\n{hits}"
    );
}

/// `--seeder shell` on the same image: `rofs patch` accepts it silently (exit 0, no
/// warning: it cannot know whether an image has a shell); the seed init container then
/// fails at start because the runtime cannot exec `/bin/sh` (podman 4.3: `kube play` exits
/// 125 with `runc create failed: unable to start container process: exec: "/bin/sh": stat
/// /bin/sh: no such file or directory`; Kubernetes: the init container's StartError with the
/// same message, pod `Init:RunContainerError`/`Init:CrashLoopBackOff`). The app never starts.
#[test]
fn shell_seeder_fails_clearly() {
    require!(NOSHELL_IMAGE);
    let name = unique_name("e2e-noshell-shell");
    let port = free_port();
    let input = pod_yaml(&name, port, true, "");
    let out = rofs_e2e::rofs(&["patch", "-w", "/srv/www", "--seeder", "shell"], &input);
    assert!(out.status.success(), "rofs patch refused --seeder shell");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patched = String::from_utf8(out.stdout).expect("UTF-8");
    let opts = rofs_e2e::PlayOptions {
        keep_init_containers: true,
    };
    let err = match Pod::try_play_with(&patched, opts) {
        Ok(pod) => panic!(
            "the shell seeder cannot work without /bin/sh; web log:\n{}",
            pod.logs("web")
        ),
        Err(e) => e,
    };
    // what `kubectl describe pod` shows as the init container's StartError, and podman here
    let needle = r#"exec: "/bin/sh": stat /bin/sh: no such file or directory"#;
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(err.contains("--- log of"), "{err}");
}
