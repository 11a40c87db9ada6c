//! Pod start time on the real kubelet, unpatched (writable root, no rofs) vs patched by
//! `rofs patch` (read-only root, seeded by the agent), side by side in one run. Not part of CI
//! (`#[ignore]`); run it with `benches/e2e/kube-start-time.sh`. The podman version:
//! tests/e2e/tests/start_time.rs (same apps, same pages, same arguments).
//!
//! One sample = a fresh pod: from `kubectl create` returning (the pod is stored) to the first
//! HTTP 200 on the app's page at the pod IP, polled every 50 ms. That covers scheduling,
//! the sandbox (pause container, CNI), for the patched pod `rofs-install` and `rofs-seed-<c>`,
//! and the app's own start. Unpatched and patched runs alternate, so drift on the machine hits
//! both alike; one warm-up round per app is not counted.
//!
//! The patched pod is measured once per `--agent-delivery` in `ROFS_BENCH_DELIVERY`
//! (comma-separated; default `install,image-volume`): with the install container, and with the
//! agent image as an image volume (no install container).

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
    let deliveries: Vec<String> = std::env::var("ROFS_BENCH_DELIVERY")
        .unwrap_or_else(|_| "install,image-volume".into())
        .split(',')
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect();
    let ns = Namespace::create("start-time", &[]);
    let mut head = "| app | unpatched, writable root (ms) |".to_string();
    let mut rule = "|---|---|".to_string();
    for d in &deliveries {
        head += &format!(" patched, `{d}` (ms) | overhead |");
        rule += "---|---|";
    }
    println!("{head}\n{rule}");
    let mut all = Vec::new();
    for app in APPS
        .iter()
        .filter(|a| only.is_empty() || only.split(',').any(|o| o == a.name))
    {
        let image = rofs_image();
        let mut plain = Vec::new();
        let mut patched = vec![Vec::new(); deliveries.len()];
        for i in 0..=runs {
            let n = format!("{}-plain-{i}", app.name);
            let d = sample(&ns, app, &n, &manifest(app, &n, false));
            if i > 0 {
                plain.push(d);
            }
            for (k, delivery) in deliveries.iter().enumerate() {
                let mut args = app.args.to_vec();
                args.extend(["--agent-image", &image, "--agent-delivery", delivery]);
                let n = format!("{}-{delivery}-{i}", app.name);
                let d = sample(&ns, app, &n, &rofs_patch(&args, &manifest(app, &n, true)));
                if i > 0 {
                    patched[k].push(d);
                }
            }
        }
        let a = median(&plain).as_millis() as i64;
        let mut row = format!("| {} | {a} |", app.name);
        for p in &patched {
            let b = median(p).as_millis() as i64;
            row += &format!(" {b} | {:+} ms |", b - a);
        }
        println!("{row}");
        all.push((app.name, plain, patched));
    }
    println!("\nAll runs (ms), unpatched / {}:", deliveries.join(" / "));
    for (name, plain, patched) in all {
        let ms = |v: &[Duration]| {
            v.iter()
                .map(|d| d.as_millis().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rest: Vec<String> = patched.iter().map(|p| ms(p)).collect();
        println!("- {name}: {} / {}", ms(&plain), rest.join(" / "));
    }
}
