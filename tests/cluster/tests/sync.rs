//! Issue 11, item 3: the DEFAULT writable-ConfigMap output of `rofs patch` (native `rofs-sync`
//! sidecar, no `--kube-version`) on the kubelet: `kubectl apply` of a changed ConfigMap (what
//! a `helm upgrade` does), the kubelet's own AtomicWriter swaps the volume, `rofs sync`
//! updates the copy, nginx serves the new content and reloads its config on SIGHUP; an edit the
//! app made to its copy is kept (docs/sync.md, `--conflict app`, the default).
//! The podman version (hostPath + an imitation of the AtomicWriter, plain sidecar):
//! tests/e2e/tests/sync.rs.

use std::time::{Duration, Instant};

use rofs_cluster::{
    NGINX_IMAGE, Namespace, http_get, pod_ip, require_cluster, rofs_image, rofs_patch,
};

/// How long the kubelet may take to refresh a ConfigMap volume: its pod sync period
/// (`syncFrequency`, 10 s in scripts/kube-up.sh, 1 min by default) plus the ConfigMap watch.
const KUBELET_REFRESH: Duration = Duration::from_secs(120);

fn site_conf(version: &str) -> String {
    format!(
        "server {{\n    listen 8080;\n    root /etc/nginx/conf.d;\n    location = /version {{\n        default_type text/plain;\n        return 200 \"config {version}\\n\";\n    }}\n}}\n"
    )
}

/// The ConfigMap `site` as a chart would render it; `files` are (key, content).
fn config_map(files: &[(&str, &str)]) -> String {
    let mut y = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata:\n");
    for (k, v) in files {
        y.push_str(&format!("  {k}: |\n"));
        for l in v.lines() {
            y.push_str(&format!("    {l}\n"));
        }
    }
    y
}

fn pod_yaml() -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  automountServiceAccountToken: false
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    imagePullPolicy: Never
    ports: [{{containerPort: 8080}}]
    securityContext:
      readOnlyRootFilesystem: true
    volumeMounts:
    - {{name: site, mountPath: /etc/nginx/conf.d}}
  volumes:
  - name: site
    configMap: {{name: site}}
"#
    )
}

fn wait_body(ns: &Namespace, ip: &str, path: &str, want: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let last = http_get(ip, 8080, path);
        if matches!(&last, Ok((200, b)) if b == want) {
            return start.elapsed();
        }
        if start.elapsed() >= timeout {
            panic!(
                "GET {path}: wanted 200 {want:?}, last answer {last:?} after {timeout:?}\n--- rofs-sync ---\n{}\n{}",
                ns.logs("web", "rofs-sync"),
                ns.diagnose("web")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exec_ok(ns: &Namespace, c: &str, script: &str) -> String {
    let out = ns.exec("web", c, &["/bin/sh", "-c", script]);
    assert!(
        out.status.success(),
        "{script} in {c} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn default_output_syncs_a_changed_configmap() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let ns = Namespace::create("sync", &[]);
    let v1 = site_conf("v1");
    let cm1 = config_map(&[
        ("rofs-site.conf", &v1),
        ("index.html", "page v1\n"),
        ("notes.txt", "notes from the ConfigMap\n"),
        ("removed.txt", "removed in v2\n"),
    ]);
    // the default output: no --kube-version, so the native sidecar
    let patched = rofs_patch(
        &[
            "--profile",
            "nginx",
            "--agent-image",
            &rofs_image(),
            "--writable-volume",
            "site",
            "--reload",
            "signal:HUP:nginx",
        ],
        &pod_yaml(),
    );
    assert!(
        patched.contains("restartPolicy: Always"),
        "expected the native sidecar form:\n{patched}"
    );
    ns.apply(&cm1);
    ns.kubectl_ok(&["create", "-f", "-"], Some(&patched));
    let pod = ns.wait_ready("web", Duration::from_secs(120));
    let sidecar = rofs_cluster::container_status(&pod, "rofs-sync").expect("rofs-sync status");
    assert_eq!(
        sidecar["started"], true,
        "the native sidecar runs next to the app: {sidecar}"
    );
    let ip = pod_ip(&pod);
    let wait = Duration::from_secs(30);
    wait_body(&ns, &ip, "/index.html", "page v1\n", wait);
    wait_body(&ns, &ip, "/version", "config v1\n", wait);
    let copy = exec_ok(&ns, "nginx", "ls -lA /etc/nginx/conf.d/");
    assert!(
        copy.lines().skip(1).all(|l| l.starts_with('-')) && !copy.contains("..data"),
        "the copy must hold regular files only:\n{copy}"
    );
    exec_ok(
        &ns,
        "nginx",
        "echo 'edited by the app' > /etc/nginx/conf.d/notes.txt && \
         echo 'created by the app' > /etc/nginx/conf.d/app-own.txt",
    );
    wait_body(&ns, &ip, "/notes.txt", "edited by the app\n", wait);

    // `kubectl apply` of the changed ConfigMap: a page changed, a file added, one removed, a
    // config change that nginx applies on SIGHUP; notes.txt also changed in the source (a
    // conflict: the app's edit stays)
    let applied = Instant::now();
    ns.apply(&config_map(&[
        ("rofs-site.conf", &site_conf("v2")),
        ("index.html", "page v2\n"),
        ("notes.txt", "notes from the ConfigMap, v2\n"),
        ("added.txt", "added in v2\n"),
    ]));
    wait_body(&ns, &ip, "/index.html", "page v2\n", KUBELET_REFRESH);
    let latency = applied.elapsed();
    wait_body(&ns, &ip, "/added.txt", "added in v2\n", wait);
    wait_body(&ns, &ip, "/version", "config v2\n", wait);
    let reloaded = applied.elapsed();
    assert_eq!(http_get(&ip, 8080, "/removed.txt").map(|r| r.0), Ok(404));
    assert_eq!(
        http_get(&ip, 8080, "/notes.txt"),
        Ok((200, "edited by the app\n".to_string())),
        "the app's edit must be kept"
    );
    assert_eq!(
        http_get(&ip, 8080, "/app-own.txt"),
        Ok((200, "created by the app\n".to_string()))
    );
    let log = ns.logs("web", "rofs-sync");
    assert!(
        log.contains("notes.txt: conflict"),
        "the conflict must be logged:\n{log}"
    );
    for l in log.lines().filter(|l| l.contains(" from the event")) {
        eprintln!("rofs-sync: {l}");
    }
    eprintln!(
        "sync latency: kubectl apply -> new page served {latency:.1?}, -> new config after SIGHUP {reloaded:.1?} (kubelet syncFrequency 10s)"
    );
}
