//! Pod start time on the real kubelet, unpatched (writable root, no rofs) vs patched by
//! `rofs patch` (read-only root, seeded by the agent), side by side in one run. Not part of CI
//! (`#[ignore]`); run it with `benches/e2e/kube-start-time.sh`. The podman version:
//! tests/e2e/tests/start_time.rs (same apps, same pages, same arguments).
//!
//! One sample = a fresh pod: from `kubectl create` returning (the pod is stored) to the first
//! HTTP 200 on the app's page at the pod IP, polled every 50 ms. That covers scheduling,
//! the sandbox (pause container, CNI), for the patched pod `rofs-install` and `rofs-seed-<c>`,
//! and the app's own start. Unpatched and patched runs alternate, so drift on the machine hits
//! both alike; one warm-up pair per app is not counted.

use std::time::{Duration, Instant};

use rofs_cluster::{
    NGINX_IMAGE, NOSHELL_IMAGE, Namespace, TOMCAT_IMAGE, http_get, require_cluster, rofs_image,
    rofs_patch,
};

struct App {
    name: &'static str,
    image: &'static str,
    container: &'static str,
    port: u16,
    path: &'static str,
    args: &'static [&'static str],
}

const APPS: &[App] = &[
    App {
        name: "nginx",
        image: NGINX_IMAGE,
        container: "nginx",
        port: 80,
        path: "/rofs-e2e.txt",
        args: &["--profile", "nginx"],
    },
    App {
        name: "tomcat",
        image: TOMCAT_IMAGE,
        container: "tomcat",
        port: 8080,
        path: "/rofs-e2e.txt",
        args: &["--profile", "tomcat"],
    },
    App {
        name: "noshell",
        image: NOSHELL_IMAGE,
        container: "web",
        port: 8080,
        path: "/",
        args: &["--writable", "/srv/www"],
    },
];

fn manifest(app: &App, name: &str, read_only: bool) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  automountServiceAccountToken: false
  containers:
  - name: {c}
    image: {image}
    imagePullPolicy: Never
    ports: [{{containerPort: {port}}}]
    securityContext:
      readOnlyRootFilesystem: {read_only}
"#,
        c = app.container,
        image = app.image,
        port = app.port,
    )
}

fn sample(ns: &Namespace, app: &App, name: &str, yaml: &str) -> Duration {
    ns.kubectl_ok(&["create", "-f", "-"], Some(yaml));
    let start = Instant::now();
    let mut ip = None;
    loop {
        if ip.is_none() {
            let out = ns.kubectl(
                &["get", "pod", name, "-o", "jsonpath={.status.podIP}"],
                None,
            );
            let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !s.is_empty() {
                ip = Some(s);
            }
        }
        if let Some(ip) = &ip {
            if matches!(http_get(ip, app.port, app.path), Ok((200, _))) {
                let took = start.elapsed();
                ns.kubectl_ok(
                    &[
                        "delete",
                        "pod",
                        name,
                        "--grace-period=0",
                        "--force",
                        "--wait=false",
                    ],
                    None,
                );
                return took;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{name} did not serve in 300 s\n{}",
            ns.diagnose(name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: benches/e2e/kube-start-time.sh"]
fn report() {
    require_cluster!(NGINX_IMAGE, TOMCAT_IMAGE, NOSHELL_IMAGE, &rofs_image());
    let runs: usize = std::env::var("ROFS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("ROFS_BENCH_APPS").unwrap_or_default();
    let ns = Namespace::create("start-time", &[]);
    println!(
        "| app | unpatched, writable root (ms) | patched, read-only root, seeded (ms) | overhead |"
    );
    println!("|---|---|---|---|");
    let mut all = Vec::new();
    for app in APPS
        .iter()
        .filter(|a| only.is_empty() || only.split(',').any(|o| o == a.name))
    {
        let mut args = app.args.to_vec();
        let image = rofs_image();
        args.extend(["--agent-image", &image]);
        let (mut plain, mut patched) = (Vec::new(), Vec::new());
        for i in 0..=runs {
            let n1 = format!("{}-plain-{i}", app.name);
            let d1 = sample(&ns, app, &n1, &manifest(app, &n1, false));
            let n2 = format!("{}-patched-{i}", app.name);
            let d2 = sample(&ns, app, &n2, &rofs_patch(&args, &manifest(app, &n2, true)));
            if i > 0 {
                plain.push(d1);
                patched.push(d2);
            }
        }
        let (a, b) = (median(&plain), median(&patched));
        println!(
            "| {} | {} | {} | {:+} ms |",
            app.name,
            a.as_millis(),
            b.as_millis(),
            b.as_millis() as i64 - a.as_millis() as i64
        );
        all.push((app.name, plain, patched));
    }
    println!("\nAll runs (ms), unpatched / patched:");
    for (name, plain, patched) in all {
        let ms = |v: &[Duration]| {
            v.iter()
                .map(|d| d.as_millis().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("- {name}: {} / {}", ms(&plain), ms(&patched));
    }
}
